"""/api/v1/status/* and the empty answers of subsystems that do not exist yet."""

from __future__ import annotations

import re

import pytest
from apidata import T0

from promlake.api.status import go_time


def data(client, path, **params):
    r = client.get(path, params=params) if params else client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"status", "data"} and body["status"] == "success"
    return body["data"]


def test_buildinfo_has_prometheus_keys_and_no_features(client):
    info = data(client, "/api/v1/status/buildinfo")
    assert set(info) == {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    assert all(isinstance(v, str) for v in info.values())
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", info["version"])


def test_runtimeinfo(client):
    info = data(client, "/api/v1/status/runtimeinfo")
    assert set(info) == {
        "startTime", "CWD", "hostname", "serverTime", "reloadConfigSuccess", "lastConfigTime", "corruptionCount",
        "goroutineCount", "GOMAXPROCS", "GOMEMLIMIT", "GOGC", "GODEBUG", "storageRetention",
    }  # fmt: skip
    assert info["storageRetention"] == "15d"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", info["serverTime"])
    assert isinstance(info["reloadConfigSuccess"], bool) and isinstance(info["GOMAXPROCS"], int)


def test_go_time():
    assert go_time(0) == "1970-01-01T00:00:00Z"
    assert go_time(1.5) == "1970-01-01T00:00:01.5Z"
    assert go_time(1.5, nanos=False) == "1970-01-01T00:00:01Z"


def test_flags_are_strings(client):
    flags = data(client, "/api/v1/status/flags")
    assert flags == {"config.file": "", "storage.path": "data/", "web.enable-lifecycle": "false"}


def test_config_is_the_loaded_yaml(client):
    assert data(client, "/api/v1/status/config") == {"yaml": "global:\n  scrape_interval: 15s\n"}


def test_walreplay(client):
    assert set(data(client, "/api/v1/status/walreplay")) == {"min", "max", "current"}


def test_tsdb_status(client):
    tsdb = data(client, "/api/v1/status/tsdb")
    head = tsdb["headStats"]
    assert head["numSeries"] == 9
    assert head["minTime"] == T0 and head["maxTime"] == T0 + 1_030_000
    assert tsdb["seriesCountByMetricName"][:2] == [{"name": "odd", "value": 5}, {"name": "up", "value": 2}]
    assert {"name": "job=api", "value": 3} in tsdb["seriesCountByLabelValuePair"]
    by_name = {e["name"]: e["value"] for e in tsdb["labelValueCountByLabelName"]}
    assert by_name["case"] == 5 and by_name["job"] == 2
    memory = {e["name"]: e["value"] for e in tsdb["memoryInBytesByLabelName"]}
    assert memory["job"] == len("api") + len("x")
    assert len(data(client, "/api/v1/status/tsdb", limit="1")["seriesCountByMetricName"]) == 1


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("0", "limit must be a positive number"),
        ("x", "limit must be a positive number"),
        ("10001", "limit must not exceed 10000"),
    ],
)
def test_tsdb_limit_errors(client, limit, message):
    r = client.get("/api/v1/status/tsdb", params={"limit": limit})
    assert r.status_code == 400 and r.json() == {"status": "error", "errorType": "bad_data", "error": message}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/targets", {"activeTargets": [], "droppedTargets": [], "droppedTargetCounts": {}}),
        ("/api/v1/targets?state=active", {"activeTargets": [], "droppedTargets": []}),
        ("/api/v1/targets/metadata", []),
        ("/api/v1/scrape_pools", {"scrapePools": []}),
        ("/api/v1/rules", {"groups": []}),
        ("/api/v1/alerts", {"alerts": []}),
        ("/api/v1/alertmanagers", {"activeAlertmanagers": [], "droppedAlertmanagers": []}),
    ],
)
def test_subsystems_not_built_yet_answer_empty_shapes(client, path, expected):
    assert data(client, path) == expected
