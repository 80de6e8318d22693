"""Fuzzing the HTTP API: whatever a client sends, the answer is never a 5xx and always readable.

* ``/api/v1/write``: random bytes, snappy of random bytes, mutated valid 1.0/2.0 bodies. The
  answer is 204 or 4xx; after a 4xx nothing stored changed (a request is all or nothing).
  Timestamps the lake cannot file (outside years 1..9999) are refused, and the lake still
  flushes after all of it.
* ``/api/v1/query`` and ``query_range``: PromQL from a small grammar, mutated valid queries
  and random text. 200, 400 ``bad_data`` or 422 ``execution``, and the error envelope
  whenever it is not 200.
* Every read endpoint with fuzzed ``time``/``start``/``end``/``step``/``timeout``/``limit``/
  ``lookback_delta``/``match[]``: never a 5xx (except upstream's own 503 ``timeout`` for a
  zero or negative ``timeout``), always the envelope.

Runs are derandomized (the same examples every run) and small enough for the default suite;
``PROMLAKE_FUZZ_SCALE=N`` multiplies the example counts, ``PROMLAKE_FUZZ_RANDOM=1`` draws fresh
ones, and ``--hypothesis-show-statistics`` shows the status codes reached.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import cramjam
import pyarrow as pa
import pytest
from apidata import T0, FakeState, load
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from promlake.api.app import create_app
from promlake.engine import Lake
from promlake.ingest import prompb
from promlake.ingest.remote_write import MAX_STORABLE_MS, MIN_STORABLE_MS, PROTO_V1, PROTO_V2
from promlake.selfmon import Metrics

S0 = T0 // 1000
# PROMLAKE_FUZZ_SCALE=20 runs twenty times the examples for a deeper look; PROMLAKE_FUZZ_RANDOM=1
# draws new examples each run (with --hypothesis-seed to replay one) instead of the fixed ones.
SCALE = int(os.environ.get("PROMLAKE_FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=200 * SCALE,
    derandomize=not os.environ.get("PROMLAKE_FUZZ_RANDOM"),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- helpers ------------------------------------------------------------------------------------
def _event(r: Any) -> None:
    """The status codes seen, for ``--hypothesis-show-statistics``."""
    if currently_in_test_context():
        event(f"HTTP {r.status_code}")


def assert_envelope(r: Any, allowed: set[int] | None = None) -> dict[str, Any] | None:
    """The answer is a Prometheus envelope (or an empty 204) and not a 5xx; returns the body."""
    _event(r)
    assert r.status_code < 500, (r.status_code, r.text)
    if allowed is not None:
        assert r.status_code in allowed, (r.status_code, r.text)
    if r.status_code == 204:
        assert r.content == b""
        return None
    assert r.headers["content-type"] == "application/json", r.headers
    body = r.json()
    assert isinstance(body, dict)
    if r.status_code == 200:
        assert body.get("status") == "success", body
        assert "data" in body
        assert "errorType" not in body and "error" not in body
    else:
        assert body.get("status") == "error", body
        assert isinstance(body["errorType"], str) and body["errorType"], body
        assert isinstance(body["error"], str) and body["error"], body
    for key in ("warnings", "infos"):
        if key in body:
            assert isinstance(body[key], list) and body[key], body
    return body


# --- remote write -------------------------------------------------------------------------------
V1 = f"application/x-protobuf;proto={PROTO_V1}"
V2 = f"application/x-protobuf;proto={PROTO_V2}"


@dataclass
class Writable:
    lake: Lake
    client: TestClient


@pytest.fixture(scope="module")
def writable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Writable]:
    """A lake of its own (the shared one is read-only), never flushed while the module runs, so
    the head alone shows what a request stored."""
    lake = Lake(tmp_path_factory.mktemp("fuzz-write"), head_flush_min_bytes=1 << 40)
    load(lake)
    yield Writable(lake, TestClient(create_app(FakeState(lake, Metrics(lake)))))
    lake.close()


def stored(lake: Lake) -> tuple[Any, ...]:
    """Everything a write request can change: series, samples, exemplars, metadata."""
    gens = [*lake.flushing, lake.head]
    return (
        len(lake.index),
        len(lake.blocks),
        sum(g.n_samples for g in gens),
        sum(g.exemplar_table().num_rows for g in gens),
        tuple(sorted((k, v.type, v.help, v.unit) for k, v in lake.metadata.items())),
    )


def _valid_batch(ts0: int) -> prompb.WriteBatch:
    """Two series with samples, an exemplar and metadata: every part of a request."""
    meta = pa.Table.from_pylist(
        [{"series": 0, "metric_family_name": "fuzz_total", "type": "counter", "help": "Fuzz.", "unit": ""}],
        schema=prompb.METADATA_SCHEMA,
    )
    return prompb.WriteBatch.build(
        n_series=2,
        label_series=[0, 0, 1, 1],
        label_names=["__name__", "job", "__name__", "job"],
        label_values=["fuzz_total", "w", "fuzz_gauge", "w"],
        sample_series=[0, 0, 1],
        sample_ts=[ts0, ts0 + 15_000, ts0],
        sample_values=[1.0, 2.0, 0.5],
        exemplar_series=[0],
        exemplar_ts=[ts0],
        exemplar_values=[1.0],
        exemplar_label_exemplar=[0],
        exemplar_label_names=["trace_id"],
        exemplar_label_values=["t1"],
        metadata=meta,
    )


# Bodies at times far from the loaded data (and from each other's), so a valid one stores.
VALID = {
    1: prompb.encode_write_request_v1(_valid_batch(T0 + 50_000_000)),
    2: prompb.encode_write_request_v2(_valid_batch(T0 + 60_000_000)),
}


def _snappy(body: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(body))


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    """A valid body with a few byte-level mutations (flip, insert, delete, truncate, splice)."""
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "dup"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x1A, 0x22, 0x09]))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[pos:]
        elif kind == "dup":
            end = min(len(data), pos + draw(st.integers(1, 32)))
            data[end:end] = data[pos:end]
    return bytes(data)


def _post_write(w: Writable, body: bytes, ctype: str | None, encoding: str | None) -> Any:
    headers = {"X-Prometheus-Remote-Write-Version": "0.1.0"}
    if ctype is not None:
        headers["Content-Type"] = ctype
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    before = stored(w.lake)
    r = w.client.post("/api/v1/write", content=body, headers=headers)
    _event(r)
    assert r.status_code == 204 or 400 <= r.status_code < 500, (r.status_code, r.text)
    if r.status_code != 204:
        assert stored(w.lake) == before, r.text  # refused: all or nothing
    return r


CTYPES = st.sampled_from([V1, V2, "application/x-protobuf", None, ""])


@FUZZ
@given(
    body=st.binary(max_size=512),
    ctype=CTYPES,
    encoding=st.sampled_from(["snappy", None, "", "gzip", "SNAPPY"]),
)
def test_write_random_bytes(writable: Writable, body: bytes, ctype: str | None, encoding: str | None) -> None:
    _post_write(writable, body, ctype, encoding)


@FUZZ
@given(body=st.binary(max_size=512), ctype=CTYPES)
def test_write_snappy_of_random_bytes(writable: Writable, body: bytes, ctype: str | None) -> None:
    _post_write(writable, _snappy(body), ctype, "snappy")


@settings(FUZZ, max_examples=400 * SCALE)
@given(data=st.data(), version=st.sampled_from([1, 2]))
def test_write_mutated_valid_bodies(writable: Writable, data: st.DataObject, version: int) -> None:
    body = data.draw(mutated(VALID[version]))
    r = _post_write(writable, _snappy(body), V1 if version == 1 else V2, "snappy")
    if r.status_code == 204:
        # What was stored is readable through the API.
        q = writable.client.get("/api/v1/series", params={"match[]": '{job=~".+"}'})
        assert_envelope(q, {200})


@FUZZ
@given(data=st.data(), version=st.sampled_from([1, 2]))
def test_write_mutated_snappy_stream(writable: Writable, data: st.DataObject, version: int) -> None:
    compressed = _snappy(VALID[version])
    _post_write(writable, data.draw(mutated(compressed)), V1 if version == 1 else V2, "snappy")


def test_write_valid_bodies_store_and_wrong_headers_are_415(writable: Writable) -> None:
    for version, ctype in ((1, V1), (2, V2)):
        body = _snappy(VALID[version])
        assert _post_write(writable, body, ctype, "gzip").status_code == 415
        assert _post_write(writable, body, "application/json", "snappy").status_code == 415
        assert _post_write(writable, body, "application/x-protobuf;proto=nope", "snappy").status_code == 415
        before = stored(writable.lake)
        assert _post_write(writable, body, ctype, "snappy").status_code == 204
        assert stored(writable.lake) != before
        assert _post_write(writable, body, ctype, "snappy").status_code == 204  # identical resend


def test_write_empty_headers_mean_the_defaults(writable: Writable) -> None:
    """Upstream reads headers with Go's Header.Get, where empty and absent are the same: an
    empty Content-Type is remote write 1.0 and an empty Content-Encoding snappy (this was a
    415 here)."""
    body = _snappy(prompb.encode_write_request_v1(_valid_batch(T0 + 80_000_000)))
    before = stored(writable.lake)
    assert _post_write(writable, body, "", "").status_code == 204
    assert stored(writable.lake) != before
    assert _post_write(writable, body, None, None).status_code == 204  # identical resend


def test_write_conflicting_duplicate_is_refused_whole(writable: Writable) -> None:
    ts0 = T0 + 70_000_000
    first = _valid_batch(ts0)
    assert (
        _post_write(writable, _snappy(prompb.encode_write_request_v1(first)), V1, "snappy").status_code == 204
    )
    # A new series plus a conflicting value for an existing sample: nothing of it is stored.
    batch = prompb.WriteBatch.build(
        n_series=2,
        label_series=[0, 1, 1],
        label_names=["__name__", "__name__", "job"],
        label_values=["fuzz_brand_new", "fuzz_gauge", "w"],
        sample_series=[0, 1],
        sample_ts=[ts0, ts0],
        sample_values=[1.0, 99.0],
    )
    r = _post_write(writable, _snappy(prompb.encode_write_request_v1(batch)), V1, "snappy")
    assert r.status_code == 400 and "duplicate sample" in r.text, r.text
    q = writable.client.get("/api/v1/series", params={"match[]": "fuzz_brand_new"})
    assert q.json() == {"status": "success", "data": []}


@FUZZ
@given(
    ts=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=3),
    ex_ts=st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    version=st.sampled_from([1, 2]),
)
def test_write_any_int64_timestamp(
    writable: Writable, ts: list[int], ex_ts: int | None, version: int
) -> None:
    """Every int64 is a valid protobuf timestamp; what the lake cannot file is a 400, not a 204
    that later breaks the flush (see test_write_fuzz_left_a_flushable_lake)."""
    n = len(ts)
    batch = prompb.WriteBatch.build(
        n_series=1,
        label_series=[0],
        label_names=["__name__"],
        label_values=["fuzz_ts"],
        sample_series=[0] * n,
        sample_ts=ts,
        sample_values=list(range(n)),
        exemplar_series=[] if ex_ts is None else [0],
        exemplar_ts=[] if ex_ts is None else [ex_ts],
        exemplar_values=[] if ex_ts is None else [1.0],
    )
    encode = prompb.encode_write_request_v1 if version == 1 else prompb.encode_write_request_v2
    r = _post_write(writable, _snappy(encode(batch)), V1 if version == 1 else V2, "snappy")
    every = [*ts, *([] if ex_ts is None else [ex_ts])]
    if not all(MIN_STORABLE_MS <= t <= MAX_STORABLE_MS for t in every):
        assert r.status_code == 400 and "out of bounds" in r.text, r.text


def test_write_fuzz_left_a_flushable_lake(writable: Writable) -> None:
    """After all the fuzzed writes above, the head still goes to Parquet and reads back."""
    before = writable.client.get("/api/v1/series", params={"match[]": '{__name__=~".+"}'}).json()
    writable.lake.flush()
    after = writable.client.get("/api/v1/series", params={"match[]": '{__name__=~".+"}'}).json()
    assert before["status"] == after["status"] == "success"
    assert after["data"] == before["data"]


# --- PromQL -------------------------------------------------------------------------------------
QUERIES = [
    "up",
    'up{job="api"}',
    "rate(http_requests_total[1m])",
    "sum by (job) (up)",
    "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
    "1+1",
    "time()",
    'label_replace(up, "a", "$1", "instance", "(.*):.*")',
    "max_over_time(up[5m:30s])",
    "up offset 1m",
    "up @ 1700000100",
    "topk(1, odd)",
    'count_values("v", up)',
    "sum(rate(http_requests_total[5m])) / sum(up)",
    "up and on(instance) up",
    "-odd",
    'absent(nonexistent{job="x"})',
    "vector(1) unless up",
    "abs(odd) > bool 0.1",
    '{__name__=~"up|odd"}',
    "quantile_over_time(0.5, odd[2m])",
    "predict_linear(http_requests_total[5m], 60)",
    "sort_desc(sum without (instance) (up))",
    '"string"',
    "scalar(up)",
]
_PROMQL_PIECES = [
    "by", "without", "on", "ignoring", "group_left", "offset", "bool", "and", "or", "unless", "[5m]",
    "[1s:1ms]", "1e308", "Inf", "NaN", "0x1f", "sum(", "rate(", "up", "odd", "5m", "@ end()",
]  # fmt: skip
PROMQL_ALPHABET = st.sampled_from(
    [*"()[]{}=~!,\"'`:@+-*/%^<>.0123456789 \n\tabcdeimnorstuxy_$\\", *_PROMQL_PIECES]
)


@st.composite
def mutated_query(draw: st.DrawFn) -> str:
    text = list(draw(st.sampled_from(QUERIES)))
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(PROMQL_ALPHABET)
        if kind == "insert":
            text[pos:pos] = [piece]
        elif kind == "delete":
            del text[pos : pos + draw(st.integers(1, 4))]
        else:
            text[pos : pos + 1] = [piece]
    return "".join(text)


# Well-typed-ish PromQL built from the grammar, so that most of it parses and reaches the
# engine (mutations and random text mostly stop at the parser).
_VECTORS = st.sampled_from(
    ["up", "odd", 'http_requests_total{job="api"}', "nope", '{__name__=~"up|odd"}', 'odd{case!="nan"}']
)
_SCALARS = st.sampled_from(["1", "0", "-1.5", "NaN", "Inf", "-Inf", "1e308", "time()", "scalar(up)"])
_RANGES = st.sampled_from(["[1m]", "[5m]", "[15s]", "[1h]", "[2m:15s]", "[10m:1m]", "[1m] offset 1m"])
_MODIFIERS = st.sampled_from(["", " offset 5m", " offset -30s", " @ 1700000300", " @ start()", " @ end()"])
_RANGE_FUNC_NAMES = [
    "rate", "irate", "increase", "delta", "deriv", "changes", "resets", "avg_over_time", "idelta",
    "max_over_time", "stddev_over_time", "last_over_time", "present_over_time", "count_over_time",
]  # fmt: skip
_RANGE_FUNCS = st.sampled_from(_RANGE_FUNC_NAMES)
_FUNCS = st.sampled_from(
    [
        "rate",
        "irate",
        "increase",
        "delta",
        "deriv",
        "changes",
        "resets",
        "avg_over_time",
        "max_over_time",
        "stddev_over_time",
        "last_over_time",
        "present_over_time",
        "count_over_time",
        "idelta",
    ]
)
_FUNCS = st.sampled_from(
    ["abs", "ceil", "floor", "exp", "ln", "sqrt", "sgn", "timestamp", "-", "sort", "sort_desc", "absent"]
)
_AGGS = st.sampled_from(["sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"])
_BINOPS = st.sampled_from(
    ["+", "-", "*", "/", "%", "^", "== bool", "!= bool", "> bool", "<", ">=", "and", "or", "unless", "atan2"]
)
_MATCHING = st.sampled_from(
    ["", " on()", " on(job)", " ignoring(case)", " on(instance) group_left", " ignoring(job) group_right"]
)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(_FUNCS, inner).map(lambda t: f"{t[0]}({t[1]})" if t[0] != "-" else f"-({t[1]})"),
        st.tuples(_AGGS, st.sampled_from(["", " by (job)", " without (case)", " by ()"]), inner).map(
            lambda t: f"{t[0]}{t[1]} ({t[2]})"
        ),
        st.tuples(st.sampled_from(["topk", "bottomk", "quantile", "limitk"]), _SCALARS, inner).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
        st.tuples(inner, _BINOPS, _MATCHING, inner).map(
            lambda t: (
                f"({t[0]}) {t[1]}{t[2] if t[1] not in ('and', 'or', 'unless') or 'group' not in t[2] else ''} ({t[3]})"
            )
        ),
        st.tuples(_RANGE_FUNCS, inner, _RANGES).map(lambda t: f"{t[0]}(({t[1]}){t[2]})"),
        st.tuples(
            st.sampled_from(["clamp_max", "clamp_min", "round", "histogram_quantile"]), _SCALARS, inner
        ).map(
            lambda t: f"{t[0]}({t[2]}, {t[1]})" if t[0] != "histogram_quantile" else f"{t[0]}({t[1]}, {t[2]})"
        ),
    )


GRAMMAR_QUERY = st.recursive(
    st.one_of(
        st.tuples(_VECTORS, _MODIFIERS).map("".join),
        st.tuples(_RANGE_FUNCS, _VECTORS, _RANGES, _MODIFIERS).map(lambda t: f"{t[0]}({t[1]}{t[2]}{t[3]})"),
        _SCALARS,
    ),
    _extend,
    max_leaves=4,
)

QUERY_TEXT = st.one_of(
    GRAMMAR_QUERY,
    mutated_query(),
    st.text(max_size=40),
    st.lists(PROMQL_ALPHABET, max_size=12).map("".join),
    st.sampled_from(QUERIES),
)


def assert_query_answer(r: Any) -> None:
    body = assert_envelope(r, {200, 400, 422})
    assert body is not None
    if r.status_code == 400:
        assert body["errorType"] == "bad_data"
    elif r.status_code == 422:
        assert body["errorType"] == "execution"
    else:
        assert body["data"]["resultType"] in ("matrix", "vector", "scalar", "string")
        assert body["data"]["result"] is not None


@FUZZ
@given(query=QUERY_TEXT, post=st.booleans())
def test_fuzzed_instant_queries(client: TestClient, query: str, post: bool) -> None:
    params = {"query": query, "time": str(S0 + 300), "timeout": "20s"}
    r = client.post("/api/v1/query", data=params) if post else client.get("/api/v1/query", params=params)
    assert_query_answer(r)


@FUZZ
@given(query=QUERY_TEXT, post=st.booleans())
def test_fuzzed_range_queries(client: TestClient, query: str, post: bool) -> None:
    params = {"query": query, "start": str(S0), "end": str(S0 + 600), "step": "30", "timeout": "20s"}
    url = "/api/v1/query_range"
    r = client.post(url, data=params) if post else client.get(url, params=params)
    assert_query_answer(r)


# --- parameters ---------------------------------------------------------------------------------
_NUMBER_TEXTS = [
    "NaN", "nan", "+Inf", "-Inf", "inf", "Infinity", "1e308", "-1e308", "1e-308", "0x1p-2", "1_000",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "0", "-0", "-1", "1.5e12",
    "0.0001", ".5", "5.", "+1", "1e", "0x", "1__0", str(S0), f"{S0}.123", f"{S0 * 1000}",
]  # fmt: skip
_TIME_TEXTS = [
    "2023-11-14T22:13:20Z", "2023-11-14T22:13:20.123456789Z", "2023-11-14T22:13:20+01:00",
    "2023-11-14T22:13:20-23:59", "2023-11-14T22:13:20+24:00", "2023-02-30T00:00:00Z",
    "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20",
    "2023-11-14t22:13:20z", "2023-11-14T22:13:60Z", "2023-11-14T22:13:20,5Z", "now", "",
    "-292273086-05-16T16:47:06Z", "292277025-08-18T07:12:54.999999999Z",
]  # fmt: skip
NUMBERS = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(_NUMBER_TEXTS),
)
TIMES = st.one_of(NUMBERS, st.sampled_from(_TIME_TEXTS), st.text(max_size=20))
_DURATION_TEXTS = [
    "5m", "1h30m", "1d", "100ms", "1y", "1.5m", "30m1h", "-5m", "0", "0s", "1w2d", "999999999999y",
    "9223372036854775807ms", "", "1ns", "1us", "15s", "60s", "1h1h",
]  # fmt: skip
DURATIONS = st.one_of(NUMBERS, st.sampled_from(_DURATION_TEXTS), st.text(max_size=12))
LIMITS = st.one_of(NUMBERS, st.text(max_size=8))
_MATCH_TEXTS = [
    "up", '{job="api"}', '{__name__!=""}', '{__name__=~".+"}', '{job=~".*"}', "{}", 'up{job="a"',
    '{__name__=~"(("}', "rate(up[5m])", '{"http.status"="ok"}', 'odd{case=~".*"}', "1", "",
    '{__name__="up" or job="api"}', "up[5m]", '{a=~"x|"}', '{job!~"api"}',
]  # fmt: skip
MATCHES = st.one_of(st.sampled_from(_MATCH_TEXTS), st.text(max_size=20))
READ_ENDPOINTS = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/job/values",
    "/api/v1/label/__name__/values",
    "/api/v1/label/U__http_2e_status/values",
    "/api/v1/metadata",
    "/api/v1/query_exemplars",
]
GET_ONLY = ("/api/v1/label/", "/api/v1/metadata")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@st.composite
def fuzzed_params(draw: st.DrawFn) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for name, values in (
        ("time", TIMES),
        ("start", TIMES),
        ("end", TIMES),
        ("step", DURATIONS),
        ("timeout", DURATIONS),
        ("lookback_delta", DURATIONS),
        ("limit", LIMITS),
        ("limit_per_metric", LIMITS),
        ("metric", st.sampled_from(["up", "", "nope", "http_requests_total"])),
        ("stats", st.sampled_from(["", "true", "all", "yes"])),
    ):
        if draw(st.booleans()):
            params.append((name, draw(values)))
    for _ in range(draw(st.integers(0, 2))):
        params.append(("match[]", draw(MATCHES)))
    if draw(st.integers(0, 4)) > 0:
        params.append(
            ("query", draw(st.sampled_from(["up", "sum(rate(http_requests_total[1m]))", "1", "odd"])))
        )
    return params


@settings(FUZZ, max_examples=300 * SCALE)
@given(endpoint=st.sampled_from(READ_ENDPOINTS), params=fuzzed_params(), post=st.booleans())
def test_fuzzed_parameters(
    client: TestClient, endpoint: str, params: list[tuple[str, str]], post: bool
) -> None:
    if post and not endpoint.startswith(GET_ONLY):
        r = client.post(endpoint, content=urlencode(params), headers=FORM)
    else:
        r = client.get(endpoint, params=params)
    if r.status_code == 503 and any(k == "timeout" for k, _ in params):
        # A zero or negative timeout expires before the query starts: upstream answers this
        # very error (503, "query timed out in query queue"), so it is not a crash.
        assert r.json() == {
            "status": "error",
            "errorType": "timeout",
            "error": "query timed out in query queue",
        }
        return
    body = assert_envelope(r)
    if r.status_code == 204:
        assert endpoint == "/api/v1/query_exemplars"  # upstream's answer for a selector-free query
    elif r.status_code == 200 and body is not None and endpoint in ("/api/v1/query", "/api/v1/query_range"):
        assert body["data"]["resultType"] in ("matrix", "vector", "scalar", "string")


@FUZZ
@given(time=TIMES)
def test_fuzzed_time_alone(client: TestClient, time: str) -> None:
    body = assert_envelope(client.get("/api/v1/query", params={"query": "time()", "time": time}), {200, 400})
    assert body is not None
    if body["status"] == "success":
        ts, value = body["data"]["result"]
        assert isinstance(ts, int | float) and isinstance(value, str)


@FUZZ
@given(start=TIMES, end=TIMES, step=DURATIONS)
def test_fuzzed_range_grid(client: TestClient, start: str, end: str, step: str) -> None:
    params = {"query": "up", "start": start, "end": end, "step": step, "timeout": "20s"}
    assert_envelope(client.get("/api/v1/query_range", params=params), {200, 400, 422})


@FUZZ
@given(name=st.text(min_size=1, max_size=16))
def test_fuzzed_label_name_in_path(client: TestClient, name: str) -> None:
    r = client.get(f"/api/v1/label/{quote(name, safe='')}/values")
    assert_envelope(r)


def test_envelope_helper_rejects_a_bare_fastapi_body() -> None:
    """The checker itself: a FastAPI default body is not an envelope."""

    class Fake:
        status_code = 422
        headers: ClassVar[dict[str, str]] = {"content-type": "application/json"}
        text = '{"detail": []}'
        content = text.encode()

        def json(self) -> Any:
            return {"detail": []}

    with pytest.raises(AssertionError):
        assert_envelope(Fake())


def test_huge_exemplar_range_in_milliseconds(client: TestClient) -> None:
    """Grafana's exemplar probe sends milliseconds where seconds belong (years ~55000)."""
    params = {"query": "test", "start": str(T0 - 3_600_000), "end": str(T0 + 3_600_000)}
    body = assert_envelope(client.get("/api/v1/query_exemplars", params=params), {200})
    assert body == {"status": "success", "data": []}
