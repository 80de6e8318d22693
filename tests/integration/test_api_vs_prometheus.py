"""The same data remote-written to Debian's Prometheus and to promlake: the answers must agree.

Prometheus is the oracle for the wire format: the envelope, value and timestamp spelling,
label objects, result shapes and the error texts of parameter checks. Only answers on which
Prometheus 2.42 and current Prometheus agree are compared (the peer is 2.42; promlake follows
3.x where they differ, e.g. ``invalid time value`` is no longer capitalised).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from .api_data import STEP_MS, N, payload, remote_write, start_ms
from .conftest import Promlake, free_port, http, start_promlake, wait_ready

pytestmark = [
    pytest.mark.peers,
    pytest.mark.skipif(
        shutil.which("prometheus") is None, reason="prometheus (Debian package) not installed"
    ),
]


@dataclass
class Peers:
    prometheus: str
    promlake: str
    t0: int  # first sample in ms

    def at(self, k: int) -> str:
        """The time of sample k, in seconds, as a query parameter."""
        return str((self.t0 + k * STEP_MS) // 1000)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    root: Path = tmp_path_factory.mktemp("oracle")
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    lake: Promlake | None = None
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready", prom)
        lake = start_promlake(root / "lake", "--no-self-metrics")
        t0 = start_ms()
        body = payload(t0)
        remote_write(f"http://127.0.0.1:{port}", body)
        remote_write(lake.url, body)
        yield Peers(f"http://127.0.0.1:{port}", lake.url, t0)
    finally:
        if lake is not None:
            lake.stop()
        prom.terminate()
        prom.wait(30)
        log.close()


def both(
    peers: Peers, path: str, params: dict[str, str] | list[tuple[str, str]] | None = None
) -> tuple[tuple[int, bytes], tuple[int, bytes]]:
    query = ("?" + urlencode(params)) if params else ""
    prom = http("GET", peers.prometheus + path + query)
    mine = http("GET", peers.promlake + path + query)
    return (prom[0], prom[1]), (mine[0], mine[1])


def _sorted_result(body: bytes) -> object:
    doc = json.loads(body)
    result = doc["data"]["result"] if isinstance(doc.get("data"), dict) else None
    if isinstance(result, list) and result and isinstance(result[0], dict):
        result.sort(key=lambda s: json.dumps(s["metric"], sort_keys=True))
    return doc


def _close(a: object, b: object) -> bool:
    """Equal, except that sample values computed by different engines may differ in the last
    bits (``0.2`` vs ``0.19999999999999998``): those compare as floats, 1e-12 relative."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        if ("e" in a) != ("e" in b):  # the notation itself is never a rounding matter
            return False
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12)
        except ValueError:
            return False
    return a == b


QUERIES = [
    "api_test_up",
    "api_test_requests_total",
    "api_test_ratio",
    "rate(api_test_requests_total[1m])",
    "sum by (job) (api_test_up)",
    "api_test_requests_total / 7",
    "vector(1e-7)",
    "vector(1e21)",
    "-vector(0)",
    "api_test_ratio * 1e30",
    "api_test_ratio / 1e300",
    "1 / 3",
    "time()",
    '"a string"',
    "api_test_up[1m]",
    "absent(nothing)",
    'count_values("v", api_test_up)',
]


@pytest.mark.parametrize("query", QUERIES)
def test_instant_queries_agree(peers, query):
    for k in (0, 7, N - 1):
        prom, mine = both(peers, "/api/v1/query", {"query": query, "time": peers.at(k) + ".5"})
        assert prom[0] == mine[0] == 200, (prom, mine)
        assert _close(_sorted_result(mine[1]), _sorted_result(prom[1])), (mine[1], prom[1])


@pytest.mark.parametrize("query", [q for q in QUERIES if q not in ('"a string"', "api_test_up[1m]")])
def test_range_queries_agree(peers, query):
    params = {"query": query, "start": peers.at(0), "end": peers.at(N - 1), "step": "30"}
    prom, mine = both(peers, "/api/v1/query_range", params)
    assert prom[0] == mine[0] == 200, (prom, mine)
    assert _close(_sorted_result(mine[1]), _sorted_result(prom[1])), (mine[1], prom[1])


def test_health_check_is_byte_identical(peers):
    prom, mine = both(peers, "/api/v1/query", {"query": "1+1", "time": "4"})
    assert mine == prom


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/series", [("match[]", "api_test_up")]),
        (
            "/api/v1/series",
            [("match[]", "api_test_up"), ("match[]", '{__name__=~"api_test_req.*",code="500"}')],
        ),
        ("/api/v1/labels", None),
        ("/api/v1/labels", [("match[]", "api_test_up")]),
        ("/api/v1/label/job/values", None),
        ("/api/v1/label/__name__/values", None),
        ("/api/v1/label/instance/values", [("match[]", '{job="web"}')]),
    ],
)
def test_metadata_endpoints_agree(peers, path, params):
    prom, mine = both(peers, path, params)
    assert prom[0] == mine[0] == 200
    assert json.loads(mine[1]) == json.loads(prom[1])


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/query", {"query": "sum("}),
        ("/api/v1/query", {"query": "rate(api_test_up)"}),
        ("/api/v1/query", {"query": "up", "timeout": "x"}),
        ("/api/v1/query_range", {"query": "up", "start": "x"}),
        ("/api/v1/query_range", {"query": "up", "start": "1"}),
        ("/api/v1/query_range", {"query": "up", "start": "10", "end": "1", "step": "1"}),
        ("/api/v1/query_range", {"query": "up", "start": "0", "end": "1", "step": "0"}),
        ("/api/v1/query_range", {"query": "up", "start": "0", "end": "1", "step": "x"}),
        ("/api/v1/query_range", {"query": "up", "start": "0", "end": "11001", "step": "1"}),
        ("/api/v1/series", None),
        ("/api/v1/series", {"match[]": "up+1"}),
        ("/api/v1/series", {"match[]": "up[5m]"}),
        ("/api/v1/series", {"match[]": '{job=~".*"}'}),
        ("/api/v1/labels", {"match[]": "up offset 5m"}),
        ("/api/v1/metadata", {"limit": "x"}),
        ("/api/v1/query_exemplars", {"query": "up("}),
        ("/api/v1/query_exemplars", {"query": "up", "start": "5", "end": "1"}),
    ],
)
def test_errors_agree(peers, path, params):
    prom, mine = both(peers, path, params)
    assert mine == prom


def test_empty_subsystems_agree(peers):
    for path in ("/api/v1/rules", "/api/v1/alerts", "/api/v1/alertmanagers", "/api/v1/targets/metadata"):
        prom, mine = both(peers, path)
        assert mine == prom, path


def test_status_shapes_agree(peers):
    for path in ("/api/v1/status/buildinfo", "/api/v1/status/walreplay"):
        prom, mine = both(peers, path)
        assert mine[0] == prom[0] == 200
        assert set(json.loads(mine[1])["data"]) == set(json.loads(prom[1])["data"]), path
