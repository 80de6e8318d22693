"""Encoders from the columnar form (``WriteBatch``) to remote-write protobuf bodies.

Used as a client by tests, benchmarks and integration tests. Output is canonical proto3 as
Go and the ``protobuf`` package write it: fields in number order, zero scalars and empty
strings omitted, repeated scalars packed. Not snappy-compressed (that is the caller's job).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ._encode_wire import Bin, Message, fixed64, from_strings, varints
from .batch import METRIC_TYPES, WriteBatch

I64 = NDArray[np.int64]


def _order(parent: NDArray[np.integer]) -> I64 | None:
    """A stable permutation that sorts children by parent, or None if already sorted."""
    p = np.asarray(parent)
    if p.size < 2 or (p[1:] >= p[:-1]).all():
        return None
    return np.argsort(p, kind="stable")


def _np(x: NDArray[Any], o: I64 | None) -> NDArray[Any]:
    return x if o is None else x[o]


def _pa(x: pa.Array, o: I64 | None) -> pa.Array:
    return x if o is None else x.take(pa.array(o))


def _u64(a: NDArray[np.integer]) -> NDArray[np.uint64]:
    return np.ascontiguousarray(a, np.int64).view(np.uint64)


def _labels_v1(names: pa.Array, values: pa.Array) -> Bin:
    m = Message(len(names))
    m.bytes(1, from_strings(names))
    m.bytes(2, from_strings(values))
    return m.build()


def _type_codes(types: pa.Array) -> NDArray[np.uint64]:
    idx = pc.index_in(types, value_set=pa.array(METRIC_TYPES, pa.string()))
    return idx.fill_null(0).to_numpy(zero_copy_only=False).astype(np.uint64)


def _histograms(t: pa.Table, v2: bool) -> tuple[Bin, I64]:
    """Histogram messages (sorted by series) and the series of each."""
    o = _order(t["series"].to_numpy())
    if o is not None:
        t = t.take(pa.array(o))
    n = t.num_rows

    def col(name: str) -> NDArray[Any]:
        return t[name].to_numpy()

    def lists(name: str) -> tuple[pa.Array, I64]:
        arr = t[name].combine_chunks()
        off = arr.offsets.to_numpy().astype(np.int64)
        parent = np.repeat(np.arange(n, dtype=np.int64), np.diff(off))
        return arr.flatten(), parent

    def spans(name: str) -> tuple[Bin, I64]:
        flat, parent = lists(name)
        sm = Message(len(flat))
        sm.sint(1, flat.field("offset").to_numpy())
        sm.varint(2, flat.field("length").to_numpy().astype(np.uint64))
        return sm.build(), parent

    is_float = col("is_float")
    fl, it = np.flatnonzero(is_float), np.flatnonzero(~is_float)
    m = Message(n)
    # The count and zero_count oneofs: Prometheus always sets the member matching the kind.
    m.varint(1, col("count_int"), rows=it)
    m.double(2, col("count_float"), rows=fl)
    m.double(3, col("sum"))
    m.sint(4, col("schema"))
    m.double(5, col("zero_threshold"))
    # The decoded table zeroes the unset zero_count member; send the one that holds a value,
    # else the one matching the histogram kind.
    zf = (col("zero_count_float").view(np.uint64) != 0) | (is_float & (col("zero_count_int") == 0))
    m.varint(6, col("zero_count_int"), rows=np.flatnonzero(~zf))
    m.double(7, col("zero_count_float"), rows=np.flatnonzero(zf))
    for side, (s_no, d_no, c_no) in {"negative": (8, 9, 10), "positive": (11, 12, 13)}.items():
        m.repeated(s_no, *spans(f"{side}_spans"))
        d, dp = lists(f"{side}_deltas")
        dv = d.to_numpy().astype(np.int64)
        m.packed(d_no, varints(((dv << 1) ^ (dv >> 63)).view(np.uint64)), dp)
        c, cp = lists(f"{side}_counts")
        m.packed(c_no, fixed64(c.to_numpy().astype(np.float64).view(np.uint64)), cp)
    m.varint(14, col("reset_hint").astype(np.int64).view(np.uint64))
    m.varint(15, _u64(col("timestamp")))
    cv, cvp = lists("custom_values")
    m.packed(16, fixed64(cv.to_numpy().astype(np.float64).view(np.uint64)), cvp)
    if v2:
        m.varint(17, _u64(col("start_timestamp")))
    return m.build(), col("series").astype(np.int64)


def encode_write_request_v1(batch: WriteBatch) -> bytes:
    """``prometheus.WriteRequest`` bytes for the batch (``sample_start_ts`` has no v1 field;
    metadata rows are sent as MetricMetadata, their ``series`` is ignored)."""
    n = batch.n_series
    ts = Message(n)
    o = _order(batch.label_series)
    labels = _labels_v1(_pa(batch.label_names, o), _pa(batch.label_values, o))
    ts.repeated(1, labels, _np(batch.label_series, o).astype(np.int64))
    o = _order(batch.sample_series)
    sm = Message(batch.sample_ts.size)
    sm.double(1, _np(batch.sample_values, o))
    sm.varint(2, _u64(_np(batch.sample_ts, o)))
    ts.repeated(2, sm.build(), _np(batch.sample_series, o).astype(np.int64))
    ts.repeated(3, *_exemplars(batch, v2=False, symbols=None))
    if batch.histograms.num_rows:
        ts.repeated(4, *_histograms(batch.histograms, v2=False))
    top = Message(1)
    top.repeated(1, ts.build(), np.zeros(n, np.int64))
    md = batch.metadata
    if md.num_rows:
        mm = Message(md.num_rows)
        mm.varint(1, _type_codes(md["type"].combine_chunks()))
        for no, name in ((2, "metric_family_name"), (4, "help"), (5, "unit")):
            mm.bytes(no, from_strings(md[name].combine_chunks()))
        top.repeated(3, mm.build(), np.zeros(md.num_rows, np.int64))
    return top.build().tobytes()


def _exemplars(batch: WriteBatch, v2: bool, symbols: pa.Array | None) -> tuple[Bin, I64]:
    k = batch.exemplar_ts.size
    o = _order(batch.exemplar_label_exemplar)
    names = _pa(batch.exemplar_label_names, o)
    values = _pa(batch.exemplar_label_values, o)
    owner = _np(batch.exemplar_label_exemplar, o).astype(np.int64)
    # Exemplars themselves must be grouped by series: reorder, and renumber their labels.
    oe = _order(batch.exemplar_series)
    if oe is not None:
        rank = np.empty(k, np.int64)
        rank[oe] = np.arange(k)
        owner = rank[owner]
        ol = np.argsort(owner, kind="stable")
        names, values, owner = _pa(names, ol), _pa(values, ol), owner[ol]
    m = Message(k)
    if v2:
        assert symbols is not None
        m.packed(1, varints(_pairs(names, values, symbols)), np.repeat(owner, 2))
    else:
        m.repeated(1, _labels_v1(names, values), owner)
    m.double(2, _np(batch.exemplar_values, oe))
    m.varint(3, _u64(_np(batch.exemplar_ts, oe)))
    return m.build(), _np(batch.exemplar_series, oe).astype(np.int64)


def _refs(arr: pa.Array, symbols: pa.Array) -> NDArray[np.uint64]:
    return pc.index_in(arr, value_set=symbols).to_numpy(zero_copy_only=False).astype(np.uint64)


def _pairs(names: pa.Array, values: pa.Array, symbols: pa.Array) -> NDArray[np.uint64]:
    out = np.empty(2 * len(names), np.uint64)
    out[0::2] = _refs(names, symbols)
    out[1::2] = _refs(values, symbols)
    return out


def encode_write_request_v2(batch: WriteBatch) -> bytes:
    """``io.prometheus.write.v2.Request`` bytes for the batch.

    The symbols table starts with "" and holds each distinct string once, in first-use order.
    Metadata rows with a ``series`` become that series' metadata (the last row wins); rows
    without one have nowhere to go in v2 and are dropped.
    """
    n = batch.n_series
    md = batch.metadata.filter(pc.is_valid(batch.metadata["series"]))
    if md.num_rows:
        last = np.unique(md["series"].to_numpy()[::-1], return_index=True)[1]
        md = md.take(pa.array(np.sort(md.num_rows - 1 - last)))
        md = md.take(pa.array(np.argsort(md["series"].to_numpy(), kind="stable")))
    pool = [
        pa.array([""], pa.string()),
        batch.label_names,
        batch.label_values,
        batch.exemplar_label_names,
        batch.exemplar_label_values,
        md["help"].combine_chunks(),
        md["unit"].combine_chunks(),
    ]
    symbols = pc.unique(pa.concat_arrays([a.cast(pa.string()) for a in pool]))
    ts = Message(n)
    o = _order(batch.label_series)
    owner = _np(batch.label_series, o).astype(np.int64)
    refs = _pairs(_pa(batch.label_names, o), _pa(batch.label_values, o), symbols)
    ts.packed(1, varints(refs), np.repeat(owner, 2))
    o = _order(batch.sample_series)
    sm = Message(batch.sample_ts.size)
    sm.double(1, _np(batch.sample_values, o))
    sm.varint(2, _u64(_np(batch.sample_ts, o)))
    sm.varint(3, _u64(_np(batch.sample_start_ts, o)))
    ts.repeated(2, sm.build(), _np(batch.sample_series, o).astype(np.int64))
    if batch.histograms.num_rows:
        ts.repeated(3, *_histograms(batch.histograms, v2=True))
    ts.repeated(4, *_exemplars(batch, v2=True, symbols=symbols))
    if md.num_rows:
        rows = md["series"].to_numpy().astype(np.int64)
        mm = Message(md.num_rows)
        mm.varint(1, _type_codes(md["type"].combine_chunks()))
        mm.varint(3, _refs(md["help"].combine_chunks(), symbols))
        mm.varint(4, _refs(md["unit"].combine_chunks(), symbols))
        ts.repeated(5, mm.build(), rows)
    top = Message(1)
    top.repeated(4, from_strings(symbols), np.zeros(len(symbols), np.int64))
    top.repeated(5, ts.build(), np.zeros(n, np.int64))
    return top.build().tobytes()
