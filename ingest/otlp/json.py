"""Vectorized decoder of OTLP/JSON ``ExportMetricsServiceRequest`` bodies.

The body is parsed once by polars' JSON reader against a fixed schema (no per-object Python
step), then every nesting level is a flat Arrow array with its parent indices, exactly like
the protobuf decoder's levels. OTLP/JSON rules: field names in lowerCamelCase (the proto
names in snake_case are accepted too, as pdata does), 64-bit integers as strings or numbers,
doubles as numbers or ``"NaN"``/``"Infinity"``/``"-Infinity"``, enums as integers (or their
names), trace and span ids as hex, ``bytesValue`` as base64. Numbers are read as their text
and converted by Arrow casts, so 64-bit values keep full precision.

Attribute values that are arrays or key-value lists are read one level deep (deeper values
come out as null); they practically never occur on metrics.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from promlake.ingest.prompb.errors import DecodeError

from . import _values as val
from .batch import (
    EMPTY_STRINGS,
    I64,
    KIND_EXP_HISTOGRAM,
    KIND_GAUGE,
    KIND_HISTOGRAM,
    KIND_NONE,
    KIND_SUM,
    KIND_SUMMARY,
    Attrs,
    Exemplars,
    ExpBuckets,
    OtlpBatch,
    Points,
)

_S, _B = pl.String, pl.Boolean


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _schema(both: bool) -> dict[str, Any]:
    """The polars schema of a request; with ``both``, snake_case names are read too (they
    make parsing several times slower, so bodies without them use the camelCase schema)."""

    def _st(fields: dict[str, Any]) -> pl.Struct:
        out: dict[str, Any] = {}
        for k, t in fields.items():
            out[k] = t
            if both and _snake(k) != k:
                out[_snake(k)] = t
        return pl.Struct(out)

    _SCALAR = {"stringValue": _S, "boolValue": _B, "intValue": _S, "doubleValue": _S, "bytesValue": _S}
    _INNER = _st(_SCALAR)
    _ANY = _st(
        {
            **_SCALAR,
            "arrayValue": _st({"values": pl.List(_INNER)}),
            "kvlistValue": _st({"values": pl.List(_st({"key": _S, "value": _INNER}))}),
        }
    )
    _KV = pl.List(_st({"key": _S, "value": _ANY}))
    _EXEMPLAR = _st(
        {
            "filteredAttributes": _KV,
            "timeUnixNano": _S,
            "asDouble": _S,
            "asInt": _S,
            "spanId": _S,
            "traceId": _S,
        }
    )
    _COMMON = {"attributes": _KV, "startTimeUnixNano": _S, "timeUnixNano": _S, "flags": _S}
    _NUMBER = _st({**_COMMON, "asDouble": _S, "asInt": _S, "exemplars": pl.List(_EXEMPLAR)})
    _HIST = _st(
        {
            **_COMMON,
            "count": _S,
            "sum": _S,
            "bucketCounts": pl.List(_S),
            "explicitBounds": pl.List(_S),
            "exemplars": pl.List(_EXEMPLAR),
        }
    )
    _SUMMARY = _st(
        {**_COMMON, "count": _S, "sum": _S, "quantileValues": pl.List(_st({"quantile": _S, "value": _S}))}
    )
    _BUCKETS = _st({"offset": _S, "bucketCounts": pl.List(_S)})
    _EXP = _st(
        {
            **_COMMON,
            "count": _S,
            "sum": _S,
            "scale": _S,
            "zeroCount": _S,
            "zeroThreshold": _S,
            "positive": _BUCKETS,
            "negative": _BUCKETS,
            "exemplars": pl.List(_EXEMPLAR),
        }
    )
    _METRIC = _st(
        {
            "name": _S,
            "description": _S,
            "unit": _S,
            "gauge": _st({"dataPoints": pl.List(_NUMBER)}),
            "sum": _st({"dataPoints": pl.List(_NUMBER), "aggregationTemporality": _S, "isMonotonic": _B}),
            "histogram": _st({"dataPoints": pl.List(_HIST), "aggregationTemporality": _S}),
            "exponentialHistogram": _st({"dataPoints": pl.List(_EXP), "aggregationTemporality": _S}),
            "summary": _st({"dataPoints": pl.List(_SUMMARY)}),
        }
    )
    _SCHEMA = {
        "resourceMetrics": pl.List(
            _st(
                {
                    "resource": _st({"attributes": _KV}),
                    "scopeMetrics": pl.List(_st({"metrics": pl.List(_METRIC)})),
                }
            )
        ),
    }
    if both:
        _SCHEMA["resource_metrics"] = _SCHEMA["resourceMetrics"]
    return _SCHEMA


_SCHEMA_CAMEL = _schema(False)
_SCHEMA_BOTH = _schema(True)
# A snake_case member name ("time_unix_nano": ...) anywhere in the body.
_SNAKE_KEY = re.compile(rb'"[a-z]+(?:_[a-z]+)+"\s*:')


_TEMPORALITY = {
    "AGGREGATION_TEMPORALITY_UNSPECIFIED": "0",
    "AGGREGATION_TEMPORALITY_DELTA": "1",
    "AGGREGATION_TEMPORALITY_CUMULATIVE": "2",
}


def _field(arr: pa.Array, name: str) -> pa.Array:
    """A struct field (camelCase, else snake_case); nulls where the struct is null."""
    a = pc.struct_field(arr, name)
    s = _snake(name)
    if s != name and arr.type.get_field_index(s) >= 0:
        a = pc.coalesce(a, pc.struct_field(arr, s))
    return a


def _level(lists: pa.Array) -> tuple[pa.Array, I64]:
    """Children of a list array and their parent index."""
    if not len(lists):
        return pa.array([], lists.type.value_type), np.zeros(0, np.int64)
    return lists.flatten(), np.asarray(pc.list_parent_indices(lists), np.int64)


def _u64(a: pa.Array, what: str) -> np.ndarray:
    try:
        return np.asarray(pc.fill_null(pc.cast(a, pa.uint64()), 0), np.uint64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DecodeError(f"{what} is not an unsigned 64-bit integer") from None


def _i64(a: pa.Array, what: str) -> np.ndarray:
    try:
        return np.asarray(pc.fill_null(pc.cast(a, pa.int64()), 0), np.int64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DecodeError(f"{what} is not a 64-bit integer") from None


def _f64(a: pa.Array, what: str) -> np.ndarray:
    try:
        return np.asarray(pc.fill_null(pc.cast(a, pa.float64()), 0.0), np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DecodeError(f"{what} is not a number") from None


def _str(a: pa.Array) -> pa.StringArray:
    return pc.fill_null(a, "").cast(pa.string())


def _number(s: pa.Array, what: str) -> np.ndarray:
    """``asDouble`` / ``asInt`` (when both are given, as_int: pdata reads them in order)."""
    d = _field(s, "asDouble")
    i = _field(s, "asInt")
    out = _f64(d, f"{what}.asDouble")
    has_i = np.asarray(pc.is_valid(i), np.bool_)
    if has_i.any():
        out = np.where(has_i, _i64(i, f"{what}.asInt").astype(np.float64), out)
    return out


def _any_values(v: pa.Array) -> pa.StringArray:
    n = len(v)
    parts: list[tuple[I64, pa.Array]] = []
    sv = _field(v, "stringValue")
    rows = np.flatnonzero(np.asarray(pc.is_valid(sv), np.bool_))
    parts.append((rows, sv.filter(pc.is_valid(sv))))
    bv = _field(v, "boolValue")
    rows = np.flatnonzero(np.asarray(pc.is_valid(bv), np.bool_))
    if rows.size:
        parts.append((rows, pc.if_else(bv.filter(pc.is_valid(bv)), "true", "false")))
    iv = _field(v, "intValue")
    rows = np.flatnonzero(np.asarray(pc.is_valid(iv), np.bool_))
    if rows.size:
        parts.append((rows, pa.array(_i64(iv.filter(pc.is_valid(iv)), "intValue")).cast(pa.string())))
    dv = _field(v, "doubleValue")
    rows = np.flatnonzero(np.asarray(pc.is_valid(dv), np.bool_))
    if rows.size:
        parts.append((rows, val.format_floats(_f64(dv.filter(pc.is_valid(dv)), "doubleValue"))))
    rare = []
    for name in ("bytesValue", "arrayValue", "kvlistValue"):
        col = _field(v, name)
        r = np.flatnonzero(np.asarray(pc.is_valid(col), np.bool_))
        if r.size:
            rare.append((name, r, col.filter(pc.is_valid(col)).to_pylist()))
    for name, r, items in rare:
        out = [_rare(name, x) for x in items]
        parts.append((r, pa.array(out, pa.string())))
    # Later parts win for a row that sets several members (not valid OTLP/JSON anyway).
    idx = np.full(n, -1, np.int64)
    for k, (r, _) in enumerate(parts):
        idx[r] = k
    parts = [(r[idx[r] == k], a.filter(pa.array(idx[r] == k))) for k, (r, a) in enumerate(parts)]
    return val.assemble(n, parts)


def _py_any(x: dict[str, Any] | None) -> Any:
    if not x:
        return None

    def get(k: str) -> Any:
        v = x.get(k)
        return v if v is not None else x.get(_snake(k))

    if get("stringValue") is not None:
        return get("stringValue")
    if get("boolValue") is not None:
        return bool(get("boolValue"))
    if get("intValue") is not None:
        return int(get("intValue"))
    if get("doubleValue") is not None:
        return float(get("doubleValue"))
    if get("bytesValue") is not None:
        return _b64(get("bytesValue"))
    return None


def _b64(s: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError("bytesValue is not valid base64") from None


def _rare(name: str, x: Any) -> str:
    if name == "bytesValue":
        return base64.b64encode(_b64(x)).decode()
    if name == "arrayValue":
        return val.json_value([_py_any(y) for y in (x.get("values") or [])])
    return val.json_value({kv.get("key") or "": _py_any(kv.get("value")) for kv in (x.get("values") or [])})


def _attrs(structs: pa.Array, name: str, owner_of: I64 | None = None) -> Attrs:
    lists = _field(structs, name)
    kv, owner = _level(lists)
    if not len(kv):
        return Attrs.empty()
    keys = _str(_field(kv, "key"))
    values = _any_values(_field(kv, "value"))
    return Attrs(owner if owner_of is None else owner_of[owner], keys, values)


def _ids(a: pa.Array, size: int, what: str) -> pa.StringArray:
    """Hex trace/span ids: 0 or ``2 * size`` hex digits; lowercased; "" when all zero."""
    s = pc.utf8_lower(_str(a))
    ln = np.asarray(pc.utf8_length(s), np.int64)
    if ((ln != 0) & (ln != 2 * size)).any():
        raise DecodeError(f"{what} must be {2 * size} hex digits")
    if len(s) and not pc.all(pc.match_substring_regex(s, "^[0-9a-f]*$")).as_py():
        raise DecodeError(f"{what} is not hex")
    return pc.if_else(pc.match_substring_regex(s, "^0*$"), "", s)


def _exemplars(points: pa.Array) -> Exemplars:
    ex, point = _level(_field(points, "exemplars"))
    if not len(ex):
        return Exemplars.empty()
    return Exemplars(
        point=point,
        time_ns=_u64(_field(ex, "timeUnixNano"), "exemplar timeUnixNano"),
        value=_number(ex, "exemplar"),
        trace_id=_ids(_field(ex, "traceId"), 16, "traceId"),
        span_id=_ids(_field(ex, "spanId"), 8, "spanId"),
        attrs=_attrs(ex, "filteredAttributes"),
    )


def _points(pts: pa.Array, metric: I64, value: str) -> Points:
    n = len(pts)
    if value == "number":
        v = _number(pts, "data point")
        count, has_sum = np.zeros(n, np.uint64), np.ones(n, np.bool_)
    else:
        count = _u64(_field(pts, "count"), "count")
        s = _field(pts, "sum")
        v = _f64(s, "sum")
        has_sum = np.asarray(pc.is_valid(s), np.bool_) if value == "histogram" else np.ones(n, np.bool_)
    return Points(
        metric=metric,
        start_ns=_u64(_field(pts, "startTimeUnixNano"), "startTimeUnixNano"),
        time_ns=_u64(_field(pts, "timeUnixNano"), "timeUnixNano"),
        flags=_u64(_field(pts, "flags"), "flags") & np.uint64(0xFFFFFFFF),
        attrs=_attrs(pts, "attributes"),
        value=v,
        count=count,
        has_sum=has_sum,
    )


def _temporality(a: pa.Array) -> np.ndarray:
    s = _str(a)
    for name, num in _TEMPORALITY.items():
        s = pc.replace_substring(s, name, num) if len(s) else s
    s = pc.if_else(pc.equal(s, ""), "0", s) if len(s) else s
    return _i64(s, "aggregationTemporality")


def decode_export_request_json(body: bytes | bytearray | memoryview) -> OtlpBatch:
    """Decode an OTLP/JSON ``ExportMetricsServiceRequest`` into the same columns as the
    protobuf decoder. Raises DecodeError for invalid JSON or values of the wrong type."""
    import io

    if not bytes(body).lstrip().startswith(b"{"):
        raise DecodeError("invalid OTLP/JSON body: expected a JSON object")
    try:
        data = bytes(body)
        schema = _SCHEMA_BOTH if _SNAKE_KEY.search(data) else _SCHEMA_CAMEL
        df = pl.read_json(io.BytesIO(data), schema=schema)
    except Exception as exc:  # polars raises ComputeError / various parse errors
        raise DecodeError(
            f"invalid OTLP/JSON body: {str(exc).splitlines()[0] if str(exc) else exc}"
        ) from None
    t = df.to_arrow()
    rm_lists = t.column("resourceMetrics").combine_chunks()
    if "resource_metrics" in t.column_names:
        rm_lists = pc.coalesce(rm_lists, t.column("resource_metrics").combine_chunks())
    rm, _ = _level(rm_lists)
    n_res = len(rm)
    resource_attrs = _attrs(_field(rm, "resource"), "attributes") if n_res else Attrs.empty()
    sm, sm_res = _level(_field(rm, "scopeMetrics")) if n_res else (rm, np.zeros(0, np.int64))
    m, m_sm = _level(_field(sm, "metrics")) if len(sm) else (sm, np.zeros(0, np.int64))
    nm = len(m)
    if not nm:
        return _empty(n_res, resource_attrs)
    metric_resource = sm_res[m_sm]
    kind = np.full(nm, KIND_NONE, np.int64)
    # pdata reads members in document order; the last one present wins, like protobuf. Here
    # the fixed order below decides for (invalid) metrics carrying several.
    structs = {}
    for k, name in ((KIND_GAUGE, "gauge"), (KIND_SUM, "sum"), (KIND_HISTOGRAM, "histogram"),
                    (KIND_EXP_HISTOGRAM, "exponentialHistogram"), (KIND_SUMMARY, "summary")):  # fmt: skip
        s = _field(m, name)
        structs[k] = s
        kind[np.asarray(pc.is_valid(s), np.bool_)] = k
    temporality = np.zeros(nm, np.int64)
    for k in (KIND_SUM, KIND_HISTOGRAM, KIND_EXP_HISTOGRAM):
        t_k = _temporality(_field(structs[k], "aggregationTemporality"))
        temporality = np.where(kind == k, t_k, temporality)
    monotonic = np.asarray(pc.fill_null(_field(structs[KIND_SUM], "isMonotonic"), False), np.bool_)

    def pts_of(k: int) -> tuple[pa.Array, I64]:
        lists = _field(structs[k], "dataPoints")
        lists = pc.if_else(pa.array(kind == k), lists, pa.nulls(nm, lists.type))
        return _level(lists)

    g, gm = pts_of(KIND_GAUGE)
    s, sm_ = pts_of(KIND_SUM)
    # Number points in metric order (as the protobuf decoder yields them).
    npts = pa.concat_arrays([g, s]) if len(g) and len(s) else (g if len(g) else s)
    nmetric = np.concatenate((gm, sm_))
    order = np.argsort(nmetric, kind="stable")
    npts = npts.take(pa.array(order)) if len(npts) else npts
    nmetric = nmetric[order]
    numbers = _points(npts, nmetric, "number") if len(npts) else _no_points()
    number_exemplars = _exemplars(npts) if len(npts) else Exemplars.empty()

    h, hm = pts_of(KIND_HISTOGRAM)
    histograms = _points(h, hm, "histogram") if len(h) else _no_points()
    bc, bc_p = _level(_field(h, "bucketCounts")) if len(h) else (h, np.zeros(0, np.int64))
    eb, eb_p = _level(_field(h, "explicitBounds")) if len(h) else (h, np.zeros(0, np.int64))
    histogram_exemplars = _exemplars(h) if len(h) else Exemplars.empty()

    e, em = pts_of(KIND_EXP_HISTOGRAM)
    n_exp = len(e)
    sp, spm = pts_of(KIND_SUMMARY)
    summaries = _points(sp, spm, "summary") if len(sp) else _no_points()
    q, q_p = _level(_field(sp, "quantileValues")) if len(sp) else (sp, np.zeros(0, np.int64))
    return OtlpBatch(
        n_resources=n_res,
        resource_attrs=resource_attrs,
        metric_resource=metric_resource.astype(np.int64),
        metric_name=_str(_field(m, "name")),
        metric_description=_str(_field(m, "description")),
        metric_unit=_str(_field(m, "unit")),
        metric_kind=kind,
        metric_temporality=temporality,
        metric_monotonic=monotonic & (kind == KIND_SUM),
        numbers=numbers,
        histograms=histograms,
        bucket_point=bc_p,
        bucket_count=_u64(bc, "bucketCounts") if len(bc) else np.zeros(0, np.uint64),
        bound_point=eb_p,
        bound=_f64(eb, "explicitBounds") if len(eb) else np.zeros(0),
        summaries=summaries,
        quantile_point=q_p,
        quantile=_f64(_field(q, "quantile"), "quantile") if len(q) else np.zeros(0),
        quantile_value=_f64(_field(q, "value"), "value") if len(q) else np.zeros(0),
        exp_histograms=_points(e, em, "histogram") if n_exp else _no_points(),
        exp_scale=_i32(_field(e, "scale"), "scale") if n_exp else np.zeros(0, np.int64),
        exp_zero_count=_u64(_field(e, "zeroCount"), "zeroCount") if n_exp else np.zeros(0, np.uint64),
        exp_zero_threshold=_f64(_field(e, "zeroThreshold"), "zeroThreshold") if n_exp else np.zeros(0),
        exp_positive=_buckets(e, "positive"),
        exp_negative=_buckets(e, "negative"),
        number_exemplars=number_exemplars,
        histogram_exemplars=histogram_exemplars,
        exp_exemplars=_exemplars(e) if n_exp else Exemplars.empty(),
    )


def _i32(a: pa.Array, what: str) -> np.ndarray:
    v = _i64(a, what)
    if v.size and (v.min() < -(2**31) or v.max() >= 2**31):
        raise DecodeError(f"{what} is not a 32-bit integer")
    return v


def _buckets(points: pa.Array, name: str) -> ExpBuckets:
    """One side of the exponential histogram points' buckets (``positive``/``negative``)."""
    if not len(points):
        return ExpBuckets.empty()
    side = _field(points, name)
    counts, point = _level(_field(side, "bucketCounts"))
    return ExpBuckets(
        offset=_i32(_field(side, "offset"), f"{name}.offset"),
        point=point,
        count=_u64(counts, "bucketCounts") if len(counts) else np.zeros(0, np.uint64),
    )


def _no_points() -> Points:
    z = np.zeros(0, np.uint64)
    return Points(np.zeros(0, np.int64), z, z, z, Attrs.empty(), np.zeros(0), z, np.zeros(0, np.bool_))


def _empty(n_res: int, resource_attrs: Attrs) -> OtlpBatch:
    z64, zu, zf = np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0)
    return OtlpBatch(
        n_resources=n_res, resource_attrs=resource_attrs, metric_resource=z64, metric_name=EMPTY_STRINGS,
        metric_description=EMPTY_STRINGS, metric_unit=EMPTY_STRINGS, metric_kind=z64, metric_temporality=z64,
        metric_monotonic=np.zeros(0, np.bool_), numbers=_no_points(), histograms=_no_points(), bucket_point=z64,
        bucket_count=zu, bound_point=z64, bound=zf, summaries=_no_points(), quantile_point=z64, quantile=zf,
        quantile_value=zf, exp_histograms=_no_points(), exp_scale=z64, exp_zero_count=zu, exp_zero_threshold=zf,
        exp_positive=ExpBuckets.empty(), exp_negative=ExpBuckets.empty(), number_exemplars=Exemplars.empty(),
        histogram_exemplars=Exemplars.empty(), exp_exemplars=Exemplars.empty(),
    )  # fmt: skip
