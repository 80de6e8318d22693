"""The real Prometheus 2.42 on the benchmark data: blocks built by promtool, and a live server.

Everything runs from temporary directories on loopback ports, and every process started here is
stopped here (never a system service).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from benchmarks.datagen import HOUR_MS, Generator
from benchmarks.remote_write import LabelPool, encode_write_requests, send_all, snappy

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def block_range_ms(span_ms: int) -> int:
    """The smallest Prometheus compaction range (2h * 3^k) that holds ``span_ms``.

    Compaction would merge the 2h head blocks of such a span into one block of this range, so this
    is what a running Prometheus ends up storing; the default 2h blocks would repeat the index.
    """
    rng = 2 * HOUR_MS
    while rng < span_ms:
        rng *= 3
    return rng


def create_blocks(om_file: Path, out_dir: Path, max_block_ms: int) -> dict[str, Any]:
    """Run promtool's backfill; bytes are every file of the block directories (no WAL)."""
    t0 = time.perf_counter()
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", f"--max-block-duration={max_block_ms}ms",
                    "--quiet", str(om_file), str(out_dir)], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    blocks = [d for d in out_dir.iterdir() if d.is_dir() and _ULID.match(d.name)]
    total = sum(f.stat().st_size for d in blocks for f in d.rglob("*") if f.is_file())
    index = sum((d / "index").stat().st_size for d in blocks)
    metas = [json.loads((d / "meta.json").read_text()) for d in blocks]
    return {
        "bytes": total,
        "index_bytes": index,
        "chunk_bytes": sum(f.stat().st_size for d in blocks for f in (d / "chunks").iterdir()),
        "blocks": len(blocks),
        "samples": sum(m["stats"]["numSamples"] for m in metas),
        "series": sum(m["stats"]["numSeries"] for m in metas),
        "chunks": sum(m["stats"]["numChunks"] for m in metas),
        "seconds": seconds,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return bytes(r.read())


def parse_metrics(text: str, names: set[str]) -> dict[str, float]:
    """The wanted metrics from a text exposition, summed over their label sets."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m and m.group(1) in names:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out


class PrometheusServer:
    """``prometheus`` with the remote-write receiver, no scrape jobs, data in a temp dir."""

    WANTED = frozenset({"process_resident_memory_bytes", "prometheus_tsdb_head_series", "go_memstats_heap_inuse_bytes",
                        "go_memstats_alloc_bytes", "prometheus_tsdb_head_samples_appended_total",
                        "prometheus_tsdb_head_chunks"})

    def __init__(self, workdir: Path, extra_args: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.extra_args = list(extra_args)  # more flags (the query benchmark: retention, query limits)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrometheusServer:
        cfg = self.workdir / "prometheus.yml"
        # No scrape jobs: the only series in the head are the ones written, plus none of its own.
        cfg.write_text("global:\n  scrape_interval: 15s\n")
        with open(self.workdir / "prometheus.log", "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver",
                 *self.extra_args],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                if _get(self.url + "/-/ready", 1.0):
                    return self
            time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def rss(self) -> int:
        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def metrics(self) -> dict[str, float]:
        return parse_metrics(_get(self.url + "/metrics").decode(), set(self.WANTED))

    def settled(self, pause: float = 5.0, samples: int = 3) -> dict[str, float]:
        """Median of a few readings after a forced GC and a pause.

        Without the GC, RSS still holds the garbage of decoding the requests (Go collects at
        twice the live heap), and Go's scavenger needs a few seconds to hand freed pages back;
        the promlake side likewise collects and trims its allocators before measuring.
        """
        _get(self.url + "/debug/pprof/heap?gc=1", 30.0)  # pprof's gc=1 runs runtime.GC() first
        time.sleep(pause)
        readings = []
        for _ in range(samples):
            time.sleep(1.0)
            m = self.metrics()
            m["rss"] = float(self.rss())
            readings.append(m)
        return {k: statistics.median(r[k] for r in readings) for k in readings[0]}


def remote_write_payloads(gen: Generator, from_round: int, shift_ms: int, connections: int,
                          max_samples: int) -> tuple[list[list[bytes]], int]:
    """Snappy WriteRequests of the rounds from ``from_round`` on, sharded by series like Prometheus."""
    gids, tss, vals = [], [], []
    for b in gen.batches(rounds_per_batch=40, from_round=from_round):
        gids.append(b.labels.gids[b.series_index])
        tss.append(b.ts + shift_ms)
        vals.append(b.values)
    gid, ts, val = np.concatenate(gids), np.concatenate(tss), np.concatenate(vals)
    used = np.unique(gid)
    pool = LabelPool.build([gen.label_dicts[g] for g in used.tolist()])
    local = np.searchsorted(used, gid)
    shards: list[list[bytes]] = []
    for k in range(connections):
        sel = np.flatnonzero(gid % connections == k)  # stable: each shard stays in time order
        reqs = encode_write_requests(pool, local[sel], ts[sel], val[sel], max_samples)
        shards.append([snappy(r) for r in reqs])
    return shards, len(gid)


def prometheus_live(gen: Generator, window_hours: float, connections: int = 4, max_samples: int = 2000) -> dict[str, Any]:
    """Remote-write the last ``window_hours`` (moved to end a minute ago) into a fresh Prometheus."""
    spec = gen.spec
    window_rounds = min(spec.rounds, round(window_hours * HOUR_MS / spec.interval_ms))
    from_round = spec.rounds - window_rounds
    shift = (int(time.time() * 1000) - 60_000) - spec.end_ms
    t0 = time.perf_counter()
    shards, n = remote_write_payloads(gen, from_round, shift, connections, max_samples)
    encode_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="promlake-bench-prom-") as tmp, PrometheusServer(Path(tmp)) as prom:
        idle = prom.settled()
        seconds = send_all(prom.url + "/api/v1/write", shards)
        after = prom.settled()
    head_series = after["prometheus_tsdb_head_series"]
    appended = after["prometheus_tsdb_head_samples_appended_total"]
    if int(appended) != n:
        raise AssertionError(f"prometheus appended {appended:.0f} samples, {n} were sent")
    return {
        "window_hours": window_rounds * spec.interval_ms / HOUR_MS,
        "samples": n,
        "requests": sum(len(s) for s in shards),
        "request_bytes": sum(len(r) for s in shards for r in s),
        "connections": connections,
        "max_samples_per_request": max_samples,
        "encode_seconds": encode_s,
        "append_seconds": seconds,
        "samples_per_second": n / seconds,
        "head_series": head_series,
        "rss_idle": idle["rss"],
        "rss_after": after["rss"],
        "heap_inuse_idle": idle["go_memstats_heap_inuse_bytes"],
        "heap_inuse_after": after["go_memstats_heap_inuse_bytes"],
        "ram_per_series": (after["rss"] - idle["rss"]) / head_series,
        "rss_per_series": after["rss"] / head_series,
        "heap_per_series": (after["go_memstats_heap_inuse_bytes"] - idle["go_memstats_heap_inuse_bytes"]) / head_series,
    }


@contextlib.contextmanager
def scratch(prefix: str, keep: bool = False) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield d
    finally:
        if not keep:
            shutil.rmtree(d, ignore_errors=True)
