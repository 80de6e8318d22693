"""OTLP exponential histogram points to native histogram rows, as Prometheus 3's OTLP receiver
converts them (``prometheusremotewrite/histograms.go``, ``exponentialToNativeHistogram``).

* the schema is the OTLP scale; a scale above 8 is reduced to 8, merging ``2^(scale - 8)``
  neighbouring buckets into one; a scale below -4 refuses the request;
* OTLP bucket ``offset + i`` covers ``(base^(offset+i), base^(offset+i+1)]``, Prometheus's bucket
  ``n`` covers ``(base^(n-1), base^n]``: a bucket's index is ``((offset + i) >> scale_down) + 1``
  (an arithmetic shift: floor division for negative indexes too). Both sides alike;
* ``count`` and ``zero_count`` as they are, ``sum`` when present (else 0), ``min``/``max`` not
  read; the start time is the sample's ``st``; counter reset hint ``unknown`` for cumulative
  points (``gauge`` for delta ones, which the receiver refuses today anyway);
* "no recorded value" points become stale markers (sum with the StaleNaN bits, count 0);
* a zero count with a non-zero sum is kept, with a warning, as upstream.

Rows are in ``engine.histograms.WRITER_SCHEMA`` with absolute bucket indexes (the lake's
layout); buckets whose (merged) count is 0 are left out. The whole request is converted
with numpy segment operations: no Python step per point or bucket.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from promlake.engine import histograms, start_ts

from .batch import FLAG_NO_RECORDED_VALUE, I64, TEMPORALITY_DELTA, ExpBuckets, OtlpBatch

# Prometheus's zero bucket width for converted points (upstream ignores zero_threshold so
# far; a wider threshold sent by the point is kept, see ``convert``).
DEFAULT_ZERO_THRESHOLD = 1e-128
STALE_NAN = np.array([0x7FF0000000000002], np.uint64).view(np.float64)[0]
_INT32 = (-(2**31), 2**31 - 1)


class ExpHistogramError(ValueError):
    """Points Prometheus refuses to convert (the request is refused as a whole)."""


def convert(batch: OtlpBatch, ts_ms: I64, st_ms: I64, warnings: list[str]) -> pa.Table:
    """Rows (``histograms.WRITER_SCHEMA``), one per point of ``batch.exp_histograms`` in order;
    warnings are appended to ``warnings``. ``ts_ms``/``st_ms``: the points' times in ms (``st``
    0 = unknown)."""
    e = batch.exp_histograms
    n = len(e)
    scale = batch.exp_scale
    if n and (scale < histograms.MIN_SCHEMA).any():
        bad = int(scale[np.flatnonzero(scale < histograms.MIN_SCHEMA)[0]])
        raise ExpHistogramError(
            "cannot convert exponential to native histogram. "
            f"Scale must be >= {histograms.MIN_SCHEMA}, was {bad}"
        )
    scale_down = np.clip(scale - histograms.MAX_SCHEMA, 0, 63)
    stale = (e.flags & np.uint64(FLAG_NO_RECORDED_VALUE)) != 0
    total = np.where(e.has_sum, e.value, 0.0)
    count = e.count.astype(np.float64)
    odd = np.unique(total[(e.count == 0) & (total != 0) & ~stale])  # a step per distinct sum
    warnings += [
        f"exponential histogram data point has zero count, but non-zero sum: {_go_f(x)}" for x in odd.tolist()
    ]
    delta = batch.metric_temporality[e.metric] == TEMPORALITY_DELTA if n else np.zeros(0, np.bool_)
    hint = pa.array(["unknown", "gauge"], pa.string()).take(pa.array(delta.astype(np.int64)))
    cols: dict[str, pa.Array] = {
        "ts": pa.array(ts_ms, pa.int64()),
        start_ts.COLUMN: start_ts.to_arrow(st_ms if (st_ms != start_ts.UNKNOWN).any() else None, n),
        "counter_reset_hint": hint,
        "schema": pa.array(np.minimum(scale, histograms.MAX_SCHEMA).astype(np.int32)),
        # NaN and negative thresholds fall back to the default.
        "zero_threshold": pa.array(np.fmax(batch.exp_zero_threshold, DEFAULT_ZERO_THRESHOLD)),
        "zero_count": pa.array(batch.exp_zero_count.astype(np.float64)),
        "count": pa.array(np.where(stale, 0.0, count)),
        "sum": pa.array(np.where(stale, STALE_NAN, total)),
        "custom_values": _empty_lists(n, pa.float64()),
    }
    for name, side in (("positive", batch.exp_positive), ("negative", batch.exp_negative)):
        cols[f"{name}_index"], cols[f"{name}_count"] = _side(side, scale_down, n, name)
    table = pa.table({k: cols[k] for k in histograms.WRITER_SCHEMA.names}, schema=histograms.WRITER_SCHEMA)
    return table


def _side(b: ExpBuckets, scale_down: I64, n: int, name: str) -> tuple[pa.Array, pa.Array]:
    """Absolute Prometheus bucket indexes and counts per point (list arrays of length n)."""
    pt = b.point
    if not pt.size:
        return _empty_lists(n, pa.int32()), _empty_lists(n, pa.float64())
    # Bucket i of its point (buckets of a point are contiguous and in order).
    per_point = np.bincount(pt, minlength=n)
    first = np.cumsum(per_point) - per_point
    otlp_index = b.offset[pt] + (np.arange(pt.size) - first[pt])
    index = (otlp_index >> scale_down[pt]) + 1
    if index.min() < _INT32[0] or index.max() > _INT32[1]:
        raise ExpHistogramError(f"{name} bucket index out of range (offset {int(b.offset[pt][0])})")
    # Merged buckets: runs of one point with one index (indexes never decrease in a point).
    starts = np.flatnonzero(np.r_[True, (pt[1:] != pt[:-1]) | (index[1:] != index[:-1])])
    merged = np.add.reduceat(b.count, starts)
    keep = merged != 0
    m_point, m_index, m_count = pt[starts][keep], index[starts][keep], merged[keep]
    offsets = pa.array(np.r_[0, np.cumsum(np.bincount(m_point, minlength=n))].astype(np.int32))
    return (
        pa.ListArray.from_arrays(offsets, pa.array(m_index.astype(np.int32))),
        pa.ListArray.from_arrays(offsets, pa.array(m_count.astype(np.float64))),
    )


def _go_f(x: float) -> str:
    """Go's ``%f``."""
    return f"{x:f}" if math.isfinite(x) else ("NaN" if math.isnan(x) else ("+Inf" if x > 0 else "-Inf"))


def _empty_lists(n: int, typ: pa.DataType) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], typ))
