"""Debian's promtool as a client of a real `promlake serve` (data loaded by remote write)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .api_data import STEP_MS, N, payload, remote_write, start_ms
from .conftest import Promlake, http, start_promlake

pytestmark = [
    pytest.mark.peers,
    pytest.mark.skipif(
        shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed"
    ),
]


@dataclass
class Loaded:
    server: Promlake
    t0: int  # first sample, ms

    @property
    def last_s(self) -> float:
        return (self.t0 + (N - 1) * STEP_MS) / 1000


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    server = start_promlake(tmp_path_factory.mktemp("promtool") / "lake", "--no-self-metrics")
    t0 = start_ms()
    remote_write(server.url, payload(t0))
    yield Loaded(server, t0)
    server.stop()


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", "query", *args], capture_output=True, text=True, timeout=60)


def test_query_instant(loaded):
    r = promtool("instant", f"--time={loaded.last_s:.0f}", loaded.server.url, "api_test_up")
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.splitlines())
    assert len(lines) == 2
    assert lines[0].startswith('api_test_up{instance="i1", job="web"} => 1 @[')
    assert lines[1].startswith('api_test_up{instance="i3", job="db"} => 1 @[')


def test_query_instant_json_and_scalar(loaded):
    r = promtool(
        "instant",
        "-o",
        "json",
        f"--time={loaded.last_s:.0f}",
        loaded.server.url,
        "sum(api_test_requests_total)",
    )
    assert r.returncode == 0, r.stderr
    (sample,) = json.loads(r.stdout)
    assert sample["metric"] == {} and float(sample["value"][1]) == (N - 1) * 3.0 + (N - 1) * 0.5 + 0.25
    scalar = promtool("instant", loaded.server.url, "1+1")
    assert scalar.returncode == 0 and scalar.stdout.startswith("scalar: 2 @[")


def test_query_range(loaded):
    start = loaded.t0 // 1000
    r = promtool(
        "range", f"--start={start}", f"--end={start + 60}", "--step=15s", loaded.server.url,
        'api_test_requests_total{instance="i1"}',
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    head, *values = r.stdout.split("\n", 1)[0], *r.stdout.splitlines()[1:]
    assert head.startswith('api_test_requests_total{code="200", instance="i1", job="web"} =>')
    assert [v.split(" @")[0] for v in values] == ["0", "3", "6", "9", "12"]


def test_query_series(loaded):
    r = promtool("series", "--match=api_test_up", loaded.server.url)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == [
        '{__name__="api_test_up", instance="i1", job="web"}',
        '{__name__="api_test_up", instance="i3", job="db"}',
    ]


def test_query_labels(loaded):
    r = promtool("labels", loaded.server.url, "job")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["db", "web"]
    names = promtool("labels", loaded.server.url, "__name__")
    assert names.stdout.splitlines() == ["api_test_ratio", "api_test_requests_total", "api_test_up"]


def test_errors_reach_promtool(loaded):
    r = promtool("instant", loaded.server.url, "sum(")
    assert r.returncode != 0
    assert (
        'bad_data: invalid parameter "query": 1:5: parse error: unclosed left parenthesis'
        in r.stderr + r.stdout
    )


def test_metadata_from_remote_write(loaded):
    status, body, _ = http("GET", loaded.server.url + "/api/v1/metadata?metric=api_test_requests_total")
    assert status == 200
    assert json.loads(body)["data"] == {
        "api_test_requests_total": [{"type": "counter", "help": "Requests served.", "unit": ""}]
    }


def test_status_of_a_real_server(loaded):
    def data(path: str) -> dict:
        status, body, headers = http("GET", loaded.server.url + path)
        assert status == 200 and headers["content-type"] == "application/json"
        return json.loads(body)["data"]

    flags = data("/api/v1/status/flags")
    assert flags["web.listen-address"] == f"127.0.0.1:{loaded.server.port}"
    assert flags["no-self-metrics"] == "true" and flags["query.max-samples"] == "50000000"
    assert data("/api/v1/status/runtimeinfo")["storageRetention"] == "15d"
    assert "scrape_configs" in data("/api/v1/status/config")["yaml"]
    assert data("/api/v1/status/tsdb")["headStats"]["numSeries"] == 5
