"""/api/v1/query, query_range, format_query, parse_query: answers and every error path."""

from __future__ import annotations

import json
import time

import pytest
from apidata import T0

from promlake.api import query as query_mod
from promlake.engine.errors import StorageError
from promlake.promql2sql.errors import CanceledError, ExecutionError, QueryTimeoutError
from promlake.promql2sql.limits import QueryLimits
from promlake.promql2sql.result import QueryResult
from promlake.promql2sql.signatures import ValueType

S0 = T0 // 1000  # the first sample, in seconds


def error(r, status, error_type, message):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"status": "error", "errorType": error_type, "error": message}


def test_grafana_health_check_is_byte_exact(client):
    r = client.get("/api/v1/query", params={"query": "1+1", "time": "4"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.content == b'{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}'


def test_instant_vector(client):
    r = client.get("/api/v1/query", params={"query": "up", "time": str(S0 + 100)})
    assert r.content == (
        b'{"status":"success","data":{"resultType":"vector","result":['
        b'{"metric":{"__name__":"up","instance":"a:1","job":"api"},"value":[1700000100,"1"]},'
        b'{"metric":{"__name__":"up","instance":"b:1","job":"api"},"value":[1700000100,"0"]}]}}'
    )


def test_instant_time_keeps_milliseconds_and_accepts_rfc3339(client):
    r = client.get("/api/v1/query", params={"query": "up", "time": f"{S0 + 100}.5"})
    assert b'"value":[1700000100.500,"1"]' in r.content
    r = client.get("/api/v1/query", params={"query": "time()", "time": "2015-07-01T20:10:51.781Z"})
    assert r.json()["data"] == {"resultType": "scalar", "result": [1435781451.781, "1435781451.781"]}


def test_missing_time_is_now(client):
    before = time.time()
    result = client.get("/api/v1/query", params={"query": "time()"}).json()["data"]["result"]
    assert before - 1 <= result[0] <= time.time() + 1


def test_values_are_formatted_like_go_and_labels_escaped(client):
    r = client.get("/api/v1/query", params={"query": "odd", "time": str(S0 + 100)})
    got = {s["metric"]["case"]: s["value"][1] for s in r.json()["data"]["result"]}
    assert got == {"small": "1e-07", "big": "1e+21", "nan": "NaN", "inf": "-Inf", 'quote"<&>\n': "0.5"}
    assert b'"quote\\"\\u003c\\u0026\\u003e\\n"' in r.content


def test_scalar_results_never_use_exponents(client):
    r = client.get("/api/v1/query", params={"query": "1e-7", "time": "1"})
    assert r.json()["data"]["result"] == [1, "0.0000001"]


def test_string_result(client):
    r = client.get("/api/v1/query", params={"query": '"a<b"', "time": "1.5"})
    assert r.content == b'{"status":"success","data":{"resultType":"string","result":[1.5,"a\\u003cb"]}}'


def test_instant_range_vector_is_a_matrix(client):
    r = client.get("/api/v1/query", params={"query": 'up{instance="a:1"}[30s]', "time": str(S0 + 60)})
    data = r.json()["data"]
    assert data["resultType"] == "matrix"
    assert data["result"][0]["values"] == [[S0 + 45, "1"], [S0 + 60, "1"]]


def test_post_form_equals_get_and_the_body_wins(client):
    get = client.get("/api/v1/query", params={"query": "up", "time": str(S0 + 100)})
    post = client.post("/api/v1/query", data={"query": "up", "time": str(S0 + 100)})
    assert post.content == get.content
    both = client.post("/api/v1/query?query=nonexistent&time=1", data={"query": "up", "time": str(S0 + 100)})
    assert both.content == get.content


def test_range_query(client):
    r = client.get(
        "/api/v1/query_range",
        params={"query": 'up{instance="a:1"}', "start": str(S0), "end": str(S0 + 60), "step": "15s"},
    )
    assert r.content == (
        b'{"status":"success","data":{"resultType":"matrix","result":['
        b'{"metric":{"__name__":"up","instance":"a:1","job":"api"},"values":'
        b'[[1700000000,"1"],[1700000015,"1"],[1700000030,"1"],[1700000045,"1"],[1700000060,"1"]]}]}}'
    )


def test_range_query_of_a_scalar_is_a_matrix_without_labels(client):
    r = client.post("/api/v1/query_range", data={"query": "1", "start": "0", "end": "2", "step": "1"})
    assert r.json()["data"] == {
        "resultType": "matrix",
        "result": [{"metric": {}, "values": [[0, "1"], [1, "1"], [2, "1"]]}],
    }


def test_range_query_series_without_points_are_left_out(client):
    r = client.get("/api/v1/query_range", params={"query": "up", "start": "0", "end": "100", "step": "10"})
    assert r.json()["data"] == {"resultType": "matrix", "result": []}


def test_eleven_thousand_steps_pass_and_one_more_fails(client):
    ok = client.get("/api/v1/query_range", params={"query": "up", "start": "0", "end": "11000", "step": "1"})
    assert ok.status_code == 200
    r = client.get("/api/v1/query_range", params={"query": "up", "start": "0", "end": "11001", "step": "1"})
    message = "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    error(r, 400, "bad_data", message)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"start": "x", "end": "1", "step": "1"},
            'invalid parameter "start": cannot parse "x" to a valid timestamp',
        ),
        ({"start": "1", "step": "1"}, 'invalid parameter "end": cannot parse "" to a valid timestamp'),
        (
            {"start": "10", "end": "1", "step": "1"},
            'invalid parameter "end": end timestamp must not be before start time',
        ),
        (
            {"start": "1", "end": "2", "step": "x"},
            'invalid parameter "step": cannot parse "x" to a valid duration',
        ),
        (
            {"start": "1", "end": "2", "step": "0"},
            'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer',
        ),
        (
            {"start": "1", "end": "2", "step": "1", "limit": "-1"},
            'invalid parameter "limit": limit must be non-negative',
        ),
        (
            {"start": "1", "end": "2", "step": "1", "timeout": "x"},
            'invalid parameter "timeout": cannot parse "x" to a valid duration',
        ),
    ],
)
def test_range_parameter_errors(client, params, message):
    error(client.get("/api/v1/query_range", params={"query": "up", **params}), 400, "bad_data", message)


def test_range_query_of_a_range_vector_is_bad_data(client):
    r = client.get("/api/v1/query_range", params={"query": "up[5m]", "start": "1", "end": "2", "step": "1"})
    message = 'invalid parameter "query": invalid expression type "range vector" for range query, must be Scalar or instant Vector'
    error(r, 400, "bad_data", message)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"query": "sum("}, 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis'),
        (
            {"query": ""},
            'invalid parameter "query": unknown position: parse error: no expression found in input',
        ),
        (
            {"query": "up", "time": "x"},
            'invalid parameter "time": invalid time value for \'time\': cannot parse "x" to a valid timestamp',
        ),
        (
            {"query": "up", "limit": "x"},
            'invalid parameter "limit": strconv.Atoi: parsing "x": invalid syntax',
        ),
        (
            {"query": "up", "lookback_delta": "x"},
            'error parsing lookback delta duration: cannot parse "x" to a valid duration',
        ),
    ],
)
def test_instant_parameter_errors(client, params, message):
    error(client.get("/api/v1/query", params=params), 400, "bad_data", message)


def test_limit_truncates_series_with_a_warning(client):
    body = client.get("/api/v1/query", params={"query": "up", "time": str(S0 + 100), "limit": "1"}).json()
    assert len(body["data"]["result"]) == 1
    assert body["warnings"] == ["results truncated due to limit"]
    body = client.get("/api/v1/query", params={"query": "up", "time": str(S0 + 100), "limit": "2"}).json()
    assert len(body["data"]["result"]) == 2 and "warnings" not in body


def test_lookback_delta_parameter(client):
    late = str(S0 + 800)  # 200 s after the last sample
    assert (
        len(client.get("/api/v1/query", params={"query": "up", "time": late}).json()["data"]["result"]) == 2
    )
    short = client.get("/api/v1/query", params={"query": "up", "time": late, "lookback_delta": "1m"})
    assert short.json()["data"]["result"] == []


def test_stats(client):
    body = client.get("/api/v1/query", params={"query": "up", "time": str(S0 + 100), "stats": "true"}).json()
    stats = body["data"]["stats"]
    assert set(stats["timings"]) == {
        "evalTotalTime",
        "resultSortTime",
        "queryPreparationTime",
        "innerEvalTime",
        "execQueueTime",
        "execTotalTime",
    }
    # Samples at T0 + k*15s: the 5m lookback before S0+100 holds k = 0..6 of both `up` series;
    # the limit's total adds their 2 series x 1 step grid (promql2sql/sample_count.py).
    assert stats["samples"] == {"samplesRead": 14, "peakSamples": 16}
    ranged = client.get(
        "/api/v1/query_range",
        params={"query": "up", "start": str(S0 + 100), "end": str(S0 + 160), "step": "15", "stats": "all"},
    ).json()["data"]["stats"]
    assert ranged["samples"] == {"samplesRead": 22, "peakSamples": 32}  # k = 0..10; 2 x 5 steps
    assert "warnings" not in body
    odd = client.get("/api/v1/query", params={"query": "up", "time": str(S0 + 100), "stats": "1"}).json()
    assert "stats" in odd["data"]
    assert odd["warnings"] == [
        'value "1" for parameter "stats" is deprecated and will be rejected in the next major release, use "true" or "all"'
    ]


def test_engine_annotations_become_warnings_and_infos(client):
    info = client.get("/api/v1/query", params={"query": "rate(up[5m])", "time": str(S0 + 300)}).json()
    assert info["infos"][0].startswith("PromQL info: metric might not be a counter")
    assert "warnings" not in info
    warn = client.get(
        "/api/v1/query", params={"query": "histogram_quantile(0.5, up)", "time": str(S0 + 100)}
    ).json()
    assert warn["warnings"][0].startswith("PromQL warning: bucket label")
    assert "infos" not in warn


def test_more_than_ten_annotations_are_capped(client, monkeypatch):
    res = QueryResult(ValueType.SCALAR, warnings=tuple(f"w{i}" for i in range(12)))
    res = QueryResult(ValueType.STRING, string="s", points=res.points, warnings=res.warnings)
    _fake_engine(monkeypatch, lambda: res)
    body = client.get("/api/v1/query", params={"query": "1"}).json()
    assert body["warnings"] == [f"w{i}" for i in range(10)] + ["2 more warning annotations omitted"]


def _fake_engine(monkeypatch, behaviour):
    class Fake:
        limits = QueryLimits()

        def __init__(self, lake, **kw):
            pass

        def instant(self, query, t, token=None, stats=False):
            return behaviour()

        def range(self, query, start, end, step, token=None, stats=False):
            return behaviour()

    monkeypatch.setattr(query_mod, "Engine", Fake)


def _raise(exc):
    def go():
        raise exc

    return go


@pytest.mark.parametrize(
    ("exc", "status", "error_type"),
    [
        (ExecutionError("many-to-many matching not allowed"), 422, "execution"),
        (QueryTimeoutError("query timed out in expression evaluation"), 503, "timeout"),
        (CanceledError("query was canceled in expression evaluation"), 499, "canceled"),
        (StorageError("disk on fire"), 500, "internal"),
        (RuntimeError("a bug"), 500, "internal"),
    ],
)
def test_engine_errors_map_to_prometheus_types(client, monkeypatch, exc, status, error_type):
    _fake_engine(monkeypatch, _raise(exc))
    r = client.get("/api/v1/query", params={"query": "up"})
    assert r.status_code == status
    assert r.json()["errorType"] == error_type
    assert str(exc) in r.json()["error"]
    r = client.get("/api/v1/query_range", params={"query": "up", "start": "1", "end": "2", "step": "1"})
    assert r.status_code == status


def test_an_error_type_attribute_wins_over_the_class(client, monkeypatch):
    class Odd(Exception):
        error_type = "bad_data"

    _fake_engine(monkeypatch, _raise(Odd("told so")))
    error(client.get("/api/v1/query", params={"query": "up"}), 400, "bad_data", "told so")


def test_timeout_parameter_bounds_the_wait_even_if_the_engine_ignores_it(client, monkeypatch):
    def stuck():
        time.sleep(3.0)
        return QueryResult(ValueType.SCALAR)

    _fake_engine(monkeypatch, stuck)
    started = time.monotonic()
    r = client.get("/api/v1/query", params={"query": "up", "timeout": "50ms"})
    assert time.monotonic() - started < 2.5
    error(r, 503, "timeout", "query timed out in expression evaluation")


def test_timeout_parameter_reaches_the_engine(client):
    r = client.get("/api/v1/query", params={"query": "up", "timeout": "0s"})
    assert r.status_code == 503 and r.json()["errorType"] == "timeout"
    assert r.json()["error"].startswith("query timed out in ")


def test_format_query(client):
    r = client.get("/api/v1/format_query", params={"query": "sum by(job)(rate(x[5m]))"})
    assert r.json() == {"status": "success", "data": "sum by (job) (rate(x[5m]))"}
    long = "sum(rate(" + "a" * 60 + "[5m])) + sum(rate(" + "b" * 60 + "[5m]))"
    assert "\n" in client.post("/api/v1/format_query", data={"query": long}).json()["data"]
    error(
        client.get("/api/v1/format_query", params={"query": "sum("}),
        400,
        "bad_data",
        'invalid parameter "query": 1:5: parse error: unclosed left parenthesis',
    )


def test_parse_query_ast(client):
    r = client.get(
        "/api/v1/parse_query",
        params={"query": 'sum by (job) (rate(http_requests_total{code="200"}[5m] offset 1m)) > bool 2'},
    )
    data = r.json()["data"]
    assert (
        data["type"] == "binaryExpr"
        and data["op"] == ">"
        and data["bool"] is True
        and data["matching"] is None
    )
    assert data["rhs"] == {"type": "numberLiteral", "val": "2"}
    agg = data["lhs"]
    assert (agg["type"], agg["op"], agg["grouping"], agg["without"], agg["param"]) == (
        "aggregation",
        "sum",
        ["job"],
        False,
        None,
    )
    call = agg["expr"]
    assert call["func"] == {"name": "rate", "argTypes": ["matrix"], "variadic": 0, "returnType": "vector"}
    ms = call["args"][0]
    assert ms == {
        "type": "matrixSelector",
        "name": "http_requests_total",
        "range": 300000,
        "offset": 60000,
        "matchers": [
            {"name": "code", "value": "200", "type": "="},
            {"name": "__name__", "value": "http_requests_total", "type": "="},
        ],
        "timestamp": None,
        "startOrEnd": None,
        "anchored": False,
        "smoothed": False,
    }


def test_parse_query_vector_matching_and_modifiers(client):
    data = client.get("/api/v1/parse_query", params={"query": "a * on(x) group_left(y) b @ end()"}).json()[
        "data"
    ]
    assert data["matching"] == {
        "card": "many-to-one",
        "labels": ["x"],
        "on": True,
        "include": ["y"],
        "fillValues": {"lhs": None, "rhs": None},
    }
    assert data["rhs"]["startOrEnd"] == "end"
    call = client.get("/api/v1/parse_query", params={"query": "max_over_time((-x)[1h:5m] @ 100)"}).json()[
        "data"
    ]
    sub = call["args"][0]
    assert (sub["type"], sub["range"], sub["step"], sub["timestamp"], sub["startOrEnd"]) == (
        "subquery",
        3600000,
        300000,
        100000,
        None,
    )
    assert sub["expr"]["type"] == "parenExpr"
    assert (sub["expr"]["expr"]["type"], sub["expr"]["expr"]["op"]) == ("unaryExpr", "-")
    assert json.loads(client.get("/api/v1/parse_query", params={"query": '"s"'}).content)["data"] == {
        "type": "stringLiteral",
        "val": "s",
    }


def test_a_client_that_goes_away_cancels_its_query():
    import anyio

    from promlake.promql2sql.limits import CancelToken

    messages = iter([{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}])

    class Request:
        async def receive(self):
            return next(messages)

    token = CancelToken()
    anyio.run(query_mod._cancel_on_disconnect, Request(), token)
    assert token.canceled
