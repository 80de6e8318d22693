"""Native histograms (prometheus.Histogram, io.prometheus.write.v2.Histogram) to an Arrow table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ._columns import (
    as_float64,
    as_int64,
    check_wires,
    fixed64_at,
    flat,
    last_per_region,
    repeated_scalar,
    submessages,
    varint_values,
    zigzag,
)
from ._scan import scan
from ._schema import WIRE_I64, WIRE_LEN, WIRE_VARINT, Field, Schema
from ._wire import I64, U64, Body
from .batch import EMPTY_HISTOGRAMS, HISTOGRAM_SCHEMA

_V, _D, _L = WIRE_VARINT, WIRE_I64, WIRE_LEN


def histogram_schema(package: str, with_start_ts: bool) -> Schema:
    span = _span_schema(package)
    fields: tuple[Field, ...] = (
        Field(1, _V, "count_int"),
        Field(2, _D, "count_float"),
        Field(3, _D, "sum"),
        Field(4, _V, "schema"),
        Field(5, _D, "zero_threshold"),
        Field(6, _V, "zero_count_int"),
        Field(7, _D, "zero_count_float"),
        Field(8, _L, "negative_spans", message=span),
        Field(9, _V, "negative_deltas", packable=True),
        Field(10, _D, "negative_counts", packable=True),
        Field(11, _L, "positive_spans", message=span),
        Field(12, _V, "positive_deltas", packable=True),
        Field(13, _D, "positive_counts", packable=True),
        Field(14, _V, "reset_hint"),
        Field(15, _V, "timestamp"),
        Field(16, _D, "custom_values", packable=True),
    )
    if with_start_ts:
        fields += (Field(17, _V, "start_timestamp"),)
    return Schema(f"{package}.Histogram", fields)


def _span_schema(package: str) -> Schema:
    return Schema(f"{package}.BucketSpan", (Field(1, _V, "offset"), Field(2, _V, "length")))


def _low32(v: U64) -> U64:
    # Go's generated code truncates 32-bit varint fields to their low 32 bits; so do we.
    return v & np.uint64(0xFFFFFFFF)


def _offsets(parent: I64, n: int) -> pa.Array:
    counts = np.bincount(parent, minlength=n) if parent.size else np.zeros(n, np.int64)
    off = np.zeros(n + 1, np.int32)
    np.cumsum(counts, out=off[1:])
    return pa.array(off, pa.int32())


def decode_histograms(
    body: Body, s: I64, e: I64, series: I64, schema: Schema, legacy_start_ts: I64 | None = None
) -> pa.Table:
    """All histogram messages at ``[s, e)`` as one HISTOGRAM_SCHEMA row each."""
    n = s.size
    if n == 0:
        return EMPTY_HISTOGRAMS
    pkg = schema.name.rsplit(".", 1)[0]
    f = scan(body, s, e, schema)
    check_wires(f, schema)

    def last(number: int) -> tuple[I64, U64]:
        x = schema.field(number)
        i = last_per_region(f, x.tag, n)
        v = np.zeros(n, np.uint64)
        has = i >= 0
        at = f.start[i[has]]
        v[has] = fixed64_at(body, at) if x.wire == WIRE_I64 else varint_values(body, at)
        return i, v

    # oneofs: whichever member came last on the wire is the one that is set.
    ci, count_int = last(1)
    cf, count_float = last(2)
    is_float = cf > ci
    zi, zero_int = last(6)
    zf, zero_float = last(7)
    cols: dict[str, pa.Array] = {
        "series": pa.array(series.astype(np.int32)),
        "timestamp": pa.array(as_int64(last(15)[1])),
        "start_timestamp": pa.array(
            as_int64(last(17)[1]) if len(schema.fields) > 16 else np.zeros(n, np.int64)
        ),
        "is_float": pa.array(is_float),
        "count_int": pa.array(np.where(is_float, np.uint64(0), count_int)),
        "count_float": pa.array(np.where(is_float, as_float64(count_float), 0.0)),
        "sum": pa.array(as_float64(last(3)[1])),
        "schema": pa.array(zigzag(_low32(last(4)[1])).astype(np.int32)),
        "zero_threshold": pa.array(as_float64(last(5)[1])),
        "zero_count_int": pa.array(np.where(zf > zi, np.uint64(0), zero_int)),
        "zero_count_float": pa.array(np.where(zf > zi, as_float64(zero_float), 0.0)),
        "reset_hint": pa.array(_low32(last(14)[1]).astype(np.uint32).view(np.int32)),
    }
    if legacy_start_ts is not None:
        st = cols["start_timestamp"].to_numpy()
        cols["start_timestamp"] = pa.array(np.where(st == 0, legacy_start_ts, st))
    spans = _span_schema(pkg)
    for side, (span_no, delta_no, count_no) in {"negative": (8, 9, 10), "positive": (11, 12, 13)}.items():
        ss, se, sp = submessages(f, span_no << 3 | WIRE_LEN)
        off_raw, len_raw = flat(body, ss, se, spans)
        values = pa.StructArray.from_arrays(
            [
                pa.array(zigzag(_low32(off_raw)).astype(np.int32)),
                pa.array(_low32(len_raw).astype(np.uint32)),
            ],
            fields=list(HISTOGRAM_SCHEMA.field(f"{side}_spans").type.value_type),
        )
        cols[f"{side}_spans"] = pa.ListArray.from_arrays(_offsets(sp, n), values)
        d, dp, _ = repeated_scalar(body, f, schema.field(delta_no), f"{schema.name}.{side}_deltas")
        cols[f"{side}_deltas"] = pa.ListArray.from_arrays(_offsets(dp, n), pa.array(zigzag(d)))
        c, cp, _ = repeated_scalar(body, f, schema.field(count_no), f"{schema.name}.{side}_counts")
        cols[f"{side}_counts"] = pa.ListArray.from_arrays(_offsets(cp, n), pa.array(as_float64(c)))
    cv, cvp, _ = repeated_scalar(body, f, schema.field(16), f"{schema.name}.custom_values")
    cols["custom_values"] = pa.ListArray.from_arrays(_offsets(cvp, n), pa.array(as_float64(cv)))
    return pa.Table.from_arrays([cols[x.name] for x in HISTOGRAM_SCHEMA], schema=HISTOGRAM_SCHEMA)
