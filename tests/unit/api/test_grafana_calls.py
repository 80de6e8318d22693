"""The calls Grafana's Prometheus data source makes, as it makes them, and the shapes it parses.

From ``shared/reference/prometheus_compat.md`` section 2: the backend (``pkg/promlib``) sends
queries as form-encoded POSTs with its plugin middlewares' headers; the resource path sends the
label browser / autocomplete / template variable calls (GET for ``label/`` and ``metadata``);
start/end of range queries are aligned down to the step; the exemplar probe sends
milliseconds. Grafana does not look at the HTTP status: it reads ``status``, ``data``,
``errorType``, ``error``, ``warnings``, ``infos``, needs ``data.resultType``, sample tuples as
``[<number>, "<string>"]`` and arrays, never ``null``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from apidata import STEP, T0, N
from fastapi.testclient import TestClient

S0 = T0 // 1000  # first sample, seconds
S_END = S0 + (N - 1) * STEP // 1000  # last sample of the block series, seconds

# What pkg/promlib's client middlewares put on every request to the data source.
GRAFANA = {
    "User-Agent": "Grafana/11.3.0",
    "Authorization": "Basic YWRtaW46YWRtaW4=",
    "X-Dashboard-Uid": "f3c1b2a9",
    "X-Panel-Id": "4",
    "X-Query-Group-Id": "0e4c0f7c-5d5a-4c1e-9a57-3a2b1c0d9e8f",
    "X-Datasource-Uid": "P1809F7CD0C75ACF3",
    "X-Grafana-From-Expr": "now-1h",
    "X-Panel-Plugin-Id": "timeseries",
    "X-Grafana-Org-Id": "1",
    "X-Grafana-User": "admin",
    "X-Grafana-Id": "eyJhbGciOiJFUzI1NiJ9.e30.sig",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "Accept-Encoding": "gzip",
}
FORM = {**GRAFANA, "Content-Type": "application/x-www-form-urlencoded"}
# Data source "custom query parameters" are appended to every call; they must be ignored.
CUSTOM = [("dedup", "true"), ("partial_response", "false")]


def post(client: TestClient, path: str, params: list[tuple[str, str]]) -> Any:
    """The backend's default: a form-encoded POST (custom query parameters stay in the URL)."""
    return client.post(f"{path}?{urlencode(CUSTOM)}", content=urlencode(params), headers=FORM)


def get(client: TestClient, path: str, params: list[tuple[str, str]]) -> Any:
    """The resource path's GET (label values, metadata; or a data source set to GET)."""
    return client.get(path, params=[*params, *CUSTOM], headers=GRAFANA)


def envelope(r: Any) -> dict[str, Any]:
    """Parse as Grafana's converter does: keys it reads, and a success or an error envelope."""
    assert r.headers["content-type"] == "application/json", r.headers
    body = r.json()
    assert set(body) <= {"status", "data", "error", "errorType", "warnings", "infos"}, body
    if body["status"] == "error":
        assert isinstance(body["errorType"], str) and isinstance(body["error"], str), body
    else:
        assert body["status"] == "success" and "data" in body, body
    for key in ("warnings", "infos"):
        assert key not in body or (isinstance(body[key], list) and body[key]), body
    return body


def success(r: Any) -> Any:
    assert r.status_code == 200, r.text
    body = envelope(r)
    assert body["status"] == "success", body
    return body["data"]


def sample(pair: Any) -> tuple[Decimal, float]:
    """``[<JSON number>, "<JSON string>"]``: a numeric value or a string timestamp fails parsing."""
    assert isinstance(pair, list) and len(pair) == 2, pair
    ts, value = pair
    assert isinstance(ts, int | float) and not isinstance(ts, bool), pair
    assert isinstance(value, str), pair
    exact = Decimal(repr(ts))  # at most 3 decimals, like <sec>.<ms>
    assert exact == exact.quantize(Decimal("0.001")), pair
    return exact, float(value.replace("+Inf", "inf").replace("-Inf", "-inf"))


def labels(metric: Any) -> dict[str, str]:
    assert isinstance(metric, dict), metric
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metric.items()), metric
    return metric


def grafana_range(from_s: float, to_s: float, step: float) -> tuple[str, str]:
    """start/end as pkg/promlib sends them: aligned down to the step, FormatFloat('f', -1)."""

    def fmt(x: float) -> str:
        text = f"{x:.3f}".rstrip("0").rstrip(".")
        return text or "0"

    return fmt(math.floor(from_s / step) * step), fmt(math.floor(to_s / step) * step)


# --- data source "Save & test" ------------------------------------------------------------------
def test_save_and_test_health_query_post_and_get(client: TestClient) -> None:
    expected = b'{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}'
    r = client.post("/api/v1/query", content="query=1%2B1&time=4", headers=FORM)
    assert r.status_code == 200 and r.content == expected
    r = client.get("/api/v1/query", params={"query": "1+1", "time": "4"}, headers=GRAFANA)
    assert r.status_code == 200 and r.content == expected


def test_save_and_test_buildinfo_heuristics(client: TestClient) -> None:
    info = success(client.get("/api/v1/status/buildinfo", headers=GRAFANA))
    assert set(info) >= {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    assert all(isinstance(v, str) for v in info.values())
    major, minor, patch = info["version"].split("-")[0].split("+")[0].split(".")
    assert major.isdigit() and minor.isdigit() and patch.isdigit()
    # A "features" map would make Grafana treat the data source as Mimir.
    assert "features" not in info and "application" not in info


# --- query path ---------------------------------------------------------------------------------
@pytest.mark.parametrize("step", [15.0, 30.0, 60.0, 0.5])
def test_range_query_with_grafana_step_alignment(client: TestClient, step: float) -> None:
    start, end = grafana_range(S0 + 7.123, S0 + 600.456 if step >= 1 else S0 + 20.5, step)
    params = [("query", "up"), ("start", start), ("end", end), ("step", f"{step:g}"), ("timeout", "60s")]
    data = success(post(client, "/api/v1/query_range", params))
    assert list(data) == ["resultType", "result"]
    assert data["resultType"] == "matrix"
    result = data["result"]
    assert [labels(s["metric"])["instance"] for s in result] == ["a:1", "b:1"]  # sorted label sets
    for series in result:
        assert "histograms" not in series
        points = [sample(p) for p in series["values"]]
        assert points, series
        for ts, _ in points:
            assert Decimal(start) <= ts <= Decimal(end)
            assert (ts - Decimal(start)) % Decimal(repr(step)) == 0  # on Grafana's grid
        assert {v for _, v in points} == ({1.0} if series["metric"]["instance"] == "a:1" else {0.0})


def test_range_query_at_grafanas_safe_resolution(client: TestClient) -> None:
    """Grafana never asks for more than range/11000 steps (the server's limit)."""
    from_s, to_s = S0 - 30 * 86_400, S0 + 600
    step = math.ceil((to_s - from_s) / 11_000)
    start, end = grafana_range(from_s, to_s, step)
    params = [("query", "rate(http_requests_total[5m])"), ("start", start), ("end", end), ("step", str(step))]
    data = success(post(client, "/api/v1/query_range", params))
    assert data["resultType"] == "matrix"
    for series in data["result"]:
        assert "__name__" not in labels(series["metric"])
        for p in series["values"]:
            sample(p)
    # One step finer than the limit: Grafana's error text comes from the envelope.
    params[3] = ("step", str(step / 2))
    r = post(client, "/api/v1/query_range", params)
    assert r.status_code == 400
    body = envelope(r)
    assert body["errorType"] == "bad_data" and "11,000 points" in body["error"]


def test_instant_query_time_is_range_end_unaligned(client: TestClient) -> None:
    t = f"{S0 + 300}.456"
    data = success(post(client, "/api/v1/query", [("query", "sum by (job) (up)"), ("time", t)]))
    assert data["resultType"] == "vector"
    [item] = data["result"]
    assert labels(item["metric"]) == {"job": "api"}
    assert "histogram" not in item
    assert sample(item["value"]) == (Decimal(t), 1.0)


def test_explore_both_range_and_instant(client: TestClient) -> None:
    start, end = grafana_range(S0, S_END, 15)
    q = 'rate(http_requests_total{job="api"}[$__rate_interval])'.replace("$__rate_interval", "1m")
    ranged = success(
        post(client, "/api/v1/query_range", [("query", q), ("start", start), ("end", end), ("step", "15")])
    )
    instant = success(post(client, "/api/v1/query", [("query", q), ("time", end)]))
    assert ranged["resultType"] == "matrix" and instant["resultType"] == "vector"
    [series] = ranged["result"]
    [item] = instant["result"]
    assert series["metric"] == item["metric"]
    assert sample(series["values"][-1]) == sample(item["value"])
    assert math.isclose(sample(item["value"])[1], 0.1)  # 1.5 per 15 s


def test_empty_results_are_arrays(client: TestClient) -> None:
    start, end = grafana_range(S0, S_END, 15)
    r = post(
        client, "/api/v1/query_range", [("query", "nope"), ("start", start), ("end", end), ("step", "15")]
    )
    assert success(r) == {"resultType": "matrix", "result": []}
    assert success(post(client, "/api/v1/query", [("query", "nope"), ("time", end)])) == {
        "resultType": "vector",
        "result": [],
    }


def test_annotation_query_step_60s(client: TestClient) -> None:
    start, end = grafana_range(S0, S_END, 60)
    params = [("query", "changes(up[5m]) > 0 or up"), ("start", start), ("end", end), ("step", "60")]
    data = success(post(client, "/api/v1/query_range", params))
    assert data["resultType"] == "matrix"
    for series in data["result"]:
        assert all(sample(p)[0] % 60 == Decimal(start) % 60 for p in series["values"])


def test_query_errors_are_envelopes_grafana_can_show(client: TestClient) -> None:
    r = post(client, "/api/v1/query", [("query", "sum(up"), ("time", "4")])
    assert r.status_code == 400
    body = envelope(r)
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert body["error"].startswith('invalid parameter "query": ')
    r = post(
        client, "/api/v1/query_range", [("query", "up[5m]"), ("start", "0"), ("end", "60"), ("step", "15")]
    )
    assert r.status_code == 400 and envelope(r)["errorType"] == "bad_data"
    # Many-to-many matching: an execution error, 422.
    r = post(client, "/api/v1/query", [("query", "up + on(job) up"), ("time", str(S0 + 60))])
    assert r.status_code == 422 and envelope(r)["errorType"] == "execution"


def test_responses_are_gzipped_for_grafana(client: TestClient) -> None:
    start, end = grafana_range(S0, S_END, 15)
    params = [("query", "odd"), ("start", start), ("end", end), ("step", "15")]
    r = client.post("/api/v1/query_range", content=urlencode(params), headers=FORM)
    assert r.headers.get("content-encoding") == "gzip"
    assert r.json()["data"]["resultType"] == "matrix"  # httpx inflated it
    raw = client.post(
        "/api/v1/query_range", content=urlencode(params), headers={**FORM, "Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in raw.headers and raw.json() == r.json()


def test_stats_become_frame_meta(client: TestClient) -> None:
    data = success(
        post(client, "/api/v1/query", [("query", "up"), ("time", str(S0 + 60)), ("stats", "true")])
    )
    assert data["resultType"] == "vector"
    assert set(data["stats"]) == {"timings", "samples"}


# --- resource path: label browser, autocomplete --------------------------------------------------
def resource_range() -> list[tuple[str, str]]:
    """start/end as integer seconds (snapped to cache windows), limit=40000. The window ends
    before ``head_only``'s samples, so that series is out of it."""
    return [("start", str(S0 - 3600)), ("end", str(S0 + 900)), ("limit", "40000")]


def test_metric_names_for_the_browser(client: TestClient) -> None:
    names = success(get(client, "/api/v1/label/__name__/values", resource_range()))
    assert names == ["http_requests_total", "odd", "up"]  # head_only is outside [start, end]
    everything = success(get(client, "/api/v1/label/__name__/values", []))
    assert everything == sorted(everything) and "head_only" in everything
    matched = success(
        get(client, "/api/v1/label/__name__/values", [*resource_range(), ("match[]", '{job="api"}')])
    )
    assert matched == ["http_requests_total", "up"]


def test_label_names_with_match_post_then_get(client: TestClient) -> None:
    params = [*resource_range(), ("match[]", "up")]
    by_post = success(post(client, "/api/v1/labels", params))
    assert by_post == ["__name__", "instance", "job"]
    assert success(get(client, "/api/v1/labels", params)) == by_post
    assert success(post(client, "/api/v1/labels", [*resource_range(), ("match[]", "nope")])) == []
    all_names = success(post(client, "/api/v1/labels", resource_range()))
    assert all_names == sorted(all_names) and "http.status" in all_names


def test_label_values_and_utf8_names(client: TestClient) -> None:
    assert success(get(client, "/api/v1/label/instance/values", [*resource_range(), ("match[]", "up")])) == [
        "a:1",
        "b:1",
    ]
    assert success(get(client, "/api/v1/label/U__http_2e_status/values", resource_range())) == ["ok"]
    assert success(get(client, "/api/v1/label/nope/values", resource_range())) == []


def test_post_to_get_only_endpoints_is_405_so_grafana_retries_with_get(client: TestClient) -> None:
    for path in ("/api/v1/label/job/values", "/api/v1/metadata"):
        r = client.post(path, content=urlencode(resource_range()), headers=FORM)
        assert r.status_code == 405, path
        assert envelope(r)["status"] == "error"
        assert success(get(client, path, [])) is not None


def test_series_fallback_client(client: TestClient) -> None:
    params = [("match[]", '{__name__!=""}'), *resource_range()]
    series = success(post(client, "/api/v1/series", params))
    assert isinstance(series, list) and all(labels(s).get("__name__") for s in series)
    assert {s["__name__"] for s in series} == {"http_requests_total", "odd", "up"}
    # Names and values are derived client-side from these label sets.
    assert sorted({k for s in series for k in s}) == success(post(client, "/api/v1/labels", resource_range()))
    r = post(client, "/api/v1/series", [("match[]", '{__name__!=""}'), ("limit", "2")])
    assert r.status_code == 200
    body = envelope(r)
    assert len(body["data"]) == 2 and body["warnings"] == ["results truncated due to limit"]


def test_metadata_for_tooltips_and_drilldown(client: TestClient) -> None:
    everything = success(get(client, "/api/v1/metadata", []))
    assert everything["up"] == [{"type": "gauge", "help": "Whether the target is up.", "unit": ""}]
    assert everything["http_requests_total"][0]["type"] == "counter"
    assert success(get(client, "/api/v1/metadata", [("metric", "up")])) == {"up": everything["up"]}
    assert success(get(client, "/api/v1/metadata", [("metric", "nope")])) == {}


def test_recording_rules_at_datasource_init(client: TestClient) -> None:
    assert success(get(client, "/api/v1/rules", [])) == {"groups": []}
    assert success(get(client, "/api/v1/alerts", [])) == {"alerts": []}


# --- template variables (metric_find_query.ts) ---------------------------------------------------
def test_variable_label_names(client: TestClient) -> None:
    # label_names() and label_names(up) -> match[]={__name__=~".*up.*"}
    assert "job" in success(get(client, "/api/v1/labels", resource_range()))
    names = success(get(client, "/api/v1/labels", [*resource_range(), ("match[]", '{__name__=~".*up.*"}')]))
    assert names == ["__name__", "instance", "job"]


def test_variable_label_values(client: TestClient) -> None:
    # label_values(job)
    assert success(get(client, "/api/v1/label/job/values", resource_range()[:2])) == ["api"]
    # label_values(up{job="api"}, instance)
    values = success(
        get(client, "/api/v1/label/instance/values", [*resource_range()[:2], ("match[]", 'up{job="api"}')])
    )
    assert values == ["a:1", "b:1"]
    # The same through the series fallback (labels-with-match considered unsupported).
    series = success(post(client, "/api/v1/series", [("match[]", 'up{job="api"}'), *resource_range()[:2]]))
    assert sorted({labels(s)["instance"] for s in series}) == values
    # metrics(up.*): all names, filtered client-side
    assert "up" in success(get(client, "/api/v1/label/__name__/values", resource_range()[:2]))


def test_variable_query_result(client: TestClient) -> None:
    """query_result(expr) -> instant query at the range end; scalar, string and vector render."""
    end = str(S0 + 600)
    vector = success(post(client, "/api/v1/query", [("query", "topk(1, up)"), ("time", end)]))
    assert vector["resultType"] == "vector"
    rendered = [
        f'{labels(i["metric"])["__name__"]}{{instance="{i["metric"]["instance"]}"}} {i["value"][1]} '
        f"{int(sample(i['value'])[0] * 1000)}"
        for i in vector["result"]
    ]
    assert rendered == [f'up{{instance="a:1"}} 1 {int(end) * 1000}']
    scalar = success(post(client, "/api/v1/query", [("query", "scalar(sum(up))"), ("time", end)]))
    assert scalar["resultType"] == "scalar" and sample(scalar["result"]) == (Decimal(end), 1.0)
    string = success(post(client, "/api/v1/query", [("query", '"v1"'), ("time", end)]))
    assert string == {"resultType": "string", "result": [int(end), "v1"]}


def test_variable_other_text_is_a_series_call(client: TestClient) -> None:
    series = success(
        get(client, "/api/v1/series", [("match[]", 'up{instance="a:1"}'), *resource_range()[:2]])
    )
    assert series == [{"__name__": "up", "instance": "a:1", "job": "api"}]


# --- exemplars ----------------------------------------------------------------------------------
def test_exemplar_probe_with_millisecond_timestamps(client: TestClient) -> None:
    params = [("query", "test"), ("start", str(T0 - 3_600_000)), ("end", str(T0 + 3_600_000))]
    assert success(post(client, "/api/v1/query_exemplars", params)) == []
    assert success(get(client, "/api/v1/query_exemplars", params)) == []


def test_exemplars_of_a_panel(client: TestClient) -> None:
    start, end = grafana_range(S0, S_END, 15)
    q = "sum(rate(http_requests_total[1m]))"
    data = success(post(client, "/api/v1/query_exemplars", [("query", q), ("start", start), ("end", end)]))
    [series] = data
    assert labels(series["seriesLabels"])["__name__"] == "http_requests_total"
    got = []
    for ex in series["exemplars"]:
        labels(ex["labels"])
        assert isinstance(ex["value"], str)
        assert isinstance(ex["timestamp"], int | float)
        got.append((ex["timestamp"], ex["value"]))
    assert got == [(S0 + 30, "3"), (S0 + 60, "1e-09")]


# --- Metrics Drilldown ---------------------------------------------------------------------------
def test_drilldown_recently_added_metrics(client: TestClient) -> None:
    q = 'group by (__name__) ({__name__!=""}) unless (group by (__name__) ({__name__!=""} offset 5m))'
    data = success(post(client, "/api/v1/query", [("query", q), ("time", str(S0 + 60))]))
    assert data["resultType"] == "vector"
    assert sorted(i["metric"]["__name__"] for i in data["result"]) == ["http_requests_total", "odd", "up"]
    assert {i["value"][1] for i in data["result"]} == {"1"}


def test_drilldown_panels(client: TestClient) -> None:
    start, end = grafana_range(S0, S_END, 30)
    for q in (
        "sum by (job) (rate(http_requests_total[1m]))",
        "avg(up)",
        "min(up)",
        "max(up)",
        "histogram_quantile(0.99, sum by (le) (rate(http_requests_total_bucket[1m])))",
    ):
        data = success(
            post(
                client, "/api/v1/query_range", [("query", q), ("start", start), ("end", end), ("step", "30")]
            )
        )
        assert data["resultType"] == "matrix", q
        for series in data["result"]:
            labels(series["metric"])
            assert all(sample(p) for p in series["values"])
