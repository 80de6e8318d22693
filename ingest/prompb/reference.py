"""The remote-write protobuf schemas as ``protobuf`` message classes, built at runtime.

For tests, benchmarks and tools that want an independent oracle (we have no ``protoc``); the
decoders never use this module. Field numbers and types follow upstream ``prompb/types.proto``,
``prompb/remote.proto`` (package ``prometheus``) and ``prompb/io/prometheus/write/v2/types.proto``.
"""

from __future__ import annotations

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
        "BucketSpan": [("offset", 1, "sint32", False, None, None), ("length", 2, "uint32", False, None, None)],
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
            "UNKNOWN", "COUNTER", "GAUGE", "HISTOGRAM", "GAUGEHISTOGRAM", "SUMMARY", "INFO", "STATESET",
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
        "BucketSpan": [("offset", 1, "sint32", False, None, None), ("length", 2, "uint32", False, None, None)],
    }
    enums = {
        "Metadata.MetricType": [
            "METRIC_TYPE_" + t
            for t in ("UNSPECIFIED", "COUNTER", "GAUGE", "HISTOGRAM", "GAUGEHISTOGRAM", "SUMMARY", "INFO", "STATESET")
        ],
        "Histogram.ResetHint": ["RESET_HINT_" + t for t in ("UNSPECIFIED", "YES", "NO", "GAUGE")],
    }
    return p, messages, enums


@cache
def _classes(version: int) -> dict[str, Any]:
    pkg, messages, enums = _v1() if version == 1 else _v2()
    fdp = descriptor_pb2.FileDescriptorProto(name=f"promlake_rw_v{version}.proto", package=pkg, syntax="proto3")
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
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{pkg}.{name}")) for name in messages}


def v1_classes() -> dict[str, Any]:
    """Message classes of ``prometheus.WriteRequest`` and its parts, keyed by short name."""
    return _classes(1)


def v2_classes() -> dict[str, Any]:
    """Message classes of ``io.prometheus.write.v2.Request`` and its parts, keyed by short name."""
    return _classes(2)
