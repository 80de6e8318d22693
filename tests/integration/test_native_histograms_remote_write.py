"""A real Prometheus 2.42 scrapes native histograms and remote-writes them to `promlake serve`.

The target is a small HTTP server in this test that answers Prometheus's protobuf scrape
(`io.prometheus.client.MetricFamily`, length-delimited), the only exposition that carries
native histograms; nothing else real speaks it here (prometheus_client does not), so the
target is hand-written, and it is the only mock: the scraper, the remote-write sender and the
oracle are the real Prometheus.

Prometheus's own answer for the histogram samples (a range selector over the API: count, sum,
and every bucket with its boundaries) is compared with what promlake stored, read back from
the lake and turned into boundaries by the rule engine/FORMAT.md documents. This checks the
whole path: the sender's spans + deltas, the conversion to absolute bucket indexes, and the
documented meaning of those indexes. After the target goes away Prometheus writes a stale
histogram, which promlake must keep as a stale marker.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

import promlake

from .conftest import free_port, http, start_promlake, wait_ready

pytestmark = pytest.mark.peers

PROMETHEUS = shutil.which("prometheus") or shutil.which("prometheus", path="/usr/bin:/usr/sbin")
PROTO_TYPE = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"

PROM_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["127.0.0.1:{target_port}"]
remote_write:
  - url: http://127.0.0.1:{lake_port}/api/v1/write
    send_native_histograms: true
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 50ms
      max_backoff: 500ms
"""


# --- a protobuf exposition target (hand-encoded; field numbers from client_model's metrics.proto)


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    head = _varint(number << 3 | wire)
    return head + (_varint(len(payload)) + payload if wire == 2 else payload)


def _double(x: float) -> bytes:
    import struct

    return struct.pack("<d", x)


def _histogram_message(h: dict[str, Any]) -> bytes:
    out = _field(1, 0, _varint(h["count"])) + _field(2, 1, _double(h["sum"]))
    out += _field(5, 0, _varint(_zigzag(h["schema"])))
    out += _field(6, 1, _double(h["zero_threshold"])) + _field(7, 0, _varint(h["zero_count"]))
    for side, span_no, delta_no in (("negative", 9, 10), ("positive", 12, 13)):
        for offset, length in h[f"{side}_spans"]:
            out += _field(span_no, 2, _field(1, 0, _varint(_zigzag(offset))) + _field(2, 0, _varint(length)))
        counts = h[f"{side}_counts"]
        deltas = [b - a for a, b in zip([0, *counts], counts, strict=False)]
        if deltas:
            out += _field(delta_no, 2, b"".join(_varint(_zigzag(d)) for d in deltas))
    return out


def _family(name: str, series: list[tuple[dict[str, str], dict[str, Any]]]) -> bytes:
    msg = _field(1, 2, name.encode()) + _field(2, 2, b"test histogram") + _field(3, 0, _varint(4))
    for labels, h in series:
        metric = b"".join(
            _field(1, 2, _field(1, 2, k.encode()) + _field(2, 2, v.encode()))
            for k, v in sorted(labels.items())
        )
        msg += _field(4, 2, metric + _field(7, 2, _histogram_message(h)))
    return _varint(len(msg)) + msg


def _histograms_at(k: int) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """What the target exposes at its k-th scrape: two series, counts growing with k."""
    wide = {
        "schema": 1,
        "zero_threshold": 0.001,
        "zero_count": k,
        "positive_spans": [(-3, 2), (2, 3)],
        "positive_counts": [k, 2 * k, 0, k, 3 * k],
        "negative_spans": [(1, 2)],
        "negative_counts": [k, k],
    }
    coarse = {
        "schema": -2,
        "zero_threshold": 0.0,
        "zero_count": 0,
        "positive_spans": [(0, 1), (1, 1)],
        "positive_counts": [5 * k, k],
        "negative_spans": [],
        "negative_counts": [],
    }
    out = []
    for labels, h in (({"path": "/api"}, wide), ({"path": "/static"}, coarse)):
        total = h["zero_count"] + sum(h["positive_counts"]) + sum(h["negative_counts"])
        out.append((labels, {**h, "count": total, "sum": 0.25 * total}))
    return out


class _Target(BaseHTTPRequestHandler):
    scrapes = 0

    def do_GET(self) -> None:
        type(self).scrapes += 1
        body = _family("rpc_duration_seconds", _histograms_at(type(self).scrapes))
        self.send_response(200)
        self.send_header("Content-Type", PROTO_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


# --- turning both sides into (boundary rule, lower, upper, count) buckets -----------------------


def _bound(index: int, schema: int) -> float:
    return 2.0 ** (index * 2.0**-schema)


def _lake_buckets(row: dict[str, Any]) -> list[tuple[int, float, float, float]]:
    """Buckets by FORMAT.md's rule: positive i covers (2^((i-1)/2^s), 2^(i/2^s)], negative mirrors."""
    s = row["schema"]
    out = [
        (0, _bound(i - 1, s), _bound(i, s), c)
        for i, c in zip(row["positive_index"], row["positive_count"], strict=True)
    ]
    out += [
        (1, -_bound(i, s), -_bound(i - 1, s), c)
        for i, c in zip(row["negative_index"], row["negative_count"], strict=True)
    ]
    if row["zero_count"]:
        out.append((3, -row["zero_threshold"], row["zero_threshold"], row["zero_count"]))
    return sorted(b for b in out if b[3])


def _prom_buckets(h: dict[str, Any]) -> list[tuple[int, float, float, float]]:
    return sorted(
        (int(b), float(lo), float(hi), float(c)) for b, lo, hi, c in h.get("buckets", []) if float(c)
    )


def _same_buckets(a: list[tuple[int, float, float, float]], b: list[tuple[int, float, float, float]]) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0]
        and all(math.isclose(p, q, rel_tol=1e-9, abs_tol=1e-12) for p, q in zip(x[1:], y[1:], strict=True))
        for x, y in zip(a, b, strict=True)
    )


# --- the run -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, list[Any]], list[dict[str, Any]]]]:
    if PROMETHEUS is None:
        pytest.fail("peer binary missing: /usr/bin/prometheus (apt-get install prometheus)", pytrace=False)
    root: Path = tmp_path_factory.mktemp("native_histograms")
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    lake = start_promlake(root / "lake", "--no-self-metrics")
    prom_port = free_port()
    prom_url = f"http://127.0.0.1:{prom_port}"
    (root / "prometheus.yml").write_text(
        PROM_CONFIG.format(target_port=target.server_address[1], lake_port=lake.port)
    )
    log = (root / "prometheus.log").open("wb")
    prom = subprocess.Popen(
        [PROMETHEUS, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--enable-feature=native-histograms"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_ready(prom_url + "/-/ready", prom)
        deadline = time.monotonic() + 30
        while _Target.scrapes < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _Target.scrapes >= 5, "Prometheus did not scrape the protobuf target"
        target.shutdown()
        target.server_close()
        time.sleep(2.5)  # a failed scrape: stale markers for both series
        params = {"query": "rpc_duration_seconds[10m]", "time": f"{time.time():.3f}"}
        status, body, _ = http("GET", f"{prom_url}/api/v1/query?{urlencode(params)}")
        assert status == 200, body
        prom_result = {
            s["metric"]["path"]: s.get("histograms", []) for s in json.loads(body)["data"]["result"]
        }
        time.sleep(2)  # the remote-write queue sends within batch_send_deadline
    finally:
        prom.terminate()  # flushes its remote-write queue before it exits
        prom.wait(60)
        log.close()
        lake.stop()
    with promlake.open(root / "lake", readonly=True) as stored:
        rows = stored.sql(
            "SELECT labels['path'] AS path, h.* EXCLUDE (series_id) "
            "FROM histograms h JOIN series USING (series_id) ORDER BY path, ts"
        ).to_dicts()
    yield prom_result, rows


def test_prometheus_scraped_the_native_histograms(run):
    prom, _ = run
    assert set(prom) == {"/api", "/static"}
    assert all(len(points) >= 3 for points in prom.values()), prom


def test_every_histogram_sample_is_stored_with_the_same_buckets(run):
    prom, rows = run
    for path, points in prom.items():
        stored = {r["ts"]: r for r in rows if r["path"] == path and not r["stale"]}
        prom_ts = [round(float(t) * 1000) for t, _ in points]
        assert sorted(stored) == prom_ts, f"{path}: timestamps differ"
        for t, h in points:
            row = stored[round(float(t) * 1000)]
            assert float(h["count"]) == row["count"]
            assert math.isclose(float(h["sum"]), row["sum"], rel_tol=1e-12)
            assert _same_buckets(_prom_buckets(h), _lake_buckets(row)), (path, t, h, row)


def test_the_stale_histogram_is_kept_as_a_stale_marker(run):
    prom, rows = run
    for path, points in prom.items():
        last = max(round(float(t) * 1000) for t, _ in points)
        after = [r for r in rows if r["path"] == path and r["ts"] > last]
        assert after and after[0]["stale"], f"{path}: no stale marker after the last sample"
