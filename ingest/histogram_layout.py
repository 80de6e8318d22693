"""Native histograms from the remote-write wire layout to the lake's (absolute bucket indexes).

On the wire (``prometheus.Histogram``, ``io.prometheus.write.v2.Histogram``) each side's
buckets are *spans* — (offset, length) runs, the first offset absolute, later ones the gap
after the previous run — plus either delta-encoded integer counts or absolute float counts.
The lake keeps a bucket's absolute index next to its count (engine/histograms.py says why).
This module undoes the encoding for a whole request at once with numpy segment sums: no
Python loop per histogram or per bucket.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promlake.engine import histograms, start_ts


class HistogramLayoutError(ValueError):
    """Spans and buckets that do not describe a histogram (Prometheus refuses these too)."""


# ResetHint enum values on the wire (0 unknown, 1 yes, 2 no, 3 gauge) by the lake's names.
_HINT_NAMES = pa.array(histograms.RESET_HINTS)


def from_wire(wire: pa.Table) -> tuple[np.ndarray, pa.Table]:
    """(series index of each row, rows in ``histograms.WRITER_SCHEMA``) of decoded histograms."""
    n = wire.num_rows
    is_float = wire.column("is_float").to_numpy(zero_copy_only=False)
    hint = wire.column("reset_hint").to_numpy()
    if ((hint < 0) | (hint >= len(histograms.RESET_HINTS))).any():
        raise HistogramLayoutError(f"unknown counter reset hint {int(hint[(hint < 0) | (hint > 3)][0])}")
    st = wire.column("start_timestamp").to_numpy()
    cols: dict[str, pa.Array] = {
        "ts": wire.column("timestamp").combine_chunks(),
        start_ts.COLUMN: start_ts.to_arrow(st if (st != start_ts.UNKNOWN).any() else None, n),
        "counter_reset_hint": _HINT_NAMES.take(pa.array(hint)),
        "schema": wire.column("schema").combine_chunks(),
        "zero_threshold": wire.column("zero_threshold").combine_chunks(),
        "zero_count": pa.array(_pick(is_float, wire, "zero_count")),
        "count": pa.array(_pick(is_float, wire, "count")),
        "sum": wire.column("sum").combine_chunks(),
        "custom_values": wire.column("custom_values").combine_chunks(),
    }
    for side in ("positive", "negative"):
        index, counts = _side(wire, side, is_float)
        cols[f"{side}_index"], cols[f"{side}_count"] = index, counts
    rows = pa.table(
        {name: cols[name] for name in histograms.WRITER_SCHEMA.names}, schema=histograms.WRITER_SCHEMA
    )
    return wire.column("series").to_numpy(), rows


def _pick(is_float: np.ndarray, wire: pa.Table, name: str) -> np.ndarray:
    ints = wire.column(f"{name}_int").to_numpy().astype(np.float64)
    return np.where(is_float, wire.column(f"{name}_float").to_numpy(), ints)


def _side(wire: pa.Table, side: str, is_float: np.ndarray) -> tuple[pa.Array, pa.Array]:
    n = wire.num_rows
    spans = wire.column(f"{side}_spans").combine_chunks()
    flat_spans = pc.list_flatten(spans)
    offset = flat_spans.field("offset").to_numpy(zero_copy_only=False).astype(np.int64)
    length = flat_spans.field("length").to_numpy(zero_copy_only=False).astype(np.int64)
    span_row = pc.list_parent_indices(spans).to_numpy(zero_copy_only=False)
    # A later span's offset is a gap after the previous span: it cannot be negative.
    first_of_row = np.r_[True, span_row[1:] != span_row[:-1]] if len(span_row) else np.empty(0, bool)
    if (offset[~first_of_row] < 0).any():
        raise HistogramLayoutError(f"{side} side: span after the first has a negative offset")

    # Per row, float histograms carry absolute counts, integer ones deltas.
    deltas = wire.column(f"{side}_deltas").combine_chunks()
    floats = wire.column(f"{side}_counts").combine_chunks()
    n_deltas = pc.list_value_length(deltas).to_numpy(zero_copy_only=False)
    n_floats = pc.list_value_length(floats).to_numpy(zero_copy_only=False)
    n_buckets = np.where(is_float, n_floats, n_deltas)
    wanted = (
        np.bincount(span_row, weights=length, minlength=n).astype(np.int64) if n else np.zeros(0, np.int64)
    )
    bad = wanted != n_buckets
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise HistogramLayoutError(
            f"{side} side: spans need {wanted[i]} buckets, have {n_buckets[i]} buckets: "
            "histogram spans specify different number of buckets than provided"
        )

    # Absolute start of each span: its offset plus everything (offsets and lengths) before it
    # in its row, a cumulative sum restarted at every row.
    start = _segment_cumsum(offset + length, first_of_row) - length
    total = int(length.sum())
    first_bucket = np.cumsum(length) - length  # position of each span's first bucket
    index = np.repeat(start, length) + (np.arange(total) - np.repeat(first_bucket, length))
    if total and (index.min() < np.iinfo(np.int32).min or index.max() > np.iinfo(np.int32).max):
        raise HistogramLayoutError(f"{side} side: a bucket index does not fit in 32 bits")

    # Counts, row by row in the same order as the indexes: only rows of the kind they are.
    delta_values = pc.list_flatten(deltas).to_numpy(zero_copy_only=False)
    delta_rows = np.repeat(np.arange(n), n_deltas)
    float_values = pc.list_flatten(floats).to_numpy(zero_copy_only=False)
    float_rows = np.repeat(np.arange(n), n_floats)
    int_keep = ~is_float[delta_rows]
    int_counts = _segment_cumsum(delta_values[int_keep], _row_starts(delta_rows[int_keep]))
    counts = np.empty(total, np.float64)
    bucket_row = np.repeat(np.arange(n), n_buckets)
    counts[~is_float[bucket_row]] = int_counts.astype(np.float64)
    counts[is_float[bucket_row]] = float_values[is_float[float_rows]]

    offsets = pa.array(np.r_[0, np.cumsum(n_buckets)].astype(np.int32))
    return (
        pa.ListArray.from_arrays(offsets, pa.array(index.astype(np.int32))),
        pa.ListArray.from_arrays(offsets, pa.array(counts)),
    )


def _row_starts(rows: np.ndarray) -> np.ndarray:
    return np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.empty(0, bool)


def _segment_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sums of ``values`` restarting wherever ``starts`` is True."""
    if not len(values):
        return values.astype(np.int64)
    total = np.cumsum(values)
    before = total - values  # the sum of everything before each element
    base = np.maximum.accumulate(np.where(starts, np.arange(len(values)), 0))
    return total - before[base]
