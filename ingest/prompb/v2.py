"""Remote write 2.0: ``io.prometheus.write.v2.Request`` (prompb/io/prometheus/write/v2/types.proto)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ._columns import (
    as_float64,
    as_int64,
    check_wires,
    enum_names,
    fixed64_at,
    flat,
    flat_merged,
    last_per_region,
    repeated_scalar,
    strings,
    submessages,
    varint_values,
)
from ._histograms import decode_histograms, histogram_schema
from ._scan import scan
from ._schema import WIRE_I64, WIRE_LEN, WIRE_VARINT, Field, Schema
from ._wire import I64, U64, Body, Fields
from .batch import EMPTY_METADATA, EMPTY_STRINGS, METADATA_SCHEMA, METRIC_TYPES, WriteBatch
from .errors import DecodeError

_V, _D, _L = WIRE_VARINT, WIRE_I64, WIRE_LEN
PKG = "io.prometheus.write.v2"

SAMPLE = Schema(
    f"{PKG}.Sample", (Field(1, _D, "value"), Field(2, _V, "timestamp"), Field(3, _V, "start_timestamp"))
)
EXEMPLAR = Schema(
    f"{PKG}.Exemplar",
    (Field(1, _V, "labels_refs", packable=True), Field(2, _D, "value"), Field(3, _V, "timestamp")),
)
METADATA = Schema(
    f"{PKG}.Metadata", (Field(1, _V, "type"), Field(3, _V, "help_ref"), Field(4, _V, "unit_ref"))
)
HISTOGRAM = histogram_schema(PKG, with_start_ts=True)
TIME_SERIES = Schema(
    f"{PKG}.TimeSeries",
    (
        Field(1, _V, "labels_refs", packable=True),
        Field(2, _L, "samples", message=SAMPLE),
        Field(3, _L, "histograms", message=HISTOGRAM),
        Field(4, _L, "exemplars", message=EXEMPLAR),
        Field(5, _L, "metadata", message=METADATA),
        # Senders before Prometheus 3.9 put the created (start) timestamp here, per series;
        # it moved to Sample/Histogram.start_timestamp and the field became reserved.
        Field(6, _V, "created_timestamp", rare=True),
    ),
)
# Fields 1-3 are reserved so that a v1 body decoded as v2 comes out empty (upstream's choice).
REQUEST = Schema(f"{PKG}.Request", (Field(4, _L, "symbols"), Field(5, _L, "timeseries", message=TIME_SERIES)))

_NAME = np.frombuffer(b"__name__", "<u8")[0]


def decode_write_request_v2(body: bytes | bytearray | memoryview) -> WriteBatch:
    """Decode an uncompressed ``io.prometheus.write.v2.Request`` into columns.

    Symbol references are resolved (``take`` on the symbols table). Raises DecodeError for
    malformed protobuf, wrong wire types, invalid UTF-8, a symbols table that does not start
    with the empty string, odd-length or out-of-range references; unknown fields are skipped.
    """
    b = Body(body)
    top = scan(b, np.zeros(1, np.int64), np.full(1, b.n, np.int64), REQUEST)
    check_wires(top, REQUEST)
    sym_s, sym_e, _ = submessages(top, 4 << 3 | _L)
    symbols = strings(b, sym_s, sym_e, "symbol")
    ts_s, ts_e, _ = submessages(top, 5 << 3 | _L)
    n_series = int(ts_s.size)
    if (n_series or sym_s.size) and (not sym_s.size or sym_e[0] != sym_s[0]):
        raise DecodeError(
            f"{REQUEST.name}: the symbols table must start with the empty string",
            int(sym_s[0]) if sym_s.size else None,
        )
    f = scan(b, ts_s, ts_e, TIME_SERIES)
    check_wires(f, TIME_SERIES)
    table = _Symbols(b, symbols, sym_s, sym_e)

    refs, rser, rat = repeated_scalar(b, f, TIME_SERIES.field(1), f"{TIME_SERIES.name}.labels_refs")
    lser, names, values, name_refs, value_refs = table.labels(refs, rser, rat, ts_s, "series")

    i = last_per_region(f, 6 << 3 | _V, n_series)
    legacy_st = np.zeros(n_series, np.int64)
    legacy_st[i >= 0] = as_int64(varint_values(b, f.start[i[i >= 0]]))

    ss, se, sser = submessages(f, 2 << 3 | _L)
    v, t, st = flat(b, ss, se, SAMPLE)
    st = as_int64(st)
    if (i >= 0).any():
        st = np.where(st == 0, legacy_st[sser], st)

    es, ee, eser = submessages(f, 4 << 3 | _L)
    ex_ts, ex_val, ex_lab, ex_names, ex_values = _exemplars(b, es, ee, table)

    hs, he, hser = submessages(f, 3 << 3 | _L)
    hist = decode_histograms(b, hs, he, hser, HISTOGRAM, legacy_st[hser] if (i >= 0).any() else None)

    return WriteBatch(
        n_series=n_series,
        label_series=lser.astype(np.int32),
        label_names=names,
        label_values=values,
        sample_series=sser.astype(np.int32),
        sample_ts=as_int64(t),
        sample_values=as_float64(v),
        sample_start_ts=st,
        exemplar_series=eser.astype(np.int32),
        exemplar_ts=ex_ts,
        exemplar_values=ex_val,
        exemplar_label_exemplar=ex_lab,
        exemplar_label_names=ex_names,
        exemplar_label_values=ex_values,
        histograms=hist,
        metadata=_metadata(b, f, table, lser, name_refs, value_refs, n_series),
    )


class _Symbols:
    """The request's symbols table and reference resolution against it."""

    def __init__(self, b: Body, symbols: pa.StringArray, s: I64, e: I64) -> None:
        self.body, self.array, self.n = b, symbols, len(symbols)
        self.empty = e == s  # per symbol: is it the empty string
        self.is_name = (e - s == 8) & (b.u64[s] == _NAME)

    def check(self, refs: U64, at: I64, what: str) -> I64:
        bad = refs >= self.n
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise DecodeError(
                f"{what} references symbol {int(refs[k])}, outside the symbols table (size {self.n})",
                int(at[k]),
            )
        return refs.astype(np.int64)

    def labels(
        self, refs: U64, region: I64, at: I64, starts: I64, what: str
    ) -> tuple[I64, pa.StringArray, pa.StringArray, I64, I64]:
        """Resolve (name, value) reference pairs: (region per label, names, values, refs)."""
        counts = np.bincount(region, minlength=starts.size)
        if (counts % 2).any():
            k = int(np.flatnonzero(counts % 2)[0])
            raise DecodeError(f"{what} {k}: labels_refs has odd length {int(counts[k])}", int(starts[k]))
        r = self.check(refs, at, f"{what} labels_refs")
        name_refs, value_refs = r[0::2], r[1::2]
        names = self.array.take(pa.array(name_refs))
        values = self.array.take(pa.array(value_refs))
        return region[0::2], names, values, name_refs, value_refs


def _exemplars(
    b: Body, s: I64, e: I64, table: _Symbols
) -> tuple[I64, np.ndarray, np.ndarray, pa.StringArray, pa.StringArray]:
    n = s.size
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int32), EMPTY_STRINGS, EMPTY_STRINGS
    f = scan(b, s, e, EXEMPLAR)
    check_wires(f, EXEMPLAR)
    val = np.zeros(n, np.uint64)
    i = last_per_region(f, 2 << 3 | _D, n)
    val[i >= 0] = fixed64_at(b, f.start[i[i >= 0]])
    ts = np.zeros(n, np.uint64)
    i = last_per_region(f, 3 << 3 | _V, n)
    ts[i >= 0] = varint_values(b, f.start[i[i >= 0]])
    refs, rex, rat = repeated_scalar(b, f, EXEMPLAR.field(1), f"{EXEMPLAR.name}.labels_refs")
    lex, names, values, _, _ = table.labels(refs, rex, rat, s, "exemplar")
    return as_int64(ts), as_float64(val), lex.astype(np.int32), names, values


def _metadata(
    b: Body, f: Fields, table: _Symbols, lser: I64, name_refs: I64, value_refs: I64, n_series: int
) -> pa.Table:
    """One row per series whose metadata says anything (type, help or unit set).

    The family name is the series' ``__name__``, since v2 metadata rides on the series.
    """
    ms, me, mser = submessages(f, 5 << 3 | _L)
    if not ms.size:
        return EMPTY_METADATA
    if (mser[1:] == mser[:-1]).any():
        typ, help_ref, unit_ref = flat_merged(b, ms, me, mser, n_series, METADATA)
        rows, first = np.unique(mser, return_index=True)
        typ, help_ref, unit_ref, at = typ[rows], help_ref[rows], unit_ref[rows], ms[first]
    else:
        typ, help_ref, unit_ref = flat(b, ms, me, METADATA)
        rows, at = mser, ms
    help_i = table.check(help_ref, at, "metadata help_ref")
    unit_i = table.check(unit_ref, at, "metadata unit_ref")
    typ = np.where(typ < len(METRIC_TYPES), typ, 0)  # outside the enum: "unknown", as upstream
    keep = (typ != 0) | ~table.empty[help_i] | ~table.empty[unit_i]
    rows, typ, help_i, unit_i = rows[keep], typ[keep], help_i[keep], unit_i[keep]
    family = np.zeros(n_series, np.int64)  # symbol 0 is ""
    k = np.flatnonzero(table.is_name[name_refs])
    first = np.ones(k.size, np.bool_)  # a (malformed) repeated __name__: the first counts
    first[1:] = lser[k][1:] != lser[k][:-1]
    family[lser[k[first]]] = value_refs[k[first]]
    return pa.Table.from_arrays(
        [
            pa.array(rows.astype(np.int32)),
            table.array.take(pa.array(family[rows])),
            enum_names(typ, METRIC_TYPES),
            table.array.take(pa.array(help_i)),
            table.array.take(pa.array(unit_i)),
        ],
        schema=METADATA_SCHEMA,
    )
