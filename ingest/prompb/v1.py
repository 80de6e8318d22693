"""Remote write 1.0: ``prometheus.WriteRequest`` (prompb/remote.proto, prompb/types.proto)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ._columns import (
    as_float64,
    as_int64,
    check_wires,
    enum_names,
    fixed64_at,
    flat,
    last_per_region,
    strings,
    submessages,
    varint_values,
)
from ._histograms import decode_histograms, histogram_schema
from ._scan import scan
from ._schema import WIRE_I64, WIRE_LEN, WIRE_VARINT, Field, Schema
from ._wire import I64, Body
from .batch import EMPTY_METADATA, EMPTY_STRINGS, METADATA_SCHEMA, METRIC_TYPES, WriteBatch
from .series_cache import SeriesCache, SeriesLookup

_V, _D, _L = WIRE_VARINT, WIRE_I64, WIRE_LEN
PKG = "prometheus"

LABEL = Schema(f"{PKG}.Label", (Field(1, _L, "name"), Field(2, _L, "value")))
SAMPLE = Schema(f"{PKG}.Sample", (Field(1, _D, "value"), Field(2, _V, "timestamp")))
EXEMPLAR = Schema(
    f"{PKG}.Exemplar",
    (Field(1, _L, "labels", message=LABEL), Field(2, _D, "value"), Field(3, _V, "timestamp")),
)
HISTOGRAM = histogram_schema(PKG, with_start_ts=False)
TIME_SERIES = Schema(
    f"{PKG}.TimeSeries",
    (
        Field(1, _L, "labels", message=LABEL),
        Field(2, _L, "samples", message=SAMPLE),
        Field(3, _L, "exemplars", message=EXEMPLAR),
        Field(4, _L, "histograms", message=HISTOGRAM),
    ),
)
METRIC_METADATA = Schema(
    f"{PKG}.MetricMetadata",
    (Field(1, _V, "type"), Field(2, _L, "metric_family_name"), Field(4, _L, "help"), Field(5, _L, "unit")),
)
# Field 2 is reserved upstream (Cortex used it); like any unknown field it is skipped.
WRITE_REQUEST = Schema(
    f"{PKG}.WriteRequest",
    (Field(1, _L, "timeseries", message=TIME_SERIES), Field(3, _L, "metadata", message=METRIC_METADATA)),
)


def labels(body: Body, s: I64, e: I64, what: str) -> tuple[pa.StringArray, pa.StringArray]:
    """Names and values of the ``prometheus.Label`` messages at ``[s, e)``."""
    (ns, ne), (vs, ve) = flat(body, s, e, LABEL)
    return strings(body, ns, ne, f"{what} name"), strings(body, vs, ve, f"{what} value")


@dataclass(frozen=True, slots=True)
class LabelFields:
    """Where the ``labels`` fields of every series are in a request body (payload ranges, in
    wire order, and their series)."""

    body: Body
    starts: I64
    ends: I64
    series: I64
    n_series: int

    def decode(self, which: I64) -> tuple[I64, pa.StringArray, pa.StringArray]:
        """Label rows of series ``which`` (renumbered ``0..len(which)-1`` in that order)."""
        remap = np.full(self.n_series, -1, np.int64)
        remap[which] = np.arange(which.size, dtype=np.int64)
        at = remap[self.series]
        rows = np.flatnonzero(at >= 0)
        names, values = labels(self.body, self.starts[rows], self.ends[rows], "label")
        return at[rows], names, values

    def lookup(self, cache: SeriesCache) -> SeriesLookup:
        return cache.lookup(self.body, self.starts, self.ends, self.series, self.n_series)

    def remember(self, cache: SeriesCache, which: I64, ids: I64, checks: I64) -> None:
        cache.remember(self.body, self.starts, self.ends, self.series, self.n_series, which, ids, checks)


def decode_write_request_v1(
    body: bytes | bytearray | memoryview, series_cache: SeriesCache | None = None
) -> WriteBatch:
    """Decode an uncompressed ``prometheus.WriteRequest`` into columns.

    Raises DecodeError for malformed protobuf, known fields with the wrong wire type and
    invalid UTF-8; unknown fields are skipped.

    With a ``series_cache``, the labels of series found in it are not decoded: the batch's
    ``known`` says which, with their ids (their bytes equal bytes decoded and validated
    before, so they would decode to the same labels without error); ``label_fields`` can
    decode them on demand.
    """
    b = Body(body)
    top = scan(b, np.zeros(1, np.int64), np.full(1, b.n, np.int64), WRITE_REQUEST)
    check_wires(top, WRITE_REQUEST)
    ts_s, ts_e, _ = submessages(top, 1 << 3 | _L)
    n_series = int(ts_s.size)
    f = scan(b, ts_s, ts_e, TIME_SERIES)
    check_wires(f, TIME_SERIES)

    ls, le, lser = submessages(f, 1 << 3 | _L)
    known = fields = None
    if series_cache is not None:
        fields = LabelFields(b, ls, le, lser, n_series)
        known = fields.lookup(series_cache)
        if known.hit.any():
            rows = np.flatnonzero(~known.hit[lser])
            ls, le, lser = ls[rows], le[rows], lser[rows]
    names, values = labels(b, ls, le, "label")

    ss, se, sser = submessages(f, 2 << 3 | _L)
    v, t = flat(b, ss, se, SAMPLE)

    es, ee, eser = submessages(f, 3 << 3 | _L)
    ex = _exemplars(b, es, ee)

    hs, he, hser = submessages(f, 4 << 3 | _L)
    hist = decode_histograms(b, hs, he, hser, HISTOGRAM)

    ms, me, _ = submessages(top, 3 << 3 | _L)
    return WriteBatch(
        n_series=n_series,
        label_series=lser.astype(np.int32),
        label_names=names,
        label_values=values,
        sample_series=sser.astype(np.int32),
        sample_ts=as_int64(t),
        sample_values=as_float64(v),
        sample_start_ts=np.zeros(ss.size, np.int64),
        exemplar_series=eser.astype(np.int32),
        exemplar_ts=ex[0],
        exemplar_values=ex[1],
        exemplar_label_exemplar=ex[2],
        exemplar_label_names=ex[3],
        exemplar_label_values=ex[4],
        histograms=hist,
        metadata=_metadata(b, ms, me),
        known=known,
        label_fields=fields,
    )


def _exemplars(b: Body, s: I64, e: I64) -> tuple[I64, np.ndarray, np.ndarray, pa.StringArray, pa.StringArray]:
    n = s.size
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int32), EMPTY_STRINGS, EMPTY_STRINGS
    f = scan(b, s, e, EXEMPLAR)
    check_wires(f, EXEMPLAR)
    ts = np.zeros(n, np.uint64)
    val = np.zeros(n, np.uint64)
    i = last_per_region(f, 2 << 3 | _D, n)
    val[i >= 0] = fixed64_at(b, f.start[i[i >= 0]])
    i = last_per_region(f, 3 << 3 | _V, n)
    ts[i >= 0] = varint_values(b, f.start[i[i >= 0]])
    ls, le, lex = submessages(f, 1 << 3 | _L)
    names, values = labels(b, ls, le, "exemplar label")
    return as_int64(ts), as_float64(val), lex.astype(np.int32), names, values


def _metadata(b: Body, s: I64, e: I64) -> pa.Table:
    if s.size == 0:
        return EMPTY_METADATA
    typ, (fs, fe), (hs, he), (us, ue) = flat(b, s, e, METRIC_METADATA)
    return pa.Table.from_arrays(
        [
            pa.nulls(s.size, pa.int32()),
            strings(b, fs, fe, "metric metadata family name"),
            enum_names(typ, METRIC_TYPES),
            strings(b, hs, he, "metric metadata help"),
            strings(b, us, ue, "metric metadata unit"),
        ],
        schema=METADATA_SCHEMA,
    )
