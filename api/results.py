"""A ``QueryResult`` as the ``data`` object of /api/v1/query and /api/v1/query_range.

``{"resultType": ..., "result": ...}`` with Prometheus's shapes (``web/api/v1/json_codec.go``):
a vector is ``[{"metric":{...},"value":[t,"v"]}]``, a matrix ``[{"metric":{...},"values":[[t,"v"],...]}]``
(series without points left out), a scalar ``[t,"v"]``, a string ``[t,"s"]``. A range query of
a scalar expression is a matrix with one series and no labels, as upstream answers it.

Series come in the order of the result's ``series`` table (the engine's: by label set, or by
value after ``sort()``); all points are formatted and joined by Arrow kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promlake.api import encode
from promlake.promql2sql.gostr import format_float_f
from promlake.promql2sql.result import QueryResult
from promlake.promql2sql.signatures import ValueType


@dataclass(frozen=True)
class Grid:
    """The evaluation steps of a range query (timestamps are formatted once per step)."""

    start: int
    step: int


def encode_result(res: QueryResult, *, grid: Grid | None, limit: int = 0) -> tuple[bytes, bool]:
    """(``resultType``/``result`` members as JSON, whether ``limit`` cut series)."""
    if res.type is ValueType.STRING:
        at = int(res.points.column("t")[0].as_py()) if res.points.num_rows else 0
        body = f'"resultType":"string","result":[{encode.json_number(at / 1000)},{encode.json_string(res.string or "")}]'
        return body.encode(), False
    if res.type is ValueType.SCALAR and grid is None:
        times = res.points.column("t").to_numpy()
        vals = res.points.column("v").to_numpy()
        value = format_float_f(float(vals[-1])) if len(vals) else "0"
        at_text = encode.json_number(int(times[-1]) / 1000) if len(times) else "0"
        return f'"resultType":"scalar","result":[{at_text},"{value}"]'.encode(), False
    if res.type is ValueType.SCALAR:
        labels = pa.array(["{}"], encode.LARGE)
        counts = np.array([res.points.num_rows])
        t, v = res.points.column("t").to_numpy(), res.points.column("v").to_numpy()
        kind = "matrix"
    else:
        labels, counts, t, v = _ordered(res)
        kind = "vector" if res.type is ValueType.VECTOR else "matrix"
    if kind == "vector" and (counts != 1).any():  # one sample per series, whatever the engine gave
        first = np.concatenate(([0], np.cumsum(counts)[:-1]))
        t, v, counts = t[first], v[first], np.ones(len(counts), np.int64)
    truncated = 0 < limit < len(counts)
    if truncated:
        counts = counts[:limit]
        labels = labels.slice(0, limit)
        t, v = t[: counts.sum()], v[: counts.sum()]
    ts = encode.timestamps_on_grid(t, grid.start, grid.step) if grid is not None else encode.timestamps(t)
    if kind == "vector":
        # One point per series: the instant query's evaluation time.
        objects = pc.binary_join_element_wise(
            *(encode.lit('{"metric":'), labels, encode.lit(',"value":['), ts, encode.lit(',"')),
            *(encode.floats(v), encode.lit('"]}'), encode.lit("")),
        )
        result = encode.join_all(objects)
    else:
        result = _matrix(labels, counts, ts, v)
    body = b'"resultType":"' + kind.encode() + b'","result":[' + result + b"]"
    return body, truncated


def _matrix(labels: pa.Array, counts: np.ndarray, ts: pa.Array, v: np.ndarray) -> bytes:
    """The series objects, built in one element-wise pass over the points.

    Each point gets a prefix: "," inside a series; at a series' first point, the end of the
    previous object and the head of its own (``]},{"metric":{...},"values":[``). The prefixed
    points back to back are then the whole list but its final ``]}``.
    """
    keep = counts > 0
    if not keep.all():
        labels, counts = labels.filter(pa.array(keep)), counts[keep]
    n = len(counts)
    if n == 0:
        return b""
    opening = pa.array(['{"metric":', ']},{"metric":'], encode.LARGE).take(
        pa.array(np.minimum(np.arange(n), 1))
    )
    heads = pc.binary_join_element_wise(opening, labels, encode.lit(',"values":['), encode.lit(""))
    choice = np.zeros(int(counts.sum()), np.int64)
    choice[np.concatenate(([0], np.cumsum(counts)[:-1]))] = np.arange(1, n + 1)
    prefix = pa.concat_arrays([pa.array([","], encode.LARGE), heads]).take(pa.array(choice))
    points = pc.binary_join_element_wise(
        *(prefix, encode.lit("["), ts, encode.lit(',"'), encode.floats(v), encode.lit('"]')), encode.lit("")
    )
    return encode.concat(points) + b"]}"


def _ordered(res: QueryResult) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """(label objects, points per series, t, v) for the series that have points, in result order."""
    series = res.series
    sid = series.column("series").to_numpy().astype(np.int64)
    p_series = res.points.column("series").to_numpy().astype(np.int64)
    t = res.points.column("t").to_numpy()
    v = res.points.column("v").to_numpy()
    n = len(sid)
    if n == 0 or len(p_series) == 0:
        return pa.array([], encode.LARGE), np.zeros(0, np.int64), t[:0], v[:0]
    rank = np.full(int(max(sid.max(), p_series.max())) + 1, -1, np.int64)
    rank[sid] = np.arange(n)
    pr = rank[p_series]
    if (pr < 0).any():  # points of a series the table does not name: nothing to label them with
        keep = pr >= 0
        pr, t, v = pr[keep], t[keep], v[keep]
    if len(pr) > 1 and not _sorted(pr, t):
        order = np.lexsort((t, pr))
        pr, t, v = pr[order], t[order], v[order]
    counts = np.bincount(pr, minlength=n)
    present = np.flatnonzero(counts)
    labels = encode.map_objects(series.column("labels").take(pa.array(present)))
    return labels, counts[present], t, v


def _sorted(pr: np.ndarray, t: np.ndarray) -> bool:
    """Whether points are already grouped by series rank, in time order within a series."""
    dp = np.diff(pr)
    return bool((dp >= 0).all() and (np.diff(t)[dp == 0] >= 0).all())
