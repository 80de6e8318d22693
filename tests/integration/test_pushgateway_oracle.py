"""The same pushes to Debian's Pushgateway and to promlake: what the Pushgateway exposes on
/metrics equals what promlake answers through /api/v1/query after an ingestion round."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from promlake.ingest.exposition import parse

from .conftest import Promlake, free_port, http, start_promlake, wait_ready

PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"
pytestmark = [
    pytest.mark.peers,
    pytest.mark.skipif(not os.path.exists(PUSHGATEWAY), reason="prometheus-pushgateway not installed"),
]

OWN = ("go_", "process_", "pushgateway_", "promhttp_")
TIME_SERIES = ("push_time_seconds", "push_failure_time_seconds")

# (method, path, body): applied to both servers in this order.
SEQUENCE: list[tuple[str, str, bytes]] = [
    (
        "PUT",
        "/metrics/job/batch/instance/host1",
        b'# TYPE done gauge\n# HELP done Finished.\ndone 1\nrows{table="a"} 10\nrows{table="b"} 20\n',
    ),
    ("PUT", "/metrics/job/batch/instance/host2", b'done 0\nrows{table="a"} 7\n'),
    ("POST", "/metrics/job/batch/instance/host1", b'rows{table="c"} 30\nextra 5\n'),  # replaces rows only
    (
        "PUT",
        "/metrics/job/other",
        b'temp{job="ignored",instance="kept",room="k\\"1\\\\"} -3.5\nweird NaN\nbig +Inf\n',
    ),
    ("PUT", "/metrics/job@base64/Zm9vL2Jhcg/path@base64/L3Zhci90bXA=/empty@base64/=", b"slash 1\n"),
    (
        "PUT",
        "/metrics/job/hist",
        b'# TYPE lat histogram\nlat_bucket{le="0.5"} 1\nlat_bucket{le="1"} 3\nlat_bucket{le="+Inf"} 4\nlat_sum 2.25\nlat_count 4\n# TYPE q summary\nq{quantile="0.5"} 0.1\nq{quantile="0.99"} 0.9\nq_sum 5\nq_count 9\n',
    ),
    ("PUT", "/metrics/job/gone", b"bye 1\n"),
    ("DELETE", "/metrics/job/gone", b""),
    ("PUT", "/metrics/job/batch/instance/host2", b"done 1 12345\n"),  # refused: timestamp
    ("PUT", "/metrics/job/bad", b"x{ 1\n"),  # refused: syntax
    ("POST", "/metrics/job/other", b""),  # only touches the push time
    ("PUT", "/metrics/job/emptied", b"soon 1\n"),
    ("PUT", "/metrics/job/emptied", b""),
    ("DELETE", "/metrics/job/never-existed", b""),
]


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    port = free_port()
    log = (tmp_path / "pushgateway.log").open("wb")
    proc = subprocess.Popen(
        [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready", proc, timeout=30)
        yield Gateway(proc, port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def promlake(tmp_path: Path) -> Iterator[Promlake]:
    conf = tmp_path / "prometheus.yml"
    conf.write_text("global:\n  scrape_interval: 1s\n")
    server = start_promlake(tmp_path / "lake", f"--config.file={conf}", "--no-self-metrics")
    yield server
    server.stop()


Series = tuple[tuple[str, str], ...]


def gateway_view(gw: Gateway) -> dict[Series, float]:
    status, body, _ = http("GET", gw.url + "/metrics")
    assert status == 200
    e = parse(body)
    out: dict[Series, float] = {}
    for labels, value in zip(e.series.to_dicts(), e.values.tolist(), strict=True):
        if labels["__name__"].startswith(OWN):
            continue
        out[tuple(sorted((k, v) for k, v in labels.items() if v))] = value
    return out


def promlake_view(pl: Promlake, names: set[str]) -> dict[Series, float]:
    query = '{__name__=~"' + "|".join(sorted(names)) + '"}'
    status, body, _ = http("GET", pl.url + "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    assert status == 200, body
    out: dict[Series, float] = {}
    for r in json.loads(body)["data"]["result"]:
        out[tuple(sorted(r["metric"].items()))] = float(r["value"][1])
    return out


def same_message(ours: bytes, theirs: bytes) -> bool:
    """Equal, except that promlake renders the offending metric of a consistency error in
    the text format where the Pushgateway prints its protobuf, and which of the conflicting
    metrics the Pushgateway names (and so the type it says it is not) varies run to run."""
    if ours == theirs:
        return True
    pattern = re.compile(rb'^(.*collected metric "[^"]*") \{.*\} (.*)$', re.S)
    a, b = pattern.match(ours), pattern.match(theirs)
    kind = re.compile(rb"is not a|was collected before")
    return (
        a is not None
        and b is not None
        and a.group(1) == b.group(1)
        and [m.group(0) for m in kind.finditer(a.group(2))] == [m.group(0) for m in kind.finditer(b.group(2))]
    )


def comparable(view: dict[Series, float]) -> dict[Series, object]:
    """Push times differ between the two servers: compare them as set/unset."""
    out: dict[Series, object] = {}
    for k, v in view.items():
        name = dict(k)["__name__"]
        if name in TIME_SERIES:
            out[k] = v > 0
        elif math.isnan(v):
            out[k] = "NaN"
        else:
            out[k] = v
    return out


def test_same_pushes_same_series(gateway: Gateway, promlake: Promlake) -> None:
    for method, path, body in SEQUENCE:
        got_pg = http(method, gateway.url + path, data=body)
        got_pl = http(method, promlake.url + path, data=body)
        assert got_pl[0] == got_pg[0], (method, path, got_pl, got_pg)
        assert same_message(got_pl[1], got_pg[1]), (method, path, got_pl[1], got_pg[1])

    prometheus_client = pytest.importorskip("prometheus_client")
    # One registry for both, so that the *_created samples are equal.
    reg = prometheus_client.CollectorRegistry()
    g = prometheus_client.Gauge("job_last_success_unixtime", "Last success.", ["stage"], registry=reg)
    g.labels("load").set(1700000000)
    c = prometheus_client.Counter("records", "Records processed.", registry=reg)
    c.inc(42)
    h = prometheus_client.Histogram("step_seconds", "Step time.", buckets=(0.1, 1.0), registry=reg)
    h.observe(0.05)
    h.observe(0.5)
    for target in (gateway, promlake):
        addr = f"127.0.0.1:{target.port}"
        prometheus_client.push_to_gateway(addr, job="client", registry=reg, grouping_key={"instance": "w1"})
        prometheus_client.pushadd_to_gateway(addr, job="client2", registry=reg)
        prometheus_client.delete_from_gateway(addr, job="client2")

    want = comparable(gateway_view(gateway))
    assert len(want) >= 35
    assert want[(("__name__", "temp"), ("instance", "kept"), ("job", "other"), ("room", 'k"1\\'))] == -3.5
    assert want[(("__name__", "slash"), ("job", "foo/bar"), ("path", "/var/tmp"))] == 1.0
    assert want[(("__name__", "lat_bucket"), ("job", "hist"), ("le", "0.5"))] == 1.0
    assert not any(dict(k)["job"] in ("gone", "client2", "bad") for k in want)
    names = {dict(k)["__name__"] for k in want}
    deadline = time.monotonic() + 20
    got: dict[Series, object] = {}
    while time.monotonic() < deadline:
        got = comparable(promlake_view(promlake, names))
        if got == want:
            break
        time.sleep(0.3)
    assert got == want
