"""Vectorized decoder of OTLP ``ExportMetricsServiceRequest`` protobuf bodies.

Built on ``ingest.prompb``'s wire primitives: every nesting level (resource metrics, scope
metrics, metrics, data points, attributes, exemplars) is scanned for all its messages at once
(``scan``), and fields become columns with a few numpy/Arrow steps each. Python runs per
request level, never per data point, attribute or byte (except for the rare attribute values
that are bytes, arrays or key-value lists). Exponential histogram buckets come out in long
format (point, count) with each point's offset, as the OTLP message has them.

Protobuf semantics: unknown fields of every wire type are skipped; the last occurrence of a
singular scalar wins; for the ``Metric.data`` and value oneofs the member that came last on
the wire is the one set; occurrences of the winning data message merge (their points are
concatenated). As in ``prompb``, a known field with the wrong wire type and the group wire
types are errors. Sub-messages Prometheus does not read (instrumentation scope, metric
metadata, entity refs) are skipped without being validated.
"""

from __future__ import annotations

import base64

import numpy as np
import pyarrow as pa

from promlake.ingest.prompb._columns import (
    as_float64,
    as_int64,
    check_wires,
    fixed64_at,
    flat,
    last_per_region,
    repeated_scalar,
    strings,
    submessages,
    varint_values,
    zigzag,
)
from promlake.ingest.prompb._scan import scan
from promlake.ingest.prompb._schema import WIRE_I64, WIRE_LEN, WIRE_VARINT, Field, Schema
from promlake.ingest.prompb._wire import Body, Fields
from promlake.ingest.prompb.errors import DecodeError

from . import _values as val
from ._nested import py_array, py_kvlist
from .batch import (
    EMPTY_STRINGS,
    I64,
    KIND_EXP_HISTOGRAM,
    KIND_GAUGE,
    KIND_HISTOGRAM,
    KIND_NONE,
    KIND_SUM,
    KIND_SUMMARY,
    U64,
    Attrs,
    Bools,
    Exemplars,
    ExpBuckets,
    OtlpBatch,
    Points,
    empty_i64,
)

_V, _D, _L = WIRE_VARINT, WIRE_I64, WIRE_LEN
_C = "opentelemetry.proto.common.v1"
_M = "opentelemetry.proto.metrics.v1"

ANY_VALUE = Schema(
    f"{_C}.AnyValue",
    (
        Field(1, _L, "string_value"),
        Field(2, _V, "bool_value"),
        Field(3, _V, "int_value"),
        Field(4, _D, "double_value"),
        Field(5, _L, "array_value"),
        Field(6, _L, "kvlist_value"),
        Field(7, _L, "bytes_value"),
    ),
)
KEY_VALUE = Schema(f"{_C}.KeyValue", (Field(1, _L, "key"), Field(2, _L, "value", message=ANY_VALUE)))
RESOURCE = Schema(
    "opentelemetry.proto.resource.v1.Resource",
    (
        Field(1, _L, "attributes", message=KEY_VALUE),
        Field(2, _V, "dropped_attributes_count"),
        Field(3, _L, "entity_refs"),
    ),
)
EXEMPLAR = Schema(
    f"{_M}.Exemplar",
    (
        Field(7, _L, "filtered_attributes", message=KEY_VALUE),
        Field(2, _D, "time_unix_nano"),
        Field(3, _D, "as_double"),
        Field(6, _D, "as_int"),
        Field(4, _L, "span_id"),
        Field(5, _L, "trace_id"),
    ),
)
NUMBER_POINT = Schema(
    f"{_M}.NumberDataPoint",
    (
        Field(7, _L, "attributes", message=KEY_VALUE),
        Field(2, _D, "start_time_unix_nano"),
        Field(3, _D, "time_unix_nano"),
        Field(4, _D, "as_double"),
        Field(6, _D, "as_int"),
        Field(5, _L, "exemplars", message=EXEMPLAR),
        Field(8, _V, "flags"),
    ),
)
HISTOGRAM_POINT = Schema(
    f"{_M}.HistogramDataPoint",
    (
        Field(9, _L, "attributes", message=KEY_VALUE),
        Field(2, _D, "start_time_unix_nano"),
        Field(3, _D, "time_unix_nano"),
        Field(4, _D, "count"),
        Field(5, _D, "sum"),
        Field(6, _D, "bucket_counts", packable=True),
        Field(7, _D, "explicit_bounds", packable=True),
        Field(8, _L, "exemplars", message=EXEMPLAR),
        Field(10, _V, "flags"),
        Field(11, _D, "min"),
        Field(12, _D, "max"),
    ),
)
BUCKETS = Schema(
    f"{_M}.ExponentialHistogramDataPoint.Buckets",
    (Field(1, _V, "offset"), Field(2, _V, "bucket_counts", packable=True)),
)
EXP_POINT = Schema(
    f"{_M}.ExponentialHistogramDataPoint",
    (
        Field(1, _L, "attributes", message=KEY_VALUE),
        Field(2, _D, "start_time_unix_nano"),
        Field(3, _D, "time_unix_nano"),
        Field(4, _D, "count"),
        Field(5, _D, "sum"),
        Field(6, _V, "scale"),
        Field(7, _D, "zero_count"),
        Field(8, _L, "positive", message=BUCKETS),
        Field(9, _L, "negative", message=BUCKETS),
        Field(10, _V, "flags"),
        Field(11, _L, "exemplars", message=EXEMPLAR),
        Field(12, _D, "min"),
        Field(13, _D, "max"),
        Field(14, _D, "zero_threshold"),
    ),
)
VALUE_AT_QUANTILE = Schema(
    f"{_M}.SummaryDataPoint.ValueAtQuantile", (Field(1, _D, "quantile"), Field(2, _D, "value"))
)
SUMMARY_POINT = Schema(
    f"{_M}.SummaryDataPoint",
    (
        Field(7, _L, "attributes", message=KEY_VALUE),
        Field(2, _D, "start_time_unix_nano"),
        Field(3, _D, "time_unix_nano"),
        Field(4, _D, "count"),
        Field(5, _D, "sum"),
        Field(6, _L, "quantile_values", message=VALUE_AT_QUANTILE),
        Field(8, _V, "flags"),
    ),
)
GAUGE = Schema(f"{_M}.Gauge", (Field(1, _L, "data_points", message=NUMBER_POINT),))
SUM = Schema(
    f"{_M}.Sum",
    (
        Field(1, _L, "data_points", message=NUMBER_POINT),
        Field(2, _V, "aggregation_temporality"),
        Field(3, _V, "is_monotonic"),
    ),
)
HISTOGRAM = Schema(
    f"{_M}.Histogram",
    (Field(1, _L, "data_points", message=HISTOGRAM_POINT), Field(2, _V, "aggregation_temporality")),
)
EXP_HISTOGRAM = Schema(
    f"{_M}.ExponentialHistogram",
    (Field(1, _L, "data_points", message=EXP_POINT), Field(2, _V, "aggregation_temporality")),
)
SUMMARY = Schema(f"{_M}.Summary", (Field(1, _L, "data_points", message=SUMMARY_POINT),))
METRIC = Schema(
    f"{_M}.Metric",
    (
        Field(1, _L, "name"),
        Field(2, _L, "description"),
        Field(3, _L, "unit"),
        Field(5, _L, "gauge", message=GAUGE),
        Field(7, _L, "sum", message=SUM),
        Field(9, _L, "histogram", message=HISTOGRAM),
        Field(10, _L, "exponential_histogram", message=EXP_HISTOGRAM),
        Field(11, _L, "summary", message=SUMMARY),
        Field(12, _L, "metadata", message=KEY_VALUE),
    ),
)
SCOPE_METRICS = Schema(
    f"{_M}.ScopeMetrics",
    (Field(1, _L, "scope"), Field(2, _L, "metrics", message=METRIC), Field(3, _L, "schema_url")),
)
RESOURCE_METRICS = Schema(
    f"{_M}.ResourceMetrics",
    (
        Field(1, _L, "resource", message=RESOURCE),
        Field(2, _L, "scope_metrics", message=SCOPE_METRICS),
        Field(3, _L, "schema_url"),
    ),
)
REQUEST = Schema(
    "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
    (Field(1, _L, "resource_metrics", message=RESOURCE_METRICS),),
)

# Metric.data field number -> KIND_*
_DATA_KIND = {5: KIND_GAUGE, 7: KIND_SUM, 9: KIND_HISTOGRAM, 10: KIND_EXP_HISTOGRAM, 11: KIND_SUMMARY}


def _tag(number: int, wire: int) -> int:
    return number << 3 | wire


def _scan(b: Body, s: I64, e: I64, schema: Schema) -> Fields:
    f = scan(b, s, e, schema)
    check_wires(f, schema)
    return f


def _regroup(f: Fields, parent: I64) -> Fields:
    """The same fields, attributed to the parent of their message (merging occurrences)."""
    return Fields(parent[f.region], f.tag, f.start, f.end)


def _fixed(b: Body, f: Fields, number: int, n: int) -> tuple[U64, Bools]:
    i = last_per_region(f, _tag(number, _D), n)
    has = i >= 0
    v = np.zeros(n, np.uint64)
    v[has] = fixed64_at(b, f.start[i[has]])
    return v, has


def _varint(b: Body, f: Fields, number: int, n: int) -> U64:
    i = last_per_region(f, _tag(number, _V), n)
    v = np.zeros(n, np.uint64)
    v[i >= 0] = varint_values(b, f.start[i[i >= 0]])
    return v


def _string(b: Body, f: Fields, number: int, n: int, what: str) -> pa.StringArray:
    i = last_per_region(f, _tag(number, _L), n)
    rows = np.flatnonzero(i >= 0)
    j = i[rows]
    return val.assemble(n, [(rows, strings(b, f.start[j], f.end[j], what))])


def _oneof(f: Fields, tags: list[int], n: int) -> I64:
    """Per region, the index of the last field whose tag is one of ``tags`` (-1 if none)."""
    idx = np.flatnonzero(np.isin(f.tag, tags))
    out = np.full(n, -1, np.int64)
    if idx.size:
        r = f.region[idx]
        last = np.append(r[1:] != r[:-1], True)
        out[r[last]] = idx[last]
    return out


def _number(b: Body, f: Fields, n: int, double_no: int, int_no: int) -> np.ndarray:
    """A ``oneof {double as_double; sfixed64 as_int}`` value as float64 (0 when unset)."""
    i = _oneof(f, [_tag(double_no, _D), _tag(int_no, _D)], n)
    out = np.zeros(n)
    has = i >= 0
    j = i[has]
    raw = fixed64_at(b, f.start[j])
    is_int = f.tag[j] == _tag(int_no, _D)
    out[has] = np.where(is_int, as_int64(raw).astype(np.float64), as_float64(raw))
    return out


# -- attributes -------------------------------------------------------------------------------


def _attrs(b: Body, f: Fields, number: int, owner_of_region: I64 | None, what: str) -> Attrs:
    s, e, region = submessages(f, _tag(number, _L))
    if not s.size:
        return Attrs.empty()
    (ks, ke), (vs, ve) = flat(b, s, e, KEY_VALUE)
    keys = strings(b, ks, ke, f"{what} key")
    values = _any_values(b, vs, ve, what)
    owner = region if owner_of_region is None else owner_of_region[region]
    return Attrs(owner.astype(np.int64), keys, values)


def _any_values(b: Body, s: I64, e: I64, what: str) -> pa.StringArray:
    n = s.size
    f = _scan(b, s, e, ANY_VALUE)
    i = _oneof(f, [x.tag for x in ANY_VALUE.fields], n)
    kind = np.zeros(n, np.int64)
    kind[i >= 0] = f.tag[i[i >= 0]] >> 3
    parts: list[tuple[I64, pa.Array]] = []
    rows = np.flatnonzero(kind == val.V_STRING)
    if rows.size:
        j = i[rows]
        parts.append((rows, strings(b, f.start[j], f.end[j], f"{what} value")))
    rows = np.flatnonzero(kind == val.V_BOOL)
    if rows.size:
        on = varint_values(b, f.start[i[rows]]) != 0
        parts.append((rows, pa.array(["false", "true"], pa.string()).take(pa.array(on.astype(np.int64)))))
    rows = np.flatnonzero(kind == val.V_INT)
    if rows.size:
        ints = as_int64(varint_values(b, f.start[i[rows]]))
        parts.append((rows, pa.array(ints).cast(pa.string())))
    rows = np.flatnonzero(kind == val.V_DOUBLE)
    if rows.size:
        parts.append((rows, val.format_floats(as_float64(fixed64_at(b, f.start[i[rows]])))))
    rows = np.flatnonzero(kind >= val.V_ARRAY)
    if rows.size:
        # bytes, arrays and key-value lists: practically absent from metrics; one step each.
        out = []
        for k in rows:
            at, end = int(f.start[i[k]]), int(f.end[i[k]])
            raw = b.u8[at:end].tobytes()
            if kind[k] == val.V_BYTES:
                out.append(base64.b64encode(raw).decode())
            elif kind[k] == val.V_ARRAY:
                out.append(val.json_value(py_array(raw, at)))
            else:
                out.append(val.json_value(py_kvlist(raw, at)))
        parts.append((rows, pa.array(out, pa.string())))
    return val.assemble(n, parts)


# -- exemplars --------------------------------------------------------------------------------


def _ids(b: Body, f: Fields, number: int, n: int, size: int, what: str) -> pa.StringArray:
    """A trace or span id (bytes of length 0 or ``size``) as lowercase hex; "" when all zero."""
    i = last_per_region(f, _tag(number, _L), n)
    has = i >= 0
    j = i[has]
    ln = f.end[j] - f.start[j]
    bad = (ln != 0) & (ln != size)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DecodeError(f"{what} must be {size} bytes, not {int(ln[k])}", int(f.start[j][k]))
    rows = np.flatnonzero(has)[ln == size]
    if not rows.size:
        return val.assemble(n, [])
    starts = f.start[i[rows]]
    raw = b.u8[starts[:, None] + np.arange(size)]
    nz = raw.any(axis=1)
    rows, raw = rows[nz], raw[nz]
    hexd = np.frombuffer(b"0123456789abcdef", np.uint8)
    text = np.empty((rows.size, 2 * size), np.uint8)
    text[:, 0::2] = hexd[raw >> 4]
    text[:, 1::2] = hexd[raw & 15]
    offs = np.arange(rows.size + 1, dtype=np.int32) * (2 * size)
    arr = pa.Array.from_buffers(
        pa.string(), rows.size, [None, pa.py_buffer(offs), pa.py_buffer(text.tobytes())]
    )
    return val.assemble(n, [(rows, arr)])


def _exemplars(b: Body, pf: Fields, number: int) -> Exemplars:
    s, e, point = submessages(pf, _tag(number, _L))
    n = s.size
    if not n:
        return Exemplars.empty()
    f = _scan(b, s, e, EXEMPLAR)
    t, _ = _fixed(b, f, 2, n)
    return Exemplars(
        point=point.astype(np.int64),
        time_ns=t,
        value=_number(b, f, n, 3, 6),
        trace_id=_ids(b, f, 5, n, 16, f"{EXEMPLAR.name}.trace_id"),
        span_id=_ids(b, f, 4, n, 8, f"{EXEMPLAR.name}.span_id"),
        attrs=_attrs(b, f, 7, None, "exemplar attribute"),
    )


# -- the request ------------------------------------------------------------------------------


def _points(
    b: Body, f: Fields, occ_metric: I64, schema: Schema, value: str
) -> tuple[Points, Fields, I64, I64, I64]:
    s, e, occ = submessages(f, _tag(1, _L))
    n = s.size
    pf = _scan(b, s, e, schema)
    start, _ = _fixed(b, pf, 2, n)
    time, _ = _fixed(b, pf, 3, n)
    by = {x.name: x.number for x in schema.fields}
    flags = _varint(b, pf, by["flags"], n) & np.uint64(0xFFFFFFFF)
    if value == "number":
        v = _number(b, pf, n, 4, 6)
        count, has_sum = np.zeros(n, np.uint64), np.ones(n, np.bool_)
    else:
        count, _ = _fixed(b, pf, 4, n)
        raw, has_sum = _fixed(b, pf, 5, n)
        v = as_float64(raw)
        if value == "summary":
            has_sum = np.ones(n, np.bool_)
    attrs = _attrs(b, pf, by["attributes"], None, "data point attribute")
    pts = Points(occ_metric[occ].astype(np.int64), start, time, flags, attrs, v, count, has_sum)
    return pts, pf, s, e, occ


def decode_export_request(body: bytes | bytearray | memoryview) -> OtlpBatch:
    """Decode an uncompressed ``ExportMetricsServiceRequest`` into columns.

    Raises DecodeError for malformed protobuf, known fields with the wrong wire type, invalid
    UTF-8 and trace/span ids of the wrong length; unknown fields are skipped.
    """
    b = Body(body)
    top = _scan(b, np.zeros(1, np.int64), np.full(1, b.n, np.int64), REQUEST)
    rm_s, rm_e, _ = submessages(top, _tag(1, _L))
    n_res = int(rm_s.size)
    frm = _scan(b, rm_s, rm_e, RESOURCE_METRICS)

    r_s, r_e, r_res = submessages(frm, _tag(1, _L))
    fr = _scan(b, r_s, r_e, RESOURCE)
    resource_attrs = _attrs(b, fr, 1, r_res, "resource attribute")

    sm_s, sm_e, sm_res = submessages(frm, _tag(2, _L))
    fsm = _scan(b, sm_s, sm_e, SCOPE_METRICS)
    m_s, m_e, m_sm = submessages(fsm, _tag(2, _L))
    nm = int(m_s.size)
    fm = _scan(b, m_s, m_e, METRIC)

    # Metric.data: the member last on the wire wins; its occurrences merge.
    data_tags = [_tag(k, _L) for k in _DATA_KIND]
    w = _oneof(fm, data_tags, nm)
    winner = np.where(w >= 0, fm.tag[np.maximum(w, 0)], 0)
    kind_of_tag = np.zeros(max(data_tags) + 1, np.int64)
    for k, v in _DATA_KIND.items():
        kind_of_tag[_tag(k, _L)] = v
    kind = np.where(w >= 0, kind_of_tag[winner], KIND_NONE)

    def occurrences(number: int) -> tuple[I64, I64, I64]:
        idx = np.flatnonzero(fm.tag == _tag(number, _L))
        idx = idx[winner[fm.region[idx]] == _tag(number, _L)]
        return fm.start[idx], fm.end[idx], fm.region[idx]

    temporality = np.zeros(nm, np.int64)
    monotonic = np.zeros(nm, np.bool_)

    # Gauges and sums share NumberDataPoint: scanned together (in body order).
    gi = np.flatnonzero(np.isin(fm.tag, [_tag(5, _L), _tag(7, _L)]))
    gi = gi[winner[fm.region[gi]] == fm.tag[gi]]
    gs, ge, gmetric = fm.start[gi], fm.end[gi], fm.region[gi]
    fg = scan(b, gs, ge, SUM)
    is_sum = fm.tag[gi] == _tag(7, _L)
    check_wires(_subset(fg, ~is_sum[fg.region]), GAUGE)
    check_wires(_subset(fg, is_sum[fg.region]), SUM)
    fgm = _regroup(_subset(fg, is_sum[fg.region]), gmetric)
    temporality = _enum(_varint(b, fgm, 2, nm))
    monotonic = _varint(b, fgm, 3, nm) != 0
    numbers, npf, _, _, _ = _points(b, fg, gmetric, NUMBER_POINT, "number")
    number_exemplars = _exemplars(b, npf, 5)

    hs, he, hmetric = occurrences(9)
    fh = _scan(b, hs, he, HISTOGRAM)
    fhm = _regroup(fh, hmetric)
    htemp = _enum(_varint(b, fhm, 2, nm))
    histograms, hpf, _, _, _ = _points(b, fh, hmetric, HISTOGRAM_POINT, "histogram")
    counts, count_point, _ = repeated_scalar(b, hpf, HISTOGRAM_POINT.field(6), "bucket_counts")
    bounds, bound_point, _ = repeated_scalar(b, hpf, HISTOGRAM_POINT.field(7), "explicit_bounds")
    histogram_exemplars = _exemplars(b, hpf, 8)

    es, ee, emetric = occurrences(10)
    fe = _scan(b, es, ee, EXP_HISTOGRAM)
    etemp = _enum(_varint(b, _regroup(fe, emetric), 2, nm))
    exp, epf, _, _, _ = _points(b, fe, emetric, EXP_POINT, "histogram")
    n_exp = len(exp)

    ss, se, smetric = occurrences(11)
    fs = _scan(b, ss, se, SUMMARY)
    summaries, spf, _, _, _ = _points(b, fs, smetric, SUMMARY_POINT, "summary")
    qs, qe, qpoint = submessages(spf, _tag(6, _L))
    q, qv = flat(b, qs, qe, VALUE_AT_QUANTILE) if qs.size else (np.zeros(0, np.uint64),) * 2

    temporality = np.where(kind == KIND_HISTOGRAM, htemp, temporality)
    temporality = np.where(kind == KIND_EXP_HISTOGRAM, etemp, temporality)
    return OtlpBatch(
        n_resources=n_res,
        resource_attrs=resource_attrs,
        metric_resource=sm_res[m_sm].astype(np.int64) if nm else empty_i64(),
        metric_name=_string(b, fm, 1, nm, "metric name") if nm else EMPTY_STRINGS,
        metric_description=_string(b, fm, 2, nm, "metric description") if nm else EMPTY_STRINGS,
        metric_unit=_string(b, fm, 3, nm, "metric unit") if nm else EMPTY_STRINGS,
        metric_kind=kind.astype(np.int64),
        metric_temporality=temporality,
        metric_monotonic=monotonic,
        numbers=numbers,
        histograms=histograms,
        bucket_point=count_point.astype(np.int64),
        bucket_count=counts,
        bound_point=bound_point.astype(np.int64),
        bound=as_float64(bounds),
        summaries=summaries,
        quantile_point=qpoint.astype(np.int64),
        quantile=as_float64(q),
        quantile_value=as_float64(qv),
        exp_histograms=exp,
        exp_scale=_sint32(_varint(b, epf, 6, n_exp)),
        exp_zero_count=_fixed(b, epf, 7, n_exp)[0],
        exp_zero_threshold=as_float64(_fixed(b, epf, 14, n_exp)[0]),
        exp_positive=_buckets(b, epf, 8, n_exp),
        exp_negative=_buckets(b, epf, 9, n_exp),
        number_exemplars=number_exemplars,
        histogram_exemplars=histogram_exemplars,
        exp_exemplars=_exemplars(b, epf, 11),
    )


def _buckets(b: Body, pf: Fields, number: int, n: int) -> ExpBuckets:
    """``ExponentialHistogramDataPoint.Buckets`` of every point (occurrences merge: the last
    offset wins, bucket counts concatenate in wire order)."""
    s, e, point = submessages(pf, _tag(number, _L))
    if not s.size:
        return ExpBuckets.empty(n)
    f = _regroup(_scan(b, s, e, BUCKETS), point)
    counts, count_point, _ = repeated_scalar(b, f, BUCKETS.field(2), "bucket_counts")
    return ExpBuckets(_sint32(_varint(b, f, 1, n)), count_point.astype(np.int64), counts)


def _sint32(v: U64) -> I64:
    """A sint32 from its varint: the low 32 bits, zigzag-decoded."""
    return zigzag(v & np.uint64(0xFFFFFFFF))


def _subset(f: Fields, keep: Bools) -> Fields:
    return Fields(f.region[keep], f.tag[keep], f.start[keep], f.end[keep])


def _enum(v: U64) -> I64:
    """An int32 enum from its varint (negative values travel as 10-byte varints)."""
    return (v & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32).astype(np.int64)
