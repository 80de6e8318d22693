"""The admin TSDB API: delete_series, clean_tombstones, snapshot; disabled, methods, errors.

Expected answers are Prometheus 2.42's (its source and the Debian binary were checked).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from apidata import STEP, T0, FakeState, load
from fastapi.testclient import TestClient

from promlake.api.app import create_app
from promlake.engine import Lake
from promlake.selfmon import Metrics

A = "/api/v1/admin/tsdb/"


@dataclass
class AdminState(FakeState):
    admin_enabled: bool = True


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[tuple[TestClient, AdminState]]:
    lake = Lake(tmp_path / "lake")
    load(lake)
    state = AdminState(lake, Metrics(lake))
    yield TestClient(create_app(state)), state
    lake.close()


def _series(client: TestClient, match: str, **extra: str) -> list[dict[str, str]]:
    r = client.get("/api/v1/series", params={"match[]": match, **extra})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _range(client: TestClient, query: str) -> list[dict]:
    params = {"query": query, "start": str(T0 / 1000), "end": str((T0 + 40 * STEP) / 1000), "step": "15"}
    r = client.get("/api/v1/query_range", params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def test_disabled_answers_unavailable(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    try:
        client = TestClient(create_app(FakeState(lake, Metrics(lake))))
        for path in ("delete_series?match[]=up", "clean_tombstones", "snapshot"):
            for method in ("POST", "PUT"):
                r = client.request(method, A + path)
                assert r.status_code == 500
                assert r.json() == {
                    "status": "error",
                    "errorType": "unavailable",
                    "error": "admin APIs disabled",
                }
        assert not (lake.root / "snapshots").exists()
    finally:
        lake.close()


@pytest.mark.parametrize("path", ["delete_series", "clean_tombstones", "snapshot"])
def test_other_methods_are_405(admin: tuple[TestClient, AdminState], path: str) -> None:
    client, _ = admin
    for method in ("GET", "DELETE"):
        r = client.request(method, A + path)
        assert r.status_code == 405
        assert r.json()["status"] == "error"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("", "no match[] parameter provided"),
        ("match[]=up(", 'invalid parameter "match[]": 1:3: parse error: unexpected "("'),
        ("match[]=rate(up[5m])", 'invalid parameter "match[]": 1:5: parse error: unexpected "("'),
        ("match[]=up&start=abc", "invalid parameter \"start\": invalid time value for 'start': cannot parse \"abc\" to a valid timestamp"),
        ("match[]=up&end=abc", "invalid parameter \"end\": invalid time value for 'end': cannot parse \"abc\" to a valid timestamp"),
    ],
)  # fmt: skip
def test_delete_series_parameter_errors(admin: tuple[TestClient, AdminState], query: str, error: str) -> None:
    client, state = admin
    r = client.post(A + "delete_series?" + query)
    assert r.status_code == 400
    assert r.json() == {"status": "error", "errorType": "bad_data", "error": error}
    assert state.lake.tombstones.files == []


def test_bad_selector_deletes_nothing(admin: tuple[TestClient, AdminState]) -> None:
    client, _ = admin
    r = client.post(A + "delete_series", params=[("match[]", "up"), ("match[]", "up(")])
    assert r.status_code == 400
    assert len(_series(client, "up")) == 2


def _raw(client: TestClient, selector: str) -> list:
    """Every stored sample of the selected series (a range selector over all the data)."""
    r = client.get(
        "/api/v1/query", params={"query": selector + "[15m]", "time": str((T0 + 40 * STEP) / 1000)}
    )
    assert r.status_code == 200, r.text
    return [v for s in r.json()["data"]["result"] for v in s["values"]]


def test_delete_series_partial_and_full(admin: tuple[TestClient, AdminState]) -> None:
    client, state = admin
    before = _raw(client, 'up{instance="a:1"}')
    start, end = (T0 + 5 * STEP) / 1000, (T0 + 9 * STEP) / 1000
    r = client.post(
        A + "delete_series", data={"match[]": 'up{instance="a:1"}', "start": str(start), "end": str(end)}
    )
    assert r.status_code == 204 and r.content == b""
    after = _raw(client, 'up{instance="a:1"}')
    assert len(after) == len(before) - 5
    assert [v for v in before if not start <= v[0] <= end] == after
    # Fully deleted: gone from series, label values, labels and queries; the head too.
    r = client.put(A + "delete_series", params=[("match[]", 'up{instance="b:1"}'), ("match[]", "head_only")])
    assert r.status_code == 204
    assert [s["instance"] for s in _series(client, "up")] == ["a:1"]
    assert _series(client, "head_only") == []
    assert _series(client, "up", start=str(T0 / 1000), end=str((T0 + STEP) / 1000)) == [
        {"__name__": "up", "instance": "a:1", "job": "api"}
    ]
    values = client.get("/api/v1/label/instance/values").json()["data"]
    assert "b:1" not in values and "a:1" in values
    names = client.get("/api/v1/label/__name__/values").json()["data"]
    assert "head_only" not in names and "up" in names
    assert client.get("/api/v1/labels", params={"match[]": "head_only"}).json()["data"] == []
    assert [s["metric"]["instance"] for s in _range(client, "up")] == ["a:1"]
    # SQL sees the same.
    assert state.lake.sql("SELECT count(*) AS n FROM metrics WHERE metric = 'head_only'")["n"][0] == 0


def test_clean_tombstones_keeps_answers(admin: tuple[TestClient, AdminState]) -> None:
    client, state = admin
    client.post(A + "delete_series", params={"match[]": "odd", "end": str((T0 + 10 * STEP) / 1000)})
    client.post(A + "delete_series", params={"match[]": 'up{instance="b:1"}'})
    expect = (_range(client, "odd"), _range(client, "up"), _series(client, "up"))
    r = client.post(A + "clean_tombstones")
    assert r.status_code == 204 and r.content == b""
    assert state.lake.tombstones.files == []
    assert (_range(client, "odd"), _range(client, "up"), _series(client, "up")) == expect
    assert client.put(A + "clean_tombstones").status_code == 204  # nothing left: still fine


def test_snapshot_is_a_lake_with_the_same_answers(admin: tuple[TestClient, AdminState]) -> None:
    client, state = admin
    client.post(A + "delete_series", params={"match[]": 'up{instance="b:1"}'})
    r = client.post(A + "snapshot")
    assert r.status_code == 200
    name = r.json()["data"]["name"]
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-7][0-9a-f]{15}", name)
    path = state.lake.root / "snapshots" / name
    query = "SELECT metric, labels, ts, value FROM metrics ORDER BY ALL"
    live = state.lake.sql(query)
    snap = Lake(path, readonly=True)
    try:
        assert snap.sql(query).equals(live)
        assert snap.sql("SELECT count(*) AS n FROM metrics WHERE metric = 'head_only'")["n"][0] == 3
    finally:
        snap.close()
    # Hard links where possible: the snapshot's block files are the lake's own.
    b = state.lake.blocks[0]
    assert b.path(path, "samples").stat().st_ino == b.path(state.lake.root, "samples").stat().st_ino


def test_snapshot_skip_head_and_bad_flag(admin: tuple[TestClient, AdminState]) -> None:
    client, state = admin
    r = client.put(A + "snapshot", params={"skip_head": "T"})
    assert r.status_code == 200
    path = state.lake.root / "snapshots" / r.json()["data"]["name"]
    snap = Lake(path, readonly=True)
    try:
        assert snap.sql("SELECT count(*) AS n FROM metrics WHERE metric = 'head_only'")["n"][0] == 0
        assert snap.sql("SELECT count(*) AS n FROM metrics WHERE metric = 'up'")["n"][0] > 0
    finally:
        snap.close()
    r = client.post(A + "snapshot", params={"skip_head": "xyz"})
    assert r.status_code == 400
    assert r.json()["error"] == (
        'invalid parameter "skip_head": unable to parse boolean: strconv.ParseBool: parsing "xyz": invalid syntax'
    )
