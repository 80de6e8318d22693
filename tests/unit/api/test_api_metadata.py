"""/api/v1/series, /labels, /label/<name>/values, /metadata and /query_exemplars."""

from __future__ import annotations

import pytest
from apidata import T0

S0 = T0 // 1000
UP = [
    {"__name__": "up", "instance": "a:1", "job": "api"},
    {"__name__": "up", "instance": "b:1", "job": "api"},
]
ALL_NAMES = ["__name__", "case", "code", "http.status", "instance", "job"]


def ok(r):
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success"
    return body


def error(r, status, message):
    assert r.status_code == status, r.text
    assert r.json() == {"status": "error", "errorType": "bad_data", "error": message}


def test_series(client):
    assert ok(client.get("/api/v1/series", params={"match[]": "up"}))["data"] == UP
    both = client.get("/api/v1/series", params=[("match[]", 'up{instance="b:1"}'), ("match[]", "head_only")])
    assert ok(both)["data"] == [{"__name__": "head_only", "job": "x"}, UP[1]]


def test_series_are_sorted_as_label_sets(client):
    got = ok(client.get("/api/v1/series", params={"match[]": '{__name__=~"up|odd"}'}))["data"]
    cases = [s.get("case") for s in got if s["__name__"] == "odd"]
    assert cases == sorted(cases)
    assert [s["__name__"] for s in got] == ["odd"] * 5 + ["up"] * 2


def test_series_post_and_time_range(client):
    assert ok(client.post("/api/v1/series", data={"match[]": "up"}))["data"] == UP
    after = client.get("/api/v1/series", params={"match[]": '{__name__=~".+"}', "start": str(S0 + 900)})
    assert ok(after)["data"] == [{"__name__": "head_only", "job": "x"}]
    before = client.get("/api/v1/series", params={"match[]": "up", "end": str(S0 - 1)})
    assert ok(before)["data"] == []


def test_series_limit(client):
    body = ok(client.get("/api/v1/series", params={"match[]": "up", "limit": "1"}))
    assert body["data"] == UP[:1] and body["warnings"] == ["results truncated due to limit"]
    assert "warnings" not in ok(client.get("/api/v1/series", params={"match[]": "up", "limit": "2"}))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "no match[] parameter provided"),
        ({"match[]": "up+1"}, 'invalid parameter "match[]": 1:3: parse error: unexpected <op:+>'),
        ({"match[]": "up[5m]"}, 'invalid parameter "match[]": 1:3: parse error: unexpected "["'),
        ({"match[]": "sum(up)"}, 'invalid parameter "match[]": 1:4: parse error: unexpected "("'),
        ({"match[]": "up offset 5m"}, 'invalid parameter "match[]": 1:4: parse error: unexpected <offset>'),
        (
            {"match[]": '{job=~".*"}'},
            'invalid parameter "match[]": match[] must contain at least one non-empty matcher',
        ),
        (
            {"match[]": "{}"},
            'invalid parameter "match[]": match[] must contain at least one non-empty matcher',
        ),
        (
            {"match[]": "up", "start": "x"},
            'invalid parameter "start": invalid time value for \'start\': cannot parse "x" to a valid timestamp',
        ),
        ({"match[]": "up", "limit": "-2"}, 'invalid parameter "limit": limit must be non-negative'),
    ],
)
def test_series_errors(client, params, message):
    error(client.get("/api/v1/series", params=params), 400, message)


def test_labels(client):
    assert ok(client.get("/api/v1/labels"))["data"] == ALL_NAMES
    assert ok(client.post("/api/v1/labels", data={"match[]": "up"}))["data"] == [
        "__name__",
        "instance",
        "job",
    ]
    two = client.get("/api/v1/labels", params=[("match[]", "up"), ("match[]", "http_requests_total")])
    assert ok(two)["data"] == ["__name__", "code", "http.status", "instance", "job"]
    late = client.get("/api/v1/labels", params={"start": str(S0 + 900), "end": str(S0 + 2000)})
    assert ok(late)["data"] == ["__name__", "job"]
    assert ok(client.get("/api/v1/labels", params={"match[]": "nothing"}))["data"] == []


def test_labels_limit_and_errors(client):
    body = ok(client.get("/api/v1/labels", params={"limit": "2"}))
    assert body["data"] == ALL_NAMES[:2] and body["warnings"] == ["results truncated due to limit"]
    # labels reports selector errors without naming the parameter, as upstream
    error(
        client.get("/api/v1/labels", params={"match[]": "up+1"}), 400, "1:3: parse error: unexpected <op:+>"
    )


def test_label_values(client):
    assert ok(client.get("/api/v1/label/__name__/values"))["data"] == [
        "head_only",
        "http_requests_total",
        "odd",
        "up",
    ]
    assert ok(client.get("/api/v1/label/job/values", params={"match[]": "head_only"}))["data"] == ["x"]
    assert ok(client.get("/api/v1/label/job/values", params={"start": str(S0), "end": str(S0 + 60)}))[
        "data"
    ] == ["api"]
    assert ok(client.get("/api/v1/label/nonexistent/values"))["data"] == []


def test_label_values_of_utf8_names_in_escaped_form(client):
    assert ok(client.get("/api/v1/label/U__http_2e_status/values"))["data"] == ["ok"]
    assert ok(client.get("/api/v1/label/http.status/values"))["data"] == ["ok"]


def test_label_values_limit_and_method(client):
    body = ok(client.get("/api/v1/label/__name__/values", params={"limit": "1"}))
    assert body["data"] == ["head_only"] and body["warnings"] == ["results truncated due to limit"]
    r = client.post("/api/v1/label/job/values")
    assert r.status_code == 405 and r.json()["status"] == "error"


def test_metadata(client):
    everything = ok(client.get("/api/v1/metadata"))["data"]
    assert everything == {
        "http_requests_total": [{"type": "counter", "help": "Requests.", "unit": ""}],
        "up": [{"type": "gauge", "help": "Whether the target is up.", "unit": ""}],
    }
    assert ok(client.get("/api/v1/metadata", params={"metric": "up"}))["data"] == {"up": everything["up"]}
    assert ok(client.get("/api/v1/metadata", params={"metric": "nope"}))["data"] == {}
    assert list(ok(client.get("/api/v1/metadata", params={"limit": "1"}))["data"]) == ["http_requests_total"]
    assert ok(client.get("/api/v1/metadata", params={"limit": "0"}))["data"] == {}
    assert ok(client.get("/api/v1/metadata", params={"limit_per_metric": "1"}))["data"] == everything
    error(client.get("/api/v1/metadata", params={"limit": "x"}), 400, "limit must be a number")
    error(
        client.get("/api/v1/metadata", params={"limit_per_metric": "x"}),
        400,
        "limit_per_metric must be a number",
    )


def test_exemplars_from_blocks_and_head(client):
    body = ok(client.get("/api/v1/query_exemplars", params={"query": "http_requests_total or head_only"}))
    assert body["data"] == [
        {
            "seriesLabels": {"__name__": "head_only", "job": "x"},
            "exemplars": [{"labels": {"trace_id": "h"}, "value": "7", "timestamp": S0 + 1000}],
        },
        {
            "seriesLabels": {
                "__name__": "http_requests_total",
                "code": "200",
                "http.status": "ok",
                "job": "api",
            },
            "exemplars": [
                {"labels": {"trace_id": "abc"}, "value": "3", "timestamp": S0 + 30},
                {"labels": {"span": "1", "trace_id": "def"}, "value": "1e-09", "timestamp": S0 + 60},
            ],
        },
    ]


def test_exemplars_time_range_and_empty_answers(client):
    body = ok(
        client.post(
            "/api/v1/query_exemplars",
            data={"query": "http_requests_total", "start": str(S0 + 40), "end": str(S0 + 100)},
        )
    )
    assert [e["timestamp"] for e in body["data"][0]["exemplars"]] == [S0 + 60]
    assert ok(client.get("/api/v1/query_exemplars", params={"query": "up"}))["data"] == []
    # Grafana's capability probe sends milliseconds where seconds belong: still a success.
    assert (
        ok(
            client.get(
                "/api/v1/query_exemplars", params={"query": "test", "start": str(T0), "end": str(T0 + 1)}
            )
        )["data"]
        == []
    )
    none = client.get("/api/v1/query_exemplars", params={"query": "1"})
    assert none.status_code == 204 and none.content == b""


def test_exemplar_errors(client):
    error(
        client.get("/api/v1/query_exemplars", params={"query": "up("}),
        400,
        "1:4: parse error: unclosed left parenthesis",
    )
    error(
        client.get("/api/v1/query_exemplars", params={"query": "up", "start": "5", "end": "1"}),
        400,
        "end timestamp must not be before start timestamp",
    )
