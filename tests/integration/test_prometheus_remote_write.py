"""A real Prometheus 2.42 scrapes a real node_exporter and remote-writes to a real `promlake serve`.

Both servers then hold the same samples, so they must answer the same queries the same way.
The comparison follows the PromQL compliance tester: same label sets, same timestamps, sample
values equal within 1e-6 relative (NaN equals NaN); the order of series is not compared.

Timeline: node_exporter is scraped every second for ~15 s, then it is stopped, so Prometheus
records ``up == 0`` and writes staleness markers for every node series. Remote write uses a
single shard, so samples reach promlake in WAL order: once promlake holds an ``up`` sample of
scrape k, it holds everything Prometheus ingested before it. The test waits for promlake to
hold two scrapes after the stop, so every evaluation time used below is fully covered.

Prometheus 2.42 selects left-closed windows ``[t-r, t]``, Prometheus 3.x (which promlake
follows) left-open ones ``(t-r, t]``; they differ only when a sample sits exactly on the left
boundary. All evaluation times here are half a scrape interval away from the scrape phase
(scrapes happen at a fixed millisecond offset within the second), and all ranges are whole
seconds, so no sample is ever on a boundary.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from .conftest import Promlake, free_port, http, start_promlake, wait_ready

pytestmark = pytest.mark.peers

SCRAPE_MS = 1000
DATA_SECONDS = 15  # how long node_exporter is scraped
REL_TOL = 1e-6


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin")
        if found:
            return found
    return None


PROMETHEUS = _binary("prometheus")
NODE_EXPORTER = _binary("prometheus-node-exporter", "node_exporter")


def _require_binaries() -> tuple[str, str]:
    # CI installs the Debian packages; a missing peer is a broken environment, never a skip.
    missing = [
        f"{what} ({pkg})"
        for what, pkg, path in (
            ("/usr/bin/prometheus", "apt-get install prometheus", PROMETHEUS),
            ("/usr/bin/prometheus-node-exporter", "apt-get install prometheus-node-exporter", NODE_EXPORTER),
        )
        if path is None
    ]
    if missing:
        pytest.fail("peer binaries missing: " + ", ".join(missing), pytrace=False)
    assert PROMETHEUS is not None and NODE_EXPORTER is not None
    return PROMETHEUS, NODE_EXPORTER


PROM_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:{node_port}"]
remote_write:
  - url: http://127.0.0.1:{lake_port}/api/v1/write
    remote_timeout: 10s
    queue_config:
      # One shard keeps the samples in WAL order (see the module docstring).
      min_shards: 1
      max_shards: 1
      capacity: 20000
      max_samples_per_send: 5000
      batch_send_deadline: 1s
      min_backoff: 50ms
      max_backoff: 500ms
    metadata_config:
      send: true
      send_interval: 2s
"""


# --- the HTTP side ------------------------------------------------------------------------------


def get_json(base: str, path: str, params: dict[str, str] | list[tuple[str, str]] | None = None) -> Any:
    url = base + path + (("?" + urlencode(params)) if params else "")
    status, body, _ = http("GET", url, timeout=30)
    assert status == 200, f"GET {url}: {status} {body[:500]!r}"
    doc = json.loads(body)
    assert doc["status"] == "success", doc
    return doc["data"]


def query(base: str, expr: str, at_ms: int) -> Any:
    return get_json(base, "/api/v1/query", {"query": expr, "time": _s(at_ms)})


def _s(ms: int) -> str:
    return f"{ms / 1000:.3f}"


# --- compliance-tester style comparison ---------------------------------------------------------


def _same_value(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return math.isclose(x, y, rel_tol=REL_TOL, abs_tol=0.0) or x == y


def _key(metric: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"


def _points(sample: dict[str, Any]) -> list[list[Any]]:
    return sample["values"] if "values" in sample else [sample["value"]]


def diff_results(prom: Any, mine: Any) -> list[str]:
    """What differs between two query results (empty when they agree)."""
    if prom["resultType"] != mine["resultType"]:
        return [f"resultType: prometheus {prom['resultType']}, promlake {mine['resultType']}"]
    if prom["resultType"] in ("scalar", "string"):
        p, m = prom["result"], mine["result"]
        if p[0] != m[0] or not (p[1] == m[1] or _same_value(p[1], m[1])):
            return [f"prometheus {p}, promlake {m}"]
        return []
    problems: list[str] = []
    p_series = {_key(s["metric"]): _points(s) for s in prom["result"]}
    m_series = {_key(s["metric"]): _points(s) for s in mine["result"]}
    if len(p_series) != len(prom["result"]) or len(m_series) != len(mine["result"]):
        problems.append("duplicate label sets in a result")
    for k in sorted(p_series.keys() - m_series.keys())[:5]:
        problems.append(f"missing in promlake: {k} ({len(p_series[k])} points)")
    for k in sorted(m_series.keys() - p_series.keys())[:5]:
        problems.append(f"only in promlake: {k} ({len(m_series[k])} points)")
    if len(p_series.keys() ^ m_series.keys()) > 10:
        problems.append(f"... {len(p_series.keys() ^ m_series.keys())} label sets differ in all")
    for k in sorted(p_series.keys() & m_series.keys()):
        p, m = p_series[k], m_series[k]
        p_ts, m_ts = [t for t, _ in p], [t for t, _ in m]
        if p_ts != m_ts:
            only_p, only_m = sorted(set(p_ts) - set(m_ts)), sorted(set(m_ts) - set(p_ts))
            problems.append(
                f"{k}: timestamps differ; only prometheus {only_p[:5]}, only promlake {only_m[:5]}"
            )
            continue
        bad = [(t, a, b) for (t, a), (_, b) in zip(p, m, strict=True) if not _same_value(a, b)]
        if bad:
            t, a, b = bad[0]
            problems.append(f"{k}: {len(bad)} values differ, first at {t}: prometheus {a}, promlake {b}")
        if len(problems) > 20:
            problems.append("...")
            break
    return problems


# --- the peers ----------------------------------------------------------------------------------


@dataclass
class Peers:
    prometheus: str
    promlake: str
    first_ms: int  # the first scrape both hold
    last_up_ms: int  # the last successful scrape before node_exporter was stopped
    down_ms: int  # the first failed scrape (staleness markers for all node series)
    phase_ms: int  # scrape timestamps are phase_ms modulo SCRAPE_MS

    def between(self, ms: int) -> int:
        """The evaluation time half a scrape after the scrape at or before ``ms``."""
        return ms - (ms - self.phase_ms) % SCRAPE_MS + SCRAPE_MS // 2

    @property
    def start(self) -> int:
        return self.between(self.first_ms + 2 * SCRAPE_MS)

    @property
    def end(self) -> int:
        return self.between(self.last_up_ms)

    @property
    def after(self) -> int:
        return self.between(self.down_ms + SCRAPE_MS)


def _up_samples(base: str, at_ms: int) -> list[tuple[int, str]]:
    data = query(base, "up[10m]", at_ms)
    if not data["result"]:
        return []
    (series,) = data["result"]
    return [(round(float(t) * 1000), v) for t, v in series["values"]]


def _wait(what: str, check: Any, timeout: float, procs: list[subprocess.Popen[bytes]]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[0]} exited with {p.returncode} while waiting for {what}")
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    prometheus, node_exporter = _require_binaries()
    root: Path = tmp_path_factory.mktemp("remote_write")
    node_port, prom_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    lake: Promlake | None = None
    logs = [(root / "node_exporter.log").open("wb"), (root / "prometheus.log").open("wb")]
    node_url, prom_url = f"http://127.0.0.1:{node_port}", f"http://127.0.0.1:{prom_port}"
    try:
        node = subprocess.Popen(
            [node_exporter, f"--web.listen-address=127.0.0.1:{node_port}", "--collector.disable-defaults",
             "--collector.cpu", "--collector.loadavg", "--collector.meminfo", "--collector.stat",
             "--collector.uname", "--collector.vmstat"],
            stdout=logs[0], stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(node)
        lake = start_promlake(root / "lake", "--no-self-metrics")
        wait_ready(node_url + "/metrics", node)
        (root / "prometheus.yml").write_text(PROM_CONFIG.format(node_port=node_port, lake_port=lake.port))
        prom = subprocess.Popen(
            [prometheus, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=logs[1], stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(prom)
        wait_ready(prom_url + "/-/ready", prom)
        all_procs = [*procs, lake.proc]

        def now_ms() -> int:
            return int(time.time() * 1000)

        # Promlake receives the first scrape: the data both hold starts here.
        first = _wait("promlake's first `up`", lambda: _up_samples(lake.url, now_ms()), 30, all_procs)
        first_ms = first[0][0]
        assert first[0][1] == "1", f"node_exporter not scraped: {first}"
        time.sleep(max(0.0, first_ms / 1000 + DATA_SECONDS - time.time()))
        node.terminate()
        node.wait(10)
        procs.remove(node)
        all_procs.remove(node)

        def down_in_prometheus() -> list[tuple[int, str]]:
            samples = _up_samples(prom_url, now_ms())
            return samples if samples and samples[-1][1] == "0" else []

        up = _wait("a failed scrape in Prometheus", down_in_prometheus, 10, all_procs)
        down_ms = next(t for t, v in up if v == "0")
        last_up_ms = max(t for t, v in up if v == "1")
        # Two scrapes after the first failure reached promlake, so (one shard, WAL order) did
        # everything before them, staleness markers included.
        _wait(
            "promlake to catch up",
            lambda: (s := _up_samples(lake.url, now_ms())) and s[-1][0] >= down_ms + 2 * SCRAPE_MS,
            20,
            all_procs,
        )
        # Scrapes tick at a fixed offset within the interval, give or take a few ms of jitter;
        # evaluation times half an interval away stay clear of samples if the jitter is small.
        phase = last_up_ms % SCRAPE_MS
        jitter = [(t - phase + SCRAPE_MS // 2) % SCRAPE_MS - SCRAPE_MS // 2 for t, _ in up]
        assert max(map(abs, jitter)) < SCRAPE_MS // 4, f"scrape timestamps jitter too much: {jitter}"
    except Exception as exc:
        tails = "\n".join(
            f"--- {log.name} (last lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            for log in (root / "node_exporter.log", root / "prometheus.log", *(root.glob("promlake-*.log")))
        )
        raise RuntimeError(f"setting up the peers failed: {exc}\n{tails}") from exc
    else:
        yield Peers(prom_url, lake.url, first_ms, last_up_ms, down_ms, phase)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if lake is not None:
            lake.stop()
        for f in logs:
            f.close()


# --- the comparisons ----------------------------------------------------------------------------


def test_peer_binaries_installed() -> None:
    _require_binaries()


def test_both_hold_the_same_raw_samples(peers: Peers) -> None:
    """Every sample (staleness markers excluded, as range vectors exclude them) up to `after`."""
    for expr in ("up[10m]", '{job="node"}[10m]', "scrape_samples_scraped[10m]"):
        prom, mine = query(peers.prometheus, expr, peers.after), query(peers.promlake, expr, peers.after)
        assert len(prom["result"]) > (100 if "job" in expr else 0), prom["result"][:3]
        problems = diff_results(prom, mine)
        assert not problems, f"{expr} @ {_s(peers.after)}:\n" + "\n".join(problems)
    # After the stop, node series are stale in both (markers were remote-written).
    assert query(peers.prometheus, "node_load1", peers.after)["result"] == []
    assert query(peers.promlake, "node_load1", peers.after)["result"] == []
    (up,) = query(peers.prometheus, "up[10m]", peers.after)["result"]
    assert round(float(up["values"][0][0]) * 1000) == peers.first_ms, (
        "Prometheus holds data promlake never got"
    )


QUERIES = [
    "up",
    "node_load1",
    "node_memory_MemTotal_bytes",
    "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
    "scrape_samples_scraped",
    "scrape_duration_seconds",
    "scrape_series_added",
    "timestamp(up)",
    'count by (__name__) ({job="node"})',
    'count by (__name__) ({job="node", __name__=~"node_(cpu|load|memory|context|intr|boot|procs)_.*"})',
    'count({job="node"})',
    "rate(node_cpu_seconds_total[10s])",
    "irate(node_cpu_seconds_total[5s])",
    "increase(node_context_switches_total[10s])",
    "sum by (mode) (node_cpu_seconds_total)",
    "sum by (mode) (rate(node_cpu_seconds_total[10s]))",
    "avg by (cpu) (rate(node_cpu_seconds_total[5s]))",
    "topk(3, node_cpu_seconds_total)",
    "quantile(0.9, rate(node_cpu_seconds_total[10s]))",
    "avg_over_time(node_load1[10s])",
    "max_over_time(scrape_duration_seconds[10s])",
    "count_over_time(node_memory_MemFree_bytes[10s])",
    "deriv(node_memory_MemFree_bytes[10s])",
    "delta(node_memory_MemFree_bytes[10s])",
    "changes(node_memory_MemFree_bytes[10s])",
    "resets(node_cpu_seconds_total[10s])",
    "stddev_over_time(node_memory_Active_bytes[10s])",
    "node_uname_info",
    'label_replace(node_load1, "host", "$1", "instance", "(.*):.*")',
    "absent(node_load1)",
    "sum(count_over_time(node_cpu_seconds_total[10s]))",
    'count by (job) ({job="node"} offset 1s)',
]


@pytest.mark.parametrize("expr", QUERIES)
def test_instant_queries_agree(peers: Peers, expr: str) -> None:
    middle = peers.between((peers.start + peers.end) // 2)
    answered = 0
    for at in (peers.start, middle, peers.end, peers.after):
        prom, mine = query(peers.prometheus, expr, at), query(peers.promlake, expr, at)
        answered += bool(prom["result"])
        problems = diff_results(prom, mine)
        assert not problems, f"{expr} @ {_s(at)}:\n" + "\n".join(problems)
    assert answered, f"{expr}: Prometheus has no data at any evaluation time"


@pytest.mark.parametrize("expr", QUERIES)
def test_range_queries_agree(peers: Peers, expr: str) -> None:
    """From the start of the data to past the staleness markers, one point per scrape."""
    params = {"query": expr, "start": _s(peers.start), "end": _s(peers.after), "step": "1"}
    prom = get_json(peers.prometheus, "/api/v1/query_range", params)
    mine = get_json(peers.promlake, "/api/v1/query_range", params)
    if expr != "absent(node_load1)":
        assert prom["result"], f"{expr}: Prometheus has no data in the window"
    problems = diff_results(prom, mine)
    assert not problems, f"{expr} over [{params['start']}, {params['end']}]:\n" + "\n".join(problems)


def test_duplicate_labelset_error_agrees(peers: Peers) -> None:
    """Dropping ``__name__`` from many series makes label sets collide: an execution error."""
    expr = 'count_over_time({job="node"}[10s])'
    params = urlencode({"query": expr, "time": _s(peers.end)})
    prom = http("GET", f"{peers.prometheus}/api/v1/query?{params}")
    mine = http("GET", f"{peers.promlake}/api/v1/query?{params}")
    assert prom[0] == 422, prom
    assert (mine[0], json.loads(mine[1])) == (prom[0], json.loads(prom[1]))


def test_series_and_labels_agree(peers: Peers) -> None:
    window = [("start", _s(peers.start)), ("end", _s(peers.end))]
    node = [("match[]", '{job="node"}'), *window]
    series = {
        name: sorted(get_json(base, "/api/v1/series", node), key=_key)
        for name, base in (("prometheus", peers.prometheus), ("promlake", peers.promlake))
    }
    assert len(series["prometheus"]) > 100
    assert series["promlake"] == series["prometheus"]
    for path, params in (
        ("/api/v1/labels", node),
        ("/api/v1/label/__name__/values", node),
        ("/api/v1/label/mode/values", [("match[]", "node_cpu_seconds_total"), *window]),
        ("/api/v1/label/instance/values", [("match[]", "up"), *window]),
    ):
        prom, mine = get_json(peers.prometheus, path, params), get_json(peers.promlake, path, params)
        assert prom, (path, params)
        assert mine == prom, (path, params)


def test_metadata_was_remote_written(peers: Peers) -> None:
    """Prometheus 2.42 sends target metadata (metadata_config.send defaults to true) every
    send_interval; promlake must serve what it received like Prometheus serves its own."""

    def metadata(base: str, metric: str) -> Any:
        return get_json(base, "/api/v1/metadata", {"metric": metric})

    expected = {"node_load1": [{"type": "gauge", "help": "1m load average.", "unit": ""}]}
    assert metadata(peers.prometheus, "node_load1") == expected
    deadline = time.monotonic() + 10  # the first metadata send is one send_interval after start
    while (got := metadata(peers.promlake, "node_load1")) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    assert got == expected
    assert (
        metadata(peers.promlake, "node_cpu_seconds_total")["node_cpu_seconds_total"][0]["type"] == "counter"
    )
    prom, mine = get_json(peers.prometheus, "/api/v1/metadata"), get_json(peers.promlake, "/api/v1/metadata")
    node_families = {k for k in prom if k.startswith("node_")}
    assert len(node_families) > 20
    assert {k: mine.get(k) for k in node_families} == {k: prom[k] for k in node_families}
