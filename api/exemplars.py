"""/api/v1/query_exemplars: stored exemplars of the series a query's selectors pick.

The answer is ``[{"seriesLabels":{...},"exemplars":[{"labels":{...},"value":"v","timestamp":t}]}]``
(``web/api/v1`` ``marshalExemplarJSON``), exemplars in time order per series.

The engine has no exemplar reader yet, so ``read_exemplars`` reads what the lake format
documents: each block's ``exemplars/`` Parquet file plus the head generations' exemplars
(taken under the lake's write lock together with the snapshot, so a concurrent flush neither
hides nor repeats any). It belongs in ``engine/`` once the engine grows such a reader.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from promlake.api import encode
from promlake.api.series import label_set_order
from promlake.engine import Lake
from promlake.engine.blocks import EXEMPLARS_SCHEMA
from promlake.engine.matchers import compile_matcher
from promlake.promql2sql.ast import VectorSelector


def read_exemplars(lake: Lake, mint: int, maxt: int) -> pa.Table:
    """Every stored exemplar with ``mint <= ts <= maxt``: (series_id, ts, value, labels MAP)."""
    with lake._write_lock:
        snap = lake.snapshot().overlapping(mint, maxt)
        heads = [g.exemplar_table() for g in [*lake.flushing, lake.head]]
    parts = [EXEMPLARS_SCHEMA.empty_table(), *heads]
    for block in snap.blocks:
        path = block.path(snap.root, "exemplars")
        try:
            parts.append(
                pq.read_table(path, filters=[("ts", ">=", mint), ("ts", "<=", maxt)]).cast(EXEMPLARS_SCHEMA)
            )
        except FileNotFoundError:
            continue  # no exemplars in this block, or compacted away since the snapshot
    table = pa.concat_tables([p.cast(EXEMPLARS_SCHEMA) for p in parts])
    ts = table["ts"]
    return table.filter(pc.and_(pc.greater_equal(ts, mint), pc.less_equal(ts, maxt)))


def query_exemplars(lake: Lake, selectors: Sequence[VectorSelector], mint: int, maxt: int) -> bytes:
    """The JSON ``data`` list for the series any of ``selectors`` matches, in label-set order."""
    sets = [[compile_matcher(m.name, m.op, m.value) for m in s.matchers] for s in selectors]
    ids = np.unique(np.concatenate([lake.index.select(s) for s in sets])) if sets else np.empty(0, np.int64)
    table = read_exemplars(lake, mint, maxt)
    table = table.filter(pc.is_in(table["series_id"], value_set=pa.array(ids, pa.int64())))
    if table.num_rows == 0:
        return b"[]"
    # The same exemplar may sit in a block and in a re-sent head entry: keep one.
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    keys = (
        frame.select("series_id", "ts", "value")
        .with_row_index("row")
        .unique(["series_id", "ts", "value"], keep="first")
    )
    rows = keys.sort(["series_id", "ts"])["row"].to_numpy()
    table = table.take(pa.array(rows))
    sids = table["series_id"].to_numpy()
    uniq, counts = np.unique(sids, return_counts=True)
    long = lake.index.labels_of(uniq)
    owner = np.searchsorted(uniq, long["series_id"].to_numpy())
    series_labels = encode.label_objects(owner, long["name"], long["value"], len(uniq))
    # Series in label-set order, each with its exemplars in time order.
    order = label_set_order(owner, long["name"], long["value"], len(uniq))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    rows = np.argsort(rank[np.searchsorted(uniq, sids)], kind="stable")
    table, counts, series_labels = (
        table.take(pa.array(rows)),
        counts[order],
        series_labels.take(pa.array(order)),
    )
    items = pc.binary_join_element_wise(
        encode.lit('{"labels":'), encode.map_objects(table["labels"]),
        encode.lit(',"value":"'), encode.floats(table["value"].to_numpy()),
        encode.lit('","timestamp":'), encode.timestamps(table["ts"].to_numpy()),
        encode.lit("}"), encode.lit(""),
    )  # fmt: skip
    objects = pc.binary_join_element_wise(
        encode.lit('{"seriesLabels":'), series_labels,
        encode.lit(',"exemplars":['), encode.join_groups(items, counts, ","),
        encode.lit("]}"), encode.lit(""),
    )  # fmt: skip
    return b"[" + encode.join_all(objects) + b"]"
