"""OTLP metrics: the vectorized protobuf and JSON decoders against protobuf's own parser, and
Prometheus 3's default translation (names, suffixes, job/instance, target_info, histograms,
summaries, start timestamps, staleness, exemplars)."""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import math
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otlp_requests import Request, build, otlp_json

import promlake
from promlake.ingest.otlp import decode_export_request, decode_export_request_json, translate
from promlake.ingest.otlp import names as nm
from promlake.ingest.otlp._values import format_double, format_go_float
from promlake.ingest.otlp.batch import OtlpBatch
from promlake.ingest.otlp.receiver import store
from promlake.ingest.otlp.translate import TranslationError
from promlake.ingest.prompb import DecodeError

mpb = pytest.importorskip("opentelemetry.proto.metrics.v1.metrics_pb2")
CUMULATIVE, DELTA = 2, 1

# -- oracle: protobuf's parser, normalized to the decoder's columns ----------------------------


def as_string(v: Any) -> str:
    """pcommon Value.AsString for a protobuf AnyValue (the oracle side)."""
    kind = v.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "int_value":
        return str(v.int_value)
    if kind == "double_value":
        return format_double(v.double_value)
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()

    def raw(x: Any) -> Any:
        k = x.WhichOneof("value")
        if k == "array_value":
            return [raw(y) for y in x.array_value.values]
        if k == "kvlist_value":
            return {kv.key: raw(kv.value) for kv in x.kvlist_value.values}
        if k == "bytes_value":
            return base64.b64encode(x.bytes_value).decode()
        return None if k is None else getattr(x, k)

    return json.dumps(raw(v), separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def bits(x: float) -> int:
    return int(np.float64(x).view(np.uint64))


def expected(req: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = collections.defaultdict(list)
    m_i = 0
    pts = {"number": 0, "histogram": 0, "summary": 0, "exp": 0}
    for r, rm in enumerate(req.resource_metrics):
        out["resource_attrs"] += [(r, kv.key, as_string(kv.value)) for kv in rm.resource.attributes]
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                data = getattr(m, kind) if kind else None
                temp = getattr(data, "aggregation_temporality", 0) if data is not None else 0
                mono = bool(getattr(data, "is_monotonic", False)) if kind == "sum" else False
                out["metrics"].append((r, m.name, m.description, m.unit, kind or "none", int(temp), mono))
                fam = {
                    "gauge": "number",
                    "sum": "number",
                    "histogram": "histogram",
                    "summary": "summary",
                    "exponential_histogram": "exp",
                }.get(kind or "")
                for p in data.data_points if data is not None else []:
                    assert fam is not None
                    i = pts[fam]
                    pts[fam] += 1
                    attrs = [(kv.key, as_string(kv.value)) for kv in p.attributes]
                    if fam == "number":
                        v = float(p.as_int) if p.WhichOneof("value") == "as_int" else p.as_double
                        out["number"].append(
                            (m_i, p.start_time_unix_nano, p.time_unix_nano, p.flags, bits(v), attrs)
                        )
                    elif fam == "histogram":
                        s = bits(p.sum) if p.HasField("sum") else None
                        out["histogram"].append(
                            (m_i, p.start_time_unix_nano, p.time_unix_nano, p.flags, p.count, s, attrs,
                             list(p.bucket_counts), [bits(b) for b in p.explicit_bounds])
                        )  # fmt: skip
                    elif fam == "exp":
                        s = bits(p.sum) if p.HasField("sum") else None
                        out["exp"].append(
                            (m_i, p.start_time_unix_nano, p.time_unix_nano, p.flags, p.count, s, attrs, p.scale,
                             p.zero_count, bits(p.zero_threshold), p.positive.offset, list(p.positive.bucket_counts),
                             p.negative.offset, list(p.negative.bucket_counts))
                        )  # fmt: skip
                    else:
                        out["summary"].append(
                            (m_i, p.start_time_unix_nano, p.time_unix_nano, p.flags, p.count, bits(p.sum), attrs,
                             [(bits(q.quantile), bits(q.value)) for q in p.quantile_values])
                        )  # fmt: skip
                    for e in getattr(p, "exemplars", []) if fam != "summary" else []:
                        v = float(e.as_int) if e.WhichOneof("value") == "as_int" else e.as_double
                        tid = e.trace_id.hex() if any(e.trace_id) else ""
                        sid = e.span_id.hex() if any(e.span_id) else ""
                        ea = [(kv.key, as_string(kv.value)) for kv in e.filtered_attributes]
                        out[f"{fam}_exemplars"].append((i, e.time_unix_nano, bits(v), tid, sid, ea))
                m_i += 1
    return out


def actual(b: OtlpBatch) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = collections.defaultdict(list)

    def grouped(a: Any, n: int) -> list[list[tuple[str, str]]]:
        g: list[list[tuple[str, str]]] = [[] for _ in range(n)]
        for o, k, v in zip(a.owner.tolist(), a.keys.to_pylist(), a.values.to_pylist(), strict=True):
            g[o].append((k, v))
        return g

    ra = b.resource_attrs
    out["resource_attrs"] = list(
        zip(ra.owner.tolist(), ra.keys.to_pylist(), ra.values.to_pylist(), strict=True)
    )
    kinds = ["none", "gauge", "sum", "histogram", "exponential_histogram", "summary"]
    for i in range(b.n_metrics):
        out["metrics"].append(
            (int(b.metric_resource[i]), b.metric_name[i].as_py(), b.metric_description[i].as_py(),
             b.metric_unit[i].as_py(), kinds[int(b.metric_kind[i])],
             int(b.metric_temporality[i]) if b.metric_kind[i] in (2, 3, 4) else 0, bool(b.metric_monotonic[i]))
        )  # fmt: skip
    n = b.numbers
    attrs = grouped(n.attrs, len(n))
    for i in range(len(n)):
        out["number"].append(
            (
                int(n.metric[i]),
                int(n.start_ns[i]),
                int(n.time_ns[i]),
                int(n.flags[i]),
                bits(n.value[i]),
                attrs[i],
            )
        )
    h = b.histograms
    attrs = grouped(h.attrs, len(h))
    for i in range(len(h)):
        out["histogram"].append(
            (int(h.metric[i]), int(h.start_ns[i]), int(h.time_ns[i]), int(h.flags[i]), int(h.count[i]),
             bits(h.value[i]) if h.has_sum[i] else None, attrs[i],
             b.bucket_count[b.bucket_point == i].tolist(), [bits(x) for x in b.bound[b.bound_point == i]])
        )  # fmt: skip
    s = b.summaries
    attrs = grouped(s.attrs, len(s))
    for i in range(len(s)):
        qs = [
            (bits(q), bits(v))
            for q, v in zip(
                b.quantile[b.quantile_point == i], b.quantile_value[b.quantile_point == i], strict=True
            )
        ]
        out["summary"].append(
            (int(s.metric[i]), int(s.start_ns[i]), int(s.time_ns[i]), int(s.flags[i]), int(s.count[i]),
             bits(s.value[i]), attrs[i], qs)
        )  # fmt: skip
    e = b.exp_histograms
    attrs = grouped(e.attrs, len(e))
    pos, neg = b.exp_positive, b.exp_negative
    for i in range(len(e)):
        out["exp"].append(
            (int(e.metric[i]), int(e.start_ns[i]), int(e.time_ns[i]), int(e.flags[i]), int(e.count[i]),
             bits(e.value[i]) if e.has_sum[i] else None, attrs[i], int(b.exp_scale[i]), int(b.exp_zero_count[i]),
             bits(b.exp_zero_threshold[i]), int(pos.offset[i]), pos.count[pos.point == i].tolist(),
             int(neg.offset[i]), neg.count[neg.point == i].tolist())
        )  # fmt: skip
    exemplars = (
        ("number", b.number_exemplars),
        ("histogram", b.histogram_exemplars),
        ("exp", b.exp_exemplars),
    )
    for fam, ex in exemplars:
        ea = grouped(ex.attrs, len(ex))
        for i in range(len(ex)):
            out[f"{fam}_exemplars"].append(
                (int(ex.point[i]), int(ex.time_ns[i]), bits(ex.value[i]), ex.trace_id[i].as_py(),
                 ex.span_id[i].as_py(), ea[i])
            )  # fmt: skip
    return {k: v for k, v in out.items() if v}


def clean(d: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {k: v for k, v in d.items() if v}


# -- random requests ---------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6)
_key = st.sampled_from(
    ["service.name", "service.namespace", "service.instance.id", "host.name", "k", "job", "le", "ä.b", "9x"]
) | _text.filter(bool)
_u64 = st.integers(0, 2**64 - 1)
_ts = st.integers(0, 2**62)
_double = st.floats(allow_nan=False) | st.sampled_from([math.nan, math.inf, -0.0])


@st.composite
def any_value(draw: Any, depth: int = 0) -> dict[str, Any]:
    kinds = ["s", "b", "i", "d", "e", "y"] + (["a", "kv"] if depth == 0 else [])
    k = draw(st.sampled_from(kinds))
    if k == "s":
        return {"string_value": draw(_text)}
    if k == "b":
        return {"bool_value": draw(st.booleans())}
    if k == "i":
        return {"int_value": draw(st.integers(-(2**63), 2**63 - 1))}
    if k == "d":
        return {"double_value": draw(_double)}
    if k == "y":
        return {"bytes_value": draw(st.binary(max_size=4))}
    if k == "a":
        return {"array_value": {"values": draw(st.lists(any_value(1), max_size=2))}}
    if k == "kv":
        return {
            "kvlist_value": {
                "values": draw(
                    st.lists(
                        st.builds(lambda key, v: {"key": key, "value": v}, _text, any_value(1)), max_size=2
                    )
                )
            }
        }
    return {}


def kvs(max_size: int = 3) -> Any:
    return st.lists(st.builds(lambda k, v: {"key": k, "value": v}, _key, any_value()), max_size=max_size)


@st.composite
def exemplar(draw: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"time_unix_nano": draw(_ts), "filtered_attributes": draw(kvs(2))}
    if draw(st.booleans()):
        e["as_int"] = draw(st.integers(-(2**40), 2**40))
    else:
        e["as_double"] = draw(_double)
    if draw(st.booleans()):
        e["trace_id"] = draw(st.binary(min_size=16, max_size=16))
    if draw(st.booleans()):
        e["span_id"] = draw(st.binary(min_size=8, max_size=8))
    return e


@st.composite
def metric(draw: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "name": draw(st.sampled_from(["http.requests", "cpu.utilization", "latency", "foo_total", "x"])),
        "unit": draw(st.sampled_from(["", "1", "s", "ms", "By", "By/s", "{req}"])),
        "description": draw(st.sampled_from(["", "help text"])),
    }
    kind = draw(st.sampled_from(["gauge", "sum", "histogram", "summary", "exponential_histogram"]))
    n = draw(st.integers(0, 3))

    def common():
        return {
            "time_unix_nano": draw(_ts),
            "start_time_unix_nano": draw(_ts),
            "attributes": draw(kvs()),
            "flags": draw(st.sampled_from([0, 1])),
        }

    if kind in ("gauge", "sum"):
        points = []
        for _ in range(n):
            p = common()
            p["as_int" if draw(st.booleans()) else "as_double"] = (
                draw(st.integers(-(2**53), 2**53)) if "as_int" not in p else 0
            )
            if "as_int" in p:
                p["as_int"] = draw(st.integers(-(2**53), 2**53))
            else:
                p["as_double"] = draw(_double)
            p["exemplars"] = draw(st.lists(exemplar(), max_size=2))
            points.append(p)
        m[kind] = {"data_points": points}
        if kind == "sum":
            m[kind].update(
                aggregation_temporality=draw(st.sampled_from([1, 2])), is_monotonic=draw(st.booleans())
            )
    elif kind == "histogram":
        points = []
        for _ in range(n):
            p = common()
            bounds = sorted(draw(st.lists(st.floats(-1e6, 1e6), max_size=4, unique=True)))
            p.update(
                count=draw(_u64), bucket_counts=draw(st.lists(st.integers(0, 1000), min_size=len(bounds), max_size=len(bounds) + 1)),
                explicit_bounds=bounds, exemplars=draw(st.lists(exemplar(), max_size=2)),
            )  # fmt: skip
            if draw(st.booleans()):
                p["sum"] = draw(_double)
            points.append(p)
        m[kind] = {"data_points": points, "aggregation_temporality": 2}
    elif kind == "summary":
        points = []
        for _ in range(n):
            p = common()
            p.update(
                count=draw(_u64),
                sum=draw(_double),
                quantile_values=[
                    {"quantile": q, "value": draw(_double)}
                    for q in draw(st.lists(st.floats(0, 1), max_size=3))
                ],
            )
            points.append(p)
        m[kind] = {"data_points": points}
    else:
        points = []
        for _ in range(n):
            p = common()
            p.update(
                count=draw(_u64), scale=draw(st.integers(-6, 20) | st.sampled_from([-(2**31), 2**31 - 1])),
                zero_count=draw(_u64), exemplars=draw(st.lists(exemplar(), max_size=2)),
            )  # fmt: skip
            for side in ("positive", "negative"):
                if draw(st.booleans()):
                    p[side] = {
                        "offset": draw(st.integers(-300, 300) | st.sampled_from([-(2**31), 2**31 - 1])),
                        "bucket_counts": draw(st.lists(st.integers(0, 5) | _u64, max_size=5)),
                    }
            for opt in ("sum", "min", "max", "zero_threshold"):
                if draw(st.booleans()):
                    p[opt] = draw(_double)
            points.append(p)
        m[kind] = {"data_points": points, "aggregation_temporality": 2}
    return m


requests = st.builds(
    lambda rms: {"resource_metrics": rms},
    st.lists(
        st.builds(
            lambda attrs, sms: {"resource": {"attributes": attrs}, "scope_metrics": sms},
            kvs(4),
            st.lists(
                st.builds(lambda ms: {"scope": {"name": "s"}, "metrics": ms}, st.lists(metric(), max_size=3)),
                max_size=2,
            ),
        ),
        max_size=3,
    ),
)


# -- decoder properties --------------------------------------------------------------------------

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(requests)
def test_protobuf_decoder_matches_protobuf(d: dict[str, Any]) -> None:
    req = build(d)
    body = req.SerializeToString()
    assert actual(decode_export_request(body)) == clean(expected(req))


@SETTINGS
@given(requests, st.integers(0, 2**32), st.binary(max_size=12))
def test_unknown_fields_are_skipped(d: dict[str, Any], seed: int, payload: bytes) -> None:
    req = build(d)
    body = req.SerializeToString()
    rnd = random.Random(seed)
    num = rnd.choice([2, 3, 15, 16, 100, 2047])
    wire = rnd.choice([0, 1, 2, 5])
    tag = bytes(_varint(num << 3 | wire))
    field = tag + {0: _varint(rnd.getrandbits(40)), 1: payload[:8].ljust(8, b"\0"), 5: payload[:4].ljust(4, b"\0"),
                   2: _varint(len(payload)) + payload}[wire]  # fmt: skip
    body = field + body if rnd.random() < 0.5 else body + field
    assert actual(decode_export_request(body)) == clean(expected(req))


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        out.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
        v >>= 7
        if not v:
            return bytes(out)


@SETTINGS
@given(requests, st.booleans(), st.booleans())
def test_json_decoder_equals_protobuf_decoder(d: dict[str, Any], ints: bool, snake: bool) -> None:
    req = build(d)
    assert actual(decode_export_request_json(otlp_json(req, ints, snake))) == actual(
        decode_export_request(req.SerializeToString())
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests, st.data())
def test_fuzzed_bodies_raise_only_decode_errors(d: dict[str, Any], data: st.DataObject) -> None:
    body = bytearray(build(d).SerializeToString())
    if not body:
        return
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        i = data.draw(st.integers(0, len(body) - 1)) if body else 0
        if op == "flip" and body:
            body[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "cut":
            del body[i:]
        else:
            body[i:i] = data.draw(st.binary(min_size=1, max_size=4))
    try:
        batch = decode_export_request(bytes(body))
    except DecodeError:
        return
    with contextlib.suppress(TranslationError):
        translate(batch)  # whatever decodes must translate or be refused, never crash
    ref = Request()
    try:
        ref.ParseFromString(bytes(body))
    except Exception:
        return  # protobuf validates more (sub-messages Prometheus ignores, UTF-8 there): fine
    assert actual(batch) == clean(expected(ref))


@pytest.mark.parametrize(
    "body",
    [
        b"\x0a",
        b"\x0a\x05\x12\x03",
        b"\x0b",
        b"\x0a\x02\x0a\xff",
        b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    ],
)
def test_malformed_protobuf(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_export_request(body)


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b"{", b'{"resourceMetrics": 5}', b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"gauge": {"dataPoints": [{"asInt": "x"}]}}]}]}]}',
     b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"sum": {"dataPoints": [{"exemplars": [{"traceId": "abc"}]}]}}]}]}]}'],
)  # fmt: skip
def test_malformed_json(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_export_request_json(body)


def test_wrong_length_trace_id_is_an_error() -> None:
    req = build(
        {
            "resource_metrics": [
                {
                    "scope_metrics": [
                        {
                            "metrics": [
                                {
                                    "name": "x",
                                    "sum": {
                                        "aggregation_temporality": 2,
                                        "data_points": [{"as_int": 1, "exemplars": [{"trace_id": b"abc"}]}],
                                    },
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    )
    with pytest.raises(DecodeError, match="trace_id"):
        decode_export_request(req.SerializeToString())


# -- value formatting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("f", "go"),
    [(0.5, "0.5"), (100.0, "100"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (1e-7, "1e-7"),
     (1.5e-7, "1.5e-7"), (0.000001, "0.000001"), (-2.5, "-2.5"), (123456789012345678.0, "123456789012345680")],
)  # fmt: skip
def test_double_attribute_formatting_matches_pcommon(f: float, go: str) -> None:
    assert format_double(f) == go


def test_le_formatting_matches_go() -> None:
    assert [format_go_float(x) for x in (0.005, 1.0, 1e21, math.inf, 2.5e-10)] == [
        "0.005", "1", "1000000000000000000000", "+Inf", "0.00000000025"
    ]  # fmt: skip


# -- translation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "unit", "typ", "want"),
    [
        ("http.server.duration", "ms", nm.HISTOGRAM, "http_server_duration_milliseconds"),
        ("system.cpu.utilization", "1", nm.GAUGE, "system_cpu_utilization_ratio"),
        ("requests", "1", nm.MONOTONIC_COUNTER, "requests_total"),
        ("requests_total", "", nm.MONOTONIC_COUNTER, "requests_total"),
        ("total.requests", "", nm.MONOTONIC_COUNTER, "requests_total"),
        ("queue.size", "{items}", nm.NON_MONOTONIC_COUNTER, "queue_size"),
        ("net.io", "By", nm.MONOTONIC_COUNTER, "net_io_bytes_total"),
        ("net.rate", "By/s", nm.GAUGE, "net_rate_bytes_per_second"),
        ("temp", "Cel", nm.GAUGE, "temp_celsius"),
        ("mem.bytes", "By", nm.GAUGE, "mem_bytes"),
        ("2xx", "", nm.GAUGE, "_2xx"),
        ("a..b__c", "", nm.GAUGE, "a_b_c"),
        ("foo", "m/h", nm.GAUGE, "foo_meters_per_hour"),
        ("foo", "widgets", nm.GAUGE, "foo_widgets"),
        ("latency", "s", nm.SUMMARY, "latency_seconds"),
    ],
)
def test_metric_names(name: str, unit: str, typ: int, want: str) -> None:
    assert nm.build_metric_name(name, unit, typ) == want


@pytest.mark.parametrize(
    ("key", "want"),
    [("http.method", "http_method"), ("a__b", "a_b"), ("__foo.bar__", "__foo_bar__"), ("9x", "key_9x"),
     ("_x", "_x"), ("ä.b", "_b"), ("k8s.pod.name", "k8s_pod_name")],
)  # fmt: skip
def test_label_names(key: str, want: str) -> None:
    assert nm.build_label_name(key) == want


def test_units_in_metadata() -> None:
    assert [nm.build_unit(u) for u in ("By/s", "1", "{req}/s", "ms", "")] == [
        "bytes_per_second",
        "",
        "per_second",
        "milliseconds",
        "",
    ]


def series_of(tr: Any) -> list[tuple[dict[str, str], int, float, int]]:
    d: dict[int, dict[str, str]] = collections.defaultdict(dict)
    for o, k, v in zip(
        tr.series.owner.tolist(), tr.series.names.to_pylist(), tr.series.values.to_pylist(), strict=True
    ):
        if v != "":
            assert k not in d[o], f"duplicate label {k}"
            d[o][k] = v
    return [
        (d[int(s)], int(t), float(v), int(st_))
        for s, t, v, st_ in zip(tr.sample_series, tr.ts, tr.values, tr.st, strict=True)
    ]


RES = {"attributes": [
    {"key": "service.name", "value": {"string_value": "checkout"}},
    {"key": "service.namespace", "value": {"string_value": "shop"}},
    {"key": "service.instance.id", "value": {"string_value": "pod-1"}},
    {"key": "host.name", "value": {"string_value": "node-a"}},
    {"key": "cores", "value": {"int_value": 8}},
]}  # fmt: skip
S = 10**9  # ns per second


def one(metric: dict[str, Any], resource: dict[str, Any] | None = None) -> Any:
    return translate(decode_export_request(build(
        {"resource_metrics": [{"resource": resource if resource is not None else RES, "scope_metrics": [{"metrics": [metric]}]}]}
    ).SerializeToString()))  # fmt: skip


def test_sum_becomes_total_with_job_instance_and_start_time() -> None:
    tr = one({"name": "http.requests", "unit": "1", "description": "reqs", "sum": {
        "aggregation_temporality": CUMULATIVE, "is_monotonic": True,
        "data_points": [{"as_int": 7, "time_unix_nano": 20 * S + 999_999, "start_time_unix_nano": 5 * S,
                         "attributes": [{"key": "http.method", "value": {"string_value": "GET"}},
                                        {"key": "job", "value": {"string_value": "overridden"}}]}]}})  # fmt: skip
    got = series_of(tr)
    assert got[0] == (
        {"__name__": "http_requests_total", "job": "shop/checkout", "instance": "pod-1", "http_method": "GET"},
        20_000, 7.0, 5_000,
    )  # fmt: skip
    ti = [s for s in got if s[0]["__name__"] == "target_info"]
    assert ti == [
        (
            {
                "__name__": "target_info",
                "job": "shop/checkout",
                "instance": "pod-1",
                "host_name": "node-a",
                "cores": "8",
            },
            20_000,
            1.0,
            0,
        )
    ]
    md = {m[0]: m for m in tr.metadata}
    assert md["http_requests_total"] == ("http_requests_total", "counter", "reqs", "")
    assert md["target_info"] == ("target_info", "gauge", "Target metadata", "")


def test_non_monotonic_sum_and_gauge_ratio() -> None:
    tr = one(
        {
            "name": "queue",
            "unit": "{items}",
            "sum": {
                "aggregation_temporality": CUMULATIVE,
                "data_points": [{"as_double": 3.5, "time_unix_nano": S}],
            },
        }
    )
    assert series_of(tr)[0][0]["__name__"] == "queue"
    assert tr.metadata[0][1] == "gauge"
    tr = one(
        {"name": "cpu.util", "unit": "1", "gauge": {"data_points": [{"as_double": 0.5, "time_unix_nano": S}]}}
    )
    assert series_of(tr)[0][0]["__name__"] == "cpu_util_ratio"


def test_service_name_only_and_no_target_info_without_other_attributes() -> None:
    res = {"attributes": [{"key": "service.name", "value": {"string_value": "api"}}]}
    tr = one({"name": "g", "gauge": {"data_points": [{"as_double": 1, "time_unix_nano": S}]}}, res)
    assert [s[0] for s in series_of(tr)] == [{"__name__": "g", "job": "api"}]


def test_target_info_needs_job_or_instance_and_repeats_over_the_time_range() -> None:
    res = {"attributes": [{"key": "host.name", "value": {"string_value": "h"}}]}
    tr = one({"name": "g", "gauge": {"data_points": [{"as_double": 1, "time_unix_nano": S}]}}, res)
    assert [s[0]["__name__"] for s in series_of(tr)] == ["g"]
    pts = [{"as_double": 1, "time_unix_nano": t * S} for t in (0, 400)]
    tr = one({"name": "g", "gauge": {"data_points": pts}})
    ti = [s[1] for s in series_of(tr) if s[0]["__name__"] == "target_info"]
    assert ti == [0, 150_000, 300_000, 400_000]


def test_target_info_over_a_span_of_ages_is_refused_not_unbounded() -> None:
    # Points 100 years apart would need ~21 million target_info samples (one per 150 s).
    pts = [{"as_double": 1, "time_unix_nano": t * S} for t in (0, 100 * 365 * 86_400)]
    with pytest.raises(TranslationError, match="too long a time for target_info"):
        one({"name": "g", "gauge": {"data_points": pts}})
    # Two resources with the same labels share their target_info samples.
    req = {"resource_metrics": [
        {"resource": RES, "scope_metrics": [{"metrics": [{"name": "g", "gauge": {"data_points": [
            {"as_double": 1, "time_unix_nano": t * S} for t in (0, 200)]}}]}]}
        for _ in range(2)
    ]}  # fmt: skip
    tr = translate(decode_export_request(build(req).SerializeToString()))
    assert [s[1] for s in series_of(tr) if s[0]["__name__"] == "target_info"] == [0, 150_000, 200_000]


def test_histogram_buckets_sum_count() -> None:
    tr = one({"name": "rpc.duration", "unit": "s", "histogram": {"aggregation_temporality": CUMULATIVE, "data_points": [
        {"count": 10, "sum": 4.5, "bucket_counts": [2, 3, 4, 1], "explicit_bounds": [0.1, 0.5, 1],
         "time_unix_nano": 60 * S, "start_time_unix_nano": 30 * S, "attributes": [{"key": "le", "value": {"string_value": "x"}}]},
        {"count": 1, "bucket_counts": [1], "time_unix_nano": 60 * S}]}})  # fmt: skip
    got = {
        (s[0]["__name__"], s[0].get("le"), s[0].get("le") is None or "instance" in s[0]): s[2]
        for s in series_of(tr)[:-1]
    }
    base = "rpc_duration_seconds"
    vals = [
        (s[0]["__name__"], s[0].get("le"), s[2], s[3])
        for s in series_of(tr)
        if s[0]["__name__"] != "target_info"
    ]
    assert vals == [
        (f"{base}_sum", "x", 4.5, 30_000), (f"{base}_count", "x", 10.0, 30_000), (f"{base}_count", None, 1.0, 0),
        (f"{base}_bucket", "0.1", 2.0, 30_000), (f"{base}_bucket", "0.5", 5.0, 30_000), (f"{base}_bucket", "1", 9.0, 30_000),
        (f"{base}_bucket", "+Inf", 10.0, 30_000), (f"{base}_bucket", "+Inf", 1.0, 0),
    ]  # fmt: skip
    assert got
    assert ("rpc_duration_seconds", "histogram", "", "seconds") in tr.metadata


def test_summary_quantiles() -> None:
    tr = one({"name": "latency", "unit": "ms", "summary": {"data_points": [
        {"count": 4, "sum": 10, "quantile_values": [{"quantile": 0.5, "value": 2}, {"quantile": 0.99, "value": 7}],
         "time_unix_nano": S}]}})  # fmt: skip
    vals = [
        (s[0]["__name__"], s[0].get("quantile"), s[2])
        for s in series_of(tr)
        if s[0]["__name__"] != "target_info"
    ]
    assert vals == [("latency_milliseconds_sum", None, 10.0), ("latency_milliseconds_count", None, 4.0),
                    ("latency_milliseconds", "0.5", 2.0), ("latency_milliseconds", "0.99", 7.0)]  # fmt: skip


def test_no_recorded_value_is_a_staleness_marker() -> None:
    tr = one({"name": "g", "gauge": {"data_points": [{"as_double": 1, "time_unix_nano": S, "flags": 1}]}})
    assert np.float64(series_of(tr)[0][2]).view(np.uint64) == 0x7FF0000000000002


def test_colliding_attribute_keys_join_values() -> None:
    tr = one({"name": "g", "gauge": {"data_points": [{"as_double": 1, "time_unix_nano": S, "attributes": [
        {"key": "a.b", "value": {"string_value": "1"}}, {"key": "a_b", "value": {"string_value": "2"}},
        {"key": "__name__", "value": {"string_value": "ignored"}}]}]}})  # fmt: skip
    assert series_of(tr)[0][0]["a_b"] == "1;2"
    assert series_of(tr)[0][0]["__name__"] == "g"


def test_delta_temporality_and_missing_data_are_refused() -> None:
    with pytest.raises(TranslationError, match="temporality"):
        one({"name": "d", "sum": {"aggregation_temporality": DELTA, "data_points": [{"as_int": 1}]}})
    with pytest.raises(TranslationError, match="unsupported metric type"):
        one({"name": "nodata"})


def test_exponential_histograms_are_native_histogram_series() -> None:
    tr = one(
        {
            "name": "eh",
            "exponential_histogram": {
                "aggregation_temporality": CUMULATIVE,
                "data_points": [{"count": 1, "time_unix_nano": S}],
            },
        }
    )
    assert [s[0]["__name__"] for s in series_of(tr)] == ["target_info"]  # the float samples
    assert tr.histograms.num_rows == 1 and tr.histogram_series.tolist() == [0]


def test_exemplars_on_sums_and_histogram_buckets() -> None:
    tid, sid = bytes(range(1, 17)), bytes(range(1, 9))

    def ex(v):
        return {
            "as_double": v,
            "time_unix_nano": 2 * S,
            "trace_id": tid,
            "span_id": sid,
            "filtered_attributes": [{"key": "user", "value": {"string_value": "u"}}],
        }

    tr = one({"name": "h", "histogram": {"aggregation_temporality": CUMULATIVE, "data_points": [
        {"count": 3, "bucket_counts": [1, 1, 1], "explicit_bounds": [1, 2], "time_unix_nano": 3 * S,
         "exemplars": [ex(0.5), ex(1.5), ex(0.1), ex(9)]}]}})  # fmt: skip
    s = series_of(tr)
    les = [s[int(i)][0].get("le") for i in tr.exemplar_series]
    assert les == ["1", "2", "2", "+Inf"]  # in order, never back to a lower bucket
    assert tr.exemplar_ts.tolist() == [2000] * 4
    lab: dict[int, dict[str, str]] = collections.defaultdict(dict)
    e = tr.exemplar_labels
    for o, k, v in zip(e.owner.tolist(), e.names.to_pylist(), e.values.to_pylist(), strict=True):
        lab[o][k] = v
    assert lab[0] == {"trace_id": tid.hex(), "span_id": sid.hex(), "user": "u"}
    tr = one({"name": "c", "sum": {"aggregation_temporality": CUMULATIVE, "is_monotonic": True, "data_points": [
        {"as_int": 1, "time_unix_nano": 3 * S, "exemplars": [{"as_int": 1}]}]}})  # fmt: skip
    assert tr.exemplar_series.tolist() == [0] and tr.exemplar_ts.tolist() == [3000]


def test_store_writes_series_start_times_and_metadata(tmp_path: Any) -> None:
    body = build({"resource_metrics": [{"resource": RES, "scope_metrics": [{"metrics": [
        {"name": "jobs.done", "sum": {"aggregation_temporality": CUMULATIVE, "is_monotonic": True, "data_points": [
            {"as_int": 3, "time_unix_nano": 60 * S, "start_time_unix_nano": 30 * S}]}}]}]}]}).SerializeToString()  # fmt: skip
    with promlake.open(tmp_path) as lake:
        result = store(lake, body, "application/x-protobuf")
        assert result.samples == 2
        df = lake.sql("SELECT metric, ts, st, value FROM metrics ORDER BY metric")
        rows = list(
            zip(
                df["metric"].to_list(),
                df["ts"].to_list(),
                df["st"].to_list(),
                df["value"].to_list(),
                strict=True,
            )
        )
        assert rows == [("jobs_done_total", 60_000, 30_000, 3.0), ("target_info", 60_000, None, 1.0)]


@SETTINGS
@given(requests)
def test_translation_yields_valid_series(d: dict[str, Any]) -> None:
    req = build(d)
    try:
        tr = translate(decode_export_request(req.SerializeToString()))
    except TranslationError:
        return
    series_of(tr)  # no duplicate label names
    from promlake.engine import SeriesBatch

    s = tr.series
    SeriesBatch.from_arrow(s.owner, s.names, s.values, s.n).series_ids()
    exp = expected(req)
    n = len(exp["number"]) + len(exp["summary"]) * 2 + sum(len(p[7]) for p in exp["summary"])
    n += sum((p[5] is not None) + 2 + min(len(p[7]), len(p[8])) for p in exp["histogram"])
    assert tr.histograms.num_rows == tr.histogram_series.size == len(exp["exp"])
    n_ti = sum(
        1
        for k, v in zip(s.names.to_pylist(), s.values.to_pylist(), strict=True)
        if (k, v) == ("__name__", "target_info")
    )
    assert tr.ts.size == n + n_ti == s.n - len(exp["exp"])
