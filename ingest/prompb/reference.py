"""The remote-write protobuf schemas as ``protobuf`` message classes, built at runtime.

For tests, benchmarks and tools that want an independent oracle (we have no ``protoc``); the
decoders never use this module. Field numbers and types follow upstream ``prompb/types.proto``,
``prompb/remote.proto`` (package ``prometheus``) and ``prompb/io/prometheus/write/v2/types.proto``.
"""

from __future__ import annotations

import struct
from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_T = {
    "double": _F.TYPE_DOUBLE,
    "int64": _F.TYPE_INT64,
    "uint64": _F.TYPE_UINT64,
    "uint32": _F.TYPE_UINT32,
    "sint32": _F.TYPE_SINT32,
    "sint64": _F.TYPE_SINT64,
    "string": _F.TYPE_STRING,
    "enum": _F.TYPE_ENUM,
    "msg": _F.TYPE_MESSAGE,
}

# (name, number, type, repeated, type_name or None, oneof index or None)
_Field = tuple[str, int, str, bool, str | None, int | None]


def _histogram(pkg: str, extra: list[_Field]) -> list[_Field]:
    span = f".{pkg}.BucketSpan"
    return [
        ("count_int", 1, "uint64", False, None, 0),
        ("count_float", 2, "double", False, None, 0),
        ("sum", 3, "double", False, None, None),
        ("schema", 4, "sint32", False, None, None),
        ("zero_threshold", 5, "double", False, None, None),
        ("zero_count_int", 6, "uint64", False, None, 1),
        ("zero_count_float", 7, "double", False, None, 1),
        ("negative_spans", 8, "msg", True, span, None),
        ("negative_deltas", 9, "sint64", True, None, None),
        ("negative_counts", 10, "double", True, None, None),
        ("positive_spans", 11, "msg", True, span, None),
        ("positive_deltas", 12, "sint64", True, None, None),
        ("positive_counts", 13, "double", True, None, None),
        ("reset_hint", 14, "enum", False, f".{pkg}.Histogram.ResetHint", None),
        ("timestamp", 15, "int64", False, None, None),
        ("custom_values", 16, "double", True, None, None),
        *extra,
    ]


def _v1() -> tuple[str, dict[str, list[_Field]], dict[str, list[str]]]:
    p = "prometheus"
    messages: dict[str, list[_Field]] = {
        "MetricMetadata": [
            ("type", 1, "enum", False, f".{p}.MetricMetadata.MetricType", None),
            ("metric_family_name", 2, "string", False, None, None),
            ("help", 4, "string", False, None, None),
            ("unit", 5, "string", False, None, None),
        ],
        "Sample": [("value", 1, "double", False, None, None), ("timestamp", 2, "int64", False, None, None)],
        "Exemplar": [
            ("labels", 1, "msg", True, f".{p}.Label", None),
            ("value", 2, "double", False, None, None),
            ("timestamp", 3, "int64", False, None, None),
        ],
        "Histogram": _histogram(p, []),
        "BucketSpan": [
            ("offset", 1, "sint32", False, None, None),
            ("length", 2, "uint32", False, None, None),
        ],
        "TimeSeries": [
            ("labels", 1, "msg", True, f".{p}.Label", None),
            ("samples", 2, "msg", True, f".{p}.Sample", None),
            ("exemplars", 3, "msg", True, f".{p}.Exemplar", None),
            ("histograms", 4, "msg", True, f".{p}.Histogram", None),
        ],
        "Label": [("name", 1, "string", False, None, None), ("value", 2, "string", False, None, None)],
        "WriteRequest": [
            ("timeseries", 1, "msg", True, f".{p}.TimeSeries", None),
            ("metadata", 3, "msg", True, f".{p}.MetricMetadata", None),
        ],
    }
    enums = {
        "MetricMetadata.MetricType": [
            "UNKNOWN",
            "COUNTER",
            "GAUGE",
            "HISTOGRAM",
            "GAUGEHISTOGRAM",
            "SUMMARY",
            "INFO",
            "STATESET",
        ],
        "Histogram.ResetHint": ["UNKNOWN", "YES", "NO", "GAUGE"],
    }
    return p, messages, enums


def _v2() -> tuple[str, dict[str, list[_Field]], dict[str, list[str]]]:
    p = "io.prometheus.write.v2"
    messages: dict[str, list[_Field]] = {
        "Request": [
            ("symbols", 4, "string", True, None, None),
            ("timeseries", 5, "msg", True, f".{p}.TimeSeries", None),
        ],
        "TimeSeries": [
            ("labels_refs", 1, "uint32", True, None, None),
            ("samples", 2, "msg", True, f".{p}.Sample", None),
            ("histograms", 3, "msg", True, f".{p}.Histogram", None),
            ("exemplars", 4, "msg", True, f".{p}.Exemplar", None),
            ("metadata", 5, "msg", False, f".{p}.Metadata", None),
            # Before Prometheus 3.9 (reserved since; the decoder still reads it as a fallback).
            ("created_timestamp", 6, "int64", False, None, None),
        ],
        "Exemplar": [
            ("labels_refs", 1, "uint32", True, None, None),
            ("value", 2, "double", False, None, None),
            ("timestamp", 3, "int64", False, None, None),
        ],
        "Sample": [
            ("value", 1, "double", False, None, None),
            ("timestamp", 2, "int64", False, None, None),
            ("start_timestamp", 3, "int64", False, None, None),
        ],
        "Metadata": [
            ("type", 1, "enum", False, f".{p}.Metadata.MetricType", None),
            ("help_ref", 3, "uint32", False, None, None),
            ("unit_ref", 4, "uint32", False, None, None),
        ],
        "Histogram": _histogram(p, [("start_timestamp", 17, "int64", False, None, None)]),
        "BucketSpan": [
            ("offset", 1, "sint32", False, None, None),
            ("length", 2, "uint32", False, None, None),
        ],
    }
    enums = {
        "Metadata.MetricType": [
            "METRIC_TYPE_" + t
            for t in (
                "UNSPECIFIED",
                "COUNTER",
                "GAUGE",
                "HISTOGRAM",
                "GAUGEHISTOGRAM",
                "SUMMARY",
                "INFO",
                "STATESET",
            )
        ],
        "Histogram.ResetHint": ["RESET_HINT_" + t for t in ("UNSPECIFIED", "YES", "NO", "GAUGE")],
    }
    return p, messages, enums


def file_descriptor(version: int) -> descriptor_pb2.FileDescriptorProto:
    """The schema of remote write ``version`` (1 or 2) as a FileDescriptorProto (a fresh copy)."""
    pkg, messages, enums = _v1() if version == 1 else _v2()
    fdp = descriptor_pb2.FileDescriptorProto(
        name=f"promlake_rw_v{version}.proto", package=pkg, syntax="proto3"
    )
    for name, fields in messages.items():
        m = fdp.message_type.add(name=name)
        if name == "Histogram":
            m.oneof_decl.add(name="count")
            m.oneof_decl.add(name="zero_count")
        for fname, num, typ, rep, type_name, oneof in fields:
            f = m.field.add(name=fname, number=num, type=_T[typ])
            f.label = _F.LABEL_REPEATED if rep else _F.LABEL_OPTIONAL
            if type_name:
                f.type_name = type_name
            if oneof is not None:
                f.oneof_index = oneof
        for ename, values in enums.items():
            owner, _, short = ename.partition(".")
            if owner == name:
                e = m.enum_type.add(name=short)
                for i, v in enumerate(values):
                    e.value.add(name=v, number=i)
    return fdp


def classes_for(fdp: descriptor_pb2.FileDescriptorProto) -> dict[str, Any]:
    """Message classes (keyed by short name) of a file descriptor, in a private pool."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{fdp.package}.{m.name}"))
        for m in fdp.message_type
    }


@cache
def _classes(version: int) -> dict[str, Any]:
    return classes_for(file_descriptor(version))


def v1_classes() -> dict[str, Any]:
    """Message classes of ``prometheus.WriteRequest`` and its parts, keyed by short name."""
    return _classes(1)


def v2_classes() -> dict[str, Any]:
    """Message classes of ``io.prometheus.write.v2.Request`` and its parts, keyed by short name."""
    return _classes(2)


# --- Oracle: one plain-Python shape for a parsed protobuf message and for a WriteBatch -------
#
# {"series": [{"labels": [(name, value)], "samples": [(value bits, ts, start_ts)],
#              "exemplars": [([(name, value)], value bits, ts)], "histograms": [dict]}],
#  "metadata": [(series or None, family, type, help, unit)]}
# Floats are compared as their 64-bit patterns so NaN payloads (stale markers) count.


def _bits(x: float) -> int:
    return struct.unpack("<q", struct.pack("<d", x))[0]


_TYPES = ("unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset")


def _type_name(code: int) -> str:
    return _TYPES[code] if 0 <= code < len(_TYPES) else "unknown"


def _hist(h: Any, start_ts: int) -> dict[str, Any]:
    is_float = h.WhichOneof("count") == "count_float"
    zero_float = h.WhichOneof("zero_count") == "zero_count_float"
    return {
        "timestamp": h.timestamp,
        "start_timestamp": start_ts,
        "is_float": is_float,
        "count_int": 0 if is_float else h.count_int,
        "count_float": _bits(h.count_float) if is_float else 0,
        "sum": _bits(h.sum),
        "schema": h.schema,
        "zero_threshold": _bits(h.zero_threshold),
        "zero_count_int": 0 if zero_float else h.zero_count_int,
        "zero_count_float": _bits(h.zero_count_float) if zero_float else 0,
        "negative_spans": [(s.offset, s.length) for s in h.negative_spans],
        "negative_deltas": list(h.negative_deltas),
        "negative_counts": [_bits(c) for c in h.negative_counts],
        "positive_spans": [(s.offset, s.length) for s in h.positive_spans],
        "positive_deltas": list(h.positive_deltas),
        "positive_counts": [_bits(c) for c in h.positive_counts],
        "reset_hint": h.reset_hint,
        "custom_values": [_bits(c) for c in h.custom_values],
    }


def message_to_python(msg: Any, version: int) -> dict[str, Any]:
    """Normalize a parsed ``WriteRequest`` (1) or ``Request`` (2); raises ValueError where the
    decoders must raise (v2 symbol rules)."""
    if version == 1:
        v1series = [
            {
                "labels": [(lb.name, lb.value) for lb in ts.labels],
                "samples": [(_bits(s.value), s.timestamp, 0) for s in ts.samples],
                "exemplars": [
                    ([(lb.name, lb.value) for lb in e.labels], _bits(e.value), e.timestamp)
                    for e in ts.exemplars
                ],
                "histograms": [_hist(h, 0) for h in ts.histograms],
            }
            for ts in msg.timeseries
        ]
        v1meta = [(None, m.metric_family_name, _type_name(m.type), m.help, m.unit) for m in msg.metadata]
        return {"series": v1series, "metadata": v1meta}
    sym = list(msg.symbols)
    if (msg.timeseries or sym) and (not sym or sym[0] != ""):
        raise ValueError("symbols table must start with the empty string")

    def pairs(refs: Any) -> list[tuple[str, str]]:
        if len(refs) % 2 or any(r >= len(sym) for r in refs):
            raise ValueError("bad labels_refs")
        return [(sym[refs[i]], sym[refs[i + 1]]) for i in range(0, len(refs), 2)]

    series: list[dict[str, Any]] = []
    meta: list[tuple[int | None, str, str, str, str]] = []
    for i, ts in enumerate(msg.timeseries):
        labels = pairs(ts.labels_refs)
        series.append(
            {
                "labels": labels,
                "samples": [
                    (_bits(s.value), s.timestamp, s.start_timestamp or ts.created_timestamp)
                    for s in ts.samples
                ],
                "exemplars": [(pairs(e.labels_refs), _bits(e.value), e.timestamp) for e in ts.exemplars],
                "histograms": [_hist(h, h.start_timestamp or ts.created_timestamp) for h in ts.histograms],
            }
        )
        if ts.HasField("metadata"):
            m = ts.metadata
            if m.help_ref >= len(sym) or m.unit_ref >= len(sym):
                raise ValueError("bad metadata ref")
            if _type_name(m.type) != "unknown" or sym[m.help_ref] or sym[m.unit_ref]:
                family = next((v for n, v in labels if n == "__name__"), "")
                meta.append((i, family, _type_name(m.type), sym[m.help_ref], sym[m.unit_ref]))
    return {"series": series, "metadata": meta}


def batch_to_python(batch: Any) -> dict[str, Any]:
    """Normalize a ``WriteBatch`` (slowly, one value at a time: for tests only)."""
    series: list[dict[str, Any]] = [
        {"labels": [], "samples": [], "exemplars": [], "histograms": []} for _ in range(batch.n_series)
    ]
    for s, n, v in zip(
        batch.label_series, batch.label_names.to_pylist(), batch.label_values.to_pylist(), strict=True
    ):
        series[s]["labels"].append((n, v))
    bits = batch.sample_values.view("<i8")
    for s, b, t, st in zip(batch.sample_series, bits, batch.sample_ts, batch.sample_start_ts, strict=True):
        series[s]["samples"].append((int(b), int(t), int(st)))
    ex_labels: list[list[tuple[str, str]]] = [[] for _ in range(batch.exemplar_ts.size)]
    for e, n, v in zip(
        batch.exemplar_label_exemplar,
        batch.exemplar_label_names.to_pylist(),
        batch.exemplar_label_values.to_pylist(),
        strict=True,
    ):
        ex_labels[e].append((n, v))
    ebits = batch.exemplar_values.view("<i8")
    for k, (s, b, t) in enumerate(zip(batch.exemplar_series, ebits, batch.exemplar_ts, strict=True)):
        series[s]["exemplars"].append((ex_labels[k], int(b), int(t)))
    for row in batch.histograms.to_pylist():
        s = row.pop("series")
        for key in ("count_float", "sum", "zero_threshold", "zero_count_float"):
            row[key] = _bits(row[key])
        for key in ("negative_counts", "positive_counts", "custom_values"):
            row[key] = [_bits(c) for c in row[key]]
        for key in ("negative_spans", "positive_spans"):
            row[key] = [(x["offset"], x["length"]) for x in row[key]]
        series[s]["histograms"].append(row)
    meta = [
        (r["series"], r["metric_family_name"], r["type"], r["help"], r["unit"])
        for r in batch.metadata.to_pylist()
    ]
    return {"series": series, "metadata": meta}
