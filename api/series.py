"""Series selection for the metadata endpoints: ``match[]`` selectors, time ranges, label sets.

``match[]`` values are parsed as metric selectors (upstream's ``ParseMetricSelector``: a
name and/or braces, nothing else), matched against the lake's series index, and restricted
to series with samples in ``[start, end]`` when a range is given, using the per-block
min/max times of the catalog's ``series`` view. All work is on Arrow/numpy arrays.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot.expressions as exp

from promlake.api import encode
from promlake.api.envelope import bad_data, invalid_param
from promlake.api.params import MAX_TIME_MS, MIN_TIME_MS
from promlake.engine import Lake
from promlake.engine.catalog import connect
from promlake.engine.matchers import LabelMatcher, MatcherError, compile_matcher, matches_empty
from promlake.engine.tombstones import deleted_series
from promlake.promql2sql.ast import Matcher
from promlake.promql2sql.errors import ParseError
from promlake.promql2sql.parse_base import ParserOptions, _Stop
from promlake.promql2sql.parser import _ExprParser
from promlake.promql2sql.tokens import Tok

MatcherSet = list[LabelMatcher]
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def parse_metric_selector(text: str) -> list[Matcher]:
    """``parser.ParseMetricSelector``: ``name{...}``, ``name`` or ``{...}``, else a parse error."""
    p = _ExprParser(text, ParserOptions())
    try:
        tok = p.peek()
        if tok.kind is Tok.LEFT_BRACE:
            selector = p.vector_selector(None)
        elif tok.kind not in (Tok.NUMBER, Tok.DURATION, Tok.STRING) and _NAME.fullmatch(tok.val):
            selector = p.vector_selector(p.advance())
        else:
            p.unexpected()
        if p.peek().kind is not Tok.EOF:
            p.unexpected()
    except _Stop:
        raise p.first_error() from None
    if p.errors:
        raise p.first_error()
    return list(selector.matchers)


def parse_match_param(values: Sequence[str], param: str | None) -> list[MatcherSet]:
    """``parseMatchersParam``; ``param`` names the parameter in errors (series does, labels not)."""
    sets: list[MatcherSet] = []
    for text in values:
        try:
            matchers = [compile_matcher(m.name, m.op, m.value) for m in parse_metric_selector(text)]
        except (ParseError, MatcherError) as exc:
            raise (invalid_param(param, str(exc)) if param else bad_data(str(exc))) from None
        if all(matches_empty(m) for m in matchers):
            message = "match[] must contain at least one non-empty matcher"
            raise invalid_param(param, message) if param else bad_data(message)
        sets.append(matchers)
    return sets


class SeriesReader:
    """Answers "which series, which label names, which values" over one lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    # --- selection ---------------------------------------------------------------------------
    def active_ids(self, start: int, end: int) -> np.ndarray | None:
        """Ids of series with samples in ``[start, end]``; None for the whole time range."""
        if start <= MIN_TIME_MS and end >= MAX_TIME_MS:
            return None
        snap = self.lake.snapshot().overlapping(start, end)
        query = (
            exp.select("series_id")
            .distinct()
            .from_("series")
            .where(exp.LTE(this=exp.column("min_ts"), expression=exp.Literal.number(end)))
            .where(exp.GTE(this=exp.column("max_ts"), expression=exp.Literal.number(start)))
        )
        con = connect(snap, sandbox=False)
        try:
            ids = con.sql(query.sql("duckdb")).fetchnumpy()["series_id"]
        finally:
            con.close()
        return np.sort(np.asarray(ids, dtype=np.int64))

    def select(self, sets: Sequence[MatcherSet], start: int, end: int) -> np.ndarray | None:
        """Sorted ids matching any of ``sets`` with data in the range; None means "all series"."""
        ids: np.ndarray | None = None
        if sets:
            ids = np.unique(np.concatenate([self.lake.index.select(s) for s in sets]))
        active = self.active_ids(start, end)
        if active is None:
            # The index still knows series whose samples delete_series removed (the catalog's
            # series view, which active_ids reads, already leaves them out).
            gone = deleted_series(self.lake.snapshot(), start, end)
            if len(gone):
                return np.setdiff1d(self.lake.index.sids if ids is None else ids, gone)
            return ids
        return active if ids is None else np.intersect1d(ids, active, assume_unique=True)

    def _rows(self, ids: np.ndarray | None) -> pa.Table:
        """Label rows (series_id, name, value; dictionary-encoded) of ``ids`` (None: all)."""
        table = self.lake.index.labels()
        if ids is None:
            return table
        return table.filter(pc.is_in(table["series_id"], value_set=pa.array(ids, pa.int64())))

    # --- answers -----------------------------------------------------------------------------
    def label_names(self, sets: Sequence[MatcherSet], start: int, end: int) -> list[str]:
        rows = self._rows(self.select(sets, start, end))
        return sorted(_distinct(rows["name"]))

    def label_values(self, name: str, sets: Sequence[MatcherSet], start: int, end: int) -> list[str]:
        table = self.lake.index.labels()
        rows = table.filter(_equal(table["name"], name))
        ids = self.select(sets, start, end)
        if ids is not None:
            rows = rows.filter(pc.is_in(rows["series_id"], value_set=pa.array(ids, pa.int64())))
        return sorted(_distinct(rows["value"]))

    def series_json(self, sets: Sequence[MatcherSet], start: int, end: int, limit: int) -> tuple[bytes, bool]:
        """The JSON list of label sets, sorted as label sets compare; truncated to ``limit``."""
        ids = self.select(sets, start, end)
        rows = self._rows(ids)
        sids = rows["series_id"].to_numpy()
        uniq, owner = np.unique(sids, return_inverse=True)
        n = len(uniq)
        if n == 0:
            return b"[]", False
        order = label_set_order(owner, rows["name"], rows["value"], n)
        truncated = 0 < limit < n
        if truncated:
            order = order[:limit]
        # Number the kept series by output position; only their label rows are encoded.
        position = np.full(n, -1, np.int64)
        position[order] = np.arange(len(order))
        row_pos = position[owner]
        kept = pa.array(row_pos >= 0)
        objects = encode.label_objects(
            row_pos[row_pos >= 0], rows["name"].filter(kept), rows["value"].filter(kept), len(order)
        )
        return b"[" + encode.join_all(objects) + b"]", truncated


def _distinct(column: pa.ChunkedArray) -> list[str]:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return [str(x) for x in pc.unique(column).to_pylist()]


def _equal(column: pa.ChunkedArray, value: str) -> pa.ChunkedArray:
    """``column == value``; dictionary chunks are compared by code."""
    if not pa.types.is_dictionary(column.type):
        return pc.equal(column, value)
    masks = []
    for chunk in column.chunks:
        code = pc.index(chunk.dictionary, value).as_py()
        masks.append(pc.equal(chunk.indices, code) if code >= 0 else pa.array(np.zeros(len(chunk), bool)))
    return pa.chunked_array(masks, pa.bool_())


def label_set_order(owner: np.ndarray, names: pa.ChunkedArray, values: pa.ChunkedArray, n: int) -> np.ndarray:
    """Object order of ``labels.Compare``: name by name, then value, shorter sets first.

    Each set becomes one sort key ``name\\0value\\0name\\0value\\0...`` (labels in name order);
    NUL sorts below every other byte, so byte order of the keys is Compare's order.
    """
    names_s = encode._strings(names)
    values_s = encode._strings(values)
    order = pc.sort_indices(pa.table({"o": owner, "n": names_s}), [("o", "ascending"), ("n", "ascending")])
    pairs = pc.binary_join_element_wise(names_s.take(order), values_s.take(order), encode.lit("\x00"))
    counts = np.bincount(owner, minlength=n)
    keys = encode.join_groups(pairs, counts, "\x00")
    return np.asarray(pc.sort_indices(keys))
