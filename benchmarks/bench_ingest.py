"""Ingest benchmark: remote-write 1.0 into promlake and into Prometheus 2.42, side by side.

    .venv/bin/python -m benchmarks.bench_ingest [--quick] [--series N] [--minutes M] [--connections 4]

The same snappy-compressed WriteRequests (~2,000 one-sample TimeSeries each, the data of
``datagen``, built up front and not timed) go to a fresh Prometheus (``--web.enable-remote-write-receiver``)
and to a fresh ``promlake serve``, each over ``--connections`` keep-alive connections. Scrape rounds
are sent in order: the connections split round r between them and all wait for each other before
round r+1, so no sample is ever out of order. Figures (see benchmarks/README.md):

- samples/s: all samples / wall time of the whole send (every answer a 204);
- RAM per active series: (settled RSS after the last write - settled RSS idle) / active series,
  and peak RSS during the send;
- where promlake's time goes: a second, profiled send into another fresh promlake under py-spy,
  split into HTTP / snappy / protobuf decode / series index / head append / WAL / flush.

Ratios are promlake / Prometheus; goals (issue "HTTP API and push ingest"): samples/s >= 1.5x,
RAM per active series <= 0.3x.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import datetime as dt
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

from benchmarks.bench_storage import environment
from benchmarks.datagen import Generator, Spec
from benchmarks.prom_side import PrometheusServer, free_port, parse_metrics, scratch
from benchmarks.remote_write import HEADERS, LabelPool, RemoteWriteError, encode_write_requests, snappy

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
PY_SPY = Path(sys.executable).parent / "py-spy"
# (direction, factor): promlake / Prometheus should be at least / at most this.
GOALS = {"samples_per_second": ("at least", 1.5), "ram_per_series": ("at most", 0.3)}
# The issue's figure for Prometheus's RAM per active series (its 1h head in the storage benchmark).
ISSUE_PROM_RAM_PER_SERIES = 3400.0


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the request bodies ---------------------------------------------------------------------------
@dataclasses.dataclass
class Bodies:
    """Compressed WriteRequests, one list per scrape round, rounds in time order."""

    rounds: list[list[bytes]]
    samples: int
    series: int  # distinct series written: all active throughout (no churn in the window)
    raw_bytes: int  # uncompressed protobuf
    encode_seconds: float

    @property
    def requests(self) -> int:
        return sum(len(r) for r in self.rounds)

    @property
    def bytes(self) -> int:
        return sum(len(b) for r in self.rounds for b in r)


def make_spec(series: int, minutes: float, seed: int = 1, start_ms: int | None = None) -> Spec:
    """``minutes`` of 15 s scrapes of ``series`` active series, without churn (all stay active)."""
    extra = {} if start_ms is None else {"start_ms": start_ms}
    return Spec(series=series, hours=minutes / 60.0, seed=seed, churn_fraction=0.0, **extra)


def recent_start_ms(spec: Spec, lead_ms: int = 60_000) -> int:
    """A start time (whole second) so that the data ends ``lead_ms`` before now.

    Prometheus only takes samples near its head's time range, so the data is placed just
    before the wall clock, as a live sender's would be.
    """
    span = spec.end_ms - spec.start_ms
    return (int(time.time() * 1000) - lead_ms - span) // 1000 * 1000


def build_bodies(spec: Spec, max_samples: int = 2000) -> Bodies:
    """Each scrape round of every series (samples in time order) as snappy WriteRequests.

    Encoded by ``benchmarks.remote_write`` (one sample per TimeSeries, like Prometheus's
    queue manager), the same bytes for the same ``spec``.
    """
    t0 = time.perf_counter()
    gen = Generator(spec)
    pool = LabelPool.build(gen.label_dicts)  # indexed by the generator's series id
    rounds: list[list[bytes]] = []
    samples = raw = 0
    seen = set()
    for b in gen.batches(rounds_per_batch=1):
        gid = b.labels.gids[b.series_index]
        reqs = encode_write_requests(pool, gid, b.ts, b.values, max_samples)
        raw += sum(len(r) for r in reqs)
        rounds.append([snappy(r) for r in reqs])
        samples += len(gid)
        seen.update(b.labels.gids.tolist())
    return Bodies(rounds, samples, len(seen), raw, time.perf_counter() - t0)


# --- sending --------------------------------------------------------------------------------------
class _Sampler:
    """Peak RSS of a process, read every ``every`` seconds by a thread."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.proc.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(psutil.Error):
            self.peak = max(self.peak, self.proc.memory_info().rss)
        return int(self.peak)


def _cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def send_rounds(
    url: str, rounds: Sequence[Sequence[bytes]], connections: int, pid: int, timeout: float = 300.0
) -> dict[str, Any]:
    """POST every round's requests over ``connections`` keep-alive connections, round after round.

    Connection k sends requests k, k+C, ... of a round; a barrier keeps round r+1 from starting
    before every request of round r was answered. Any answer but 204 stops the send.
    """
    host, _, port = url.split("//", 1)[1].split("/", 1)[0].rpartition(":")
    path = "/api/v1/write"
    barrier = threading.Barrier(connections)
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors: list[str] = []

    def run(k: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            for reqs in rounds:
                for body in reqs[k::connections]:
                    t = time.perf_counter()
                    conn.request("POST", path, body=body, headers=HEADERS)
                    resp = conn.getresponse()
                    text = resp.read()
                    latencies[k].append(time.perf_counter() - t)
                    if resp.status != 204:
                        errors.append(f"HTTP {resp.status}: {text[:300]!r}")
                        barrier.abort()
                        return
                barrier.wait()
        except threading.BrokenBarrierError:
            pass
        except OSError as e:
            errors.append(repr(e))
            barrier.abort()
        finally:
            conn.close()

    sampler = _Sampler(pid)
    cpu0 = _cpu_seconds(pid)
    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(connections)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds(pid) - cpu0
    peak = sampler.stop()
    if errors:
        raise RemoteWriteError("; ".join(errors[:5]))
    lat = sorted(x for per in latencies for x in per)
    return {
        "seconds": seconds,
        "server_cpu_seconds": cpu,
        "rss_peak": peak,
        "rss_end": int(psutil.Process(pid).memory_info().rss),
        "latency_p50_ms": 1e3 * lat[len(lat) // 2] if lat else None,
        "latency_p99_ms": 1e3 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
        "latency_max_ms": 1e3 * lat[-1] if lat else None,
    }


# --- promlake serve -------------------------------------------------------------------------------
def _get(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return bytes(r.read())


class LakeServer:
    """``python -m promlake serve`` on a loopback port: a fresh lake, no scrape jobs, no self-metrics."""

    WANTED = frozenset(
        {
            "prometheus_tsdb_head_series",
            "promlake_series",
            "promlake_head_samples",
            "promlake_head_bytes",
            "prometheus_tsdb_head_samples_appended_total",
            "promlake_head_flushes_total",
            "promlake_head_flush_failures_total",
        }
    )

    def __init__(self, workdir: Path, extra_args: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "promlake.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> LakeServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "promlake.yml"
        cfg.write_text("global:\n  scrape_interval: 15s\n")  # no scrape jobs: only written series
        cmd = [
            sys.executable,
            "-m",
            "promlake",
            "serve",
            f"--config.file={cfg}",
            f"--storage.path={self.workdir / 'lake'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--no-self-metrics",
            "--log.level=warn",
            *self.extra_args,
        ]
        with self.log.open("wb") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"promlake serve exited: {self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if _get(self.url + "/-/ready", 2.0):
                    return self
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("promlake serve did not become ready")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # flushes the head to Parquet, then exits
            try:
                self.proc.wait(180)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def metrics(self) -> dict[str, float]:
        return parse_metrics(_get(self.url + "/metrics").decode(), set(self.WANTED))

    def settled(self, min_pause: float = 3.0, timeout: float = 90.0) -> dict[str, float]:
        """Readings once the background head flush is done and RSS has stopped moving.

        promlake has no endpoint to force a GC; its allocators are set to hand freed pages back
        (``promlake/_memory.py``). Settled: three readings 1 s apart with the same flush count and
        RSS within 1% of each other, after at least ``min_pause``.
        """
        time.sleep(min_pause)
        readings: list[dict[str, float]] = []
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            m["rss"] = float(self.rss())
            readings.append(m)
            last = readings[-3:]
            if len(last) == 3:
                rss = [r["rss"] for r in last]
                flushes = {r.get("promlake_head_flushes_total", 0.0) for r in last}
                if len(flushes) == 1 and max(rss) - min(rss) <= 0.01 * max(rss):
                    break
            if time.monotonic() > deadline:
                break
            time.sleep(1.0)
        return {k: statistics.median(r.get(k, 0.0) for r in readings[-3:]) for k in readings[-1]}


# --- one side -------------------------------------------------------------------------------------
def run_prometheus(bodies: Bodies, connections: int) -> dict[str, Any]:
    with scratch("promlake-bench-ingest-prom-") as tmp, PrometheusServer(tmp) as prom:
        assert prom.proc is not None
        idle = prom.settled()
        sent = send_rounds(prom.url, bodies.rounds, connections, prom.proc.pid)
        after = prom.settled()
    appended = after["prometheus_tsdb_head_samples_appended_total"]
    if int(appended) != bodies.samples:
        raise AssertionError(f"prometheus appended {appended:.0f} samples, {bodies.samples} were sent")
    return _side(
        bodies,
        sent,
        idle,
        after,
        after["prometheus_tsdb_head_series"],
        heap_inuse_idle=idle["go_memstats_heap_inuse_bytes"],
        heap_inuse_after=after["go_memstats_heap_inuse_bytes"],
    )


def run_promlake(bodies: Bodies, connections: int, work: Path, settle: float = 3.0) -> dict[str, Any]:
    with LakeServer(work / "lake-timed") as lake:
        idle = lake.settled(min_pause=settle)
        sent = send_rounds(lake.url, bodies.rounds, connections, lake.pid)
        after = lake.settled(min_pause=settle)
        flush_failures = after.get("promlake_head_flush_failures_total", 0.0)
    appended = after["prometheus_tsdb_head_samples_appended_total"]
    if int(appended) != bodies.samples:
        raise AssertionError(f"promlake appended {appended:.0f} samples, {bodies.samples} were sent")
    return _side(
        bodies,
        sent,
        idle,
        after,
        after["prometheus_tsdb_head_series"],
        head_samples_after=after.get("promlake_head_samples"),
        head_sample_share_after=after.get("promlake_head_samples", 0.0) / bodies.samples,
        head_bytes_after=after.get("promlake_head_bytes"),
        index_series_after=after.get("promlake_series"),
        head_flushes=after.get("promlake_head_flushes_total", 0.0),
        head_flush_failures=flush_failures,
    )


def _side(
    bodies: Bodies,
    sent: dict[str, Any],
    idle: dict[str, float],
    after: dict[str, float],
    head_series: float,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "loadavg_1m_after": os.getloadavg()[0],
        "samples": bodies.samples,
        "active_series": bodies.series,
        **sent,
        "samples_per_second": bodies.samples / sent["seconds"],
        "samples_per_cpu_second": bodies.samples / sent["server_cpu_seconds"]
        if sent["server_cpu_seconds"]
        else None,
        "head_series_after": head_series,
        "rss_idle": idle["rss"],
        "rss_after": after["rss"],
        "ram_per_series": (after["rss"] - idle["rss"]) / bodies.series,
        "peak_ram_per_series": (sent["rss_peak"] - idle["rss"]) / bodies.series,
        "rss_per_series": after["rss"] / bodies.series,
        **extra,
    }


def median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per numeric figure the median over the runs (the first run's value otherwise), plus all runs."""
    out: dict[str, Any] = {}
    for k, v in runs[0].items():
        vals = [r.get(k) for r in runs]
        if all(isinstance(x, int | float) and not isinstance(x, bool) for x in vals):
            out[k] = statistics.median([float(x) for x in vals if x is not None])
        else:
            out[k] = v
    if len(runs) > 1:
        out["runs"] = runs
    return out


# --- where promlake's time goes -------------------------------------------------------------------
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?):(?P<line>\d+)\)$")
CATEGORIES = (
    "HTTP server (uvicorn/starlette/asyncio)",
    "snappy decompress",
    "protobuf decode (prompb)",
    "series labels / index",
    "head append + commit",
    "WAL",
    "head flush (background)",
    "remote-write handler, other",
    "other",
)


def _decompress_lines() -> set[int]:
    src = (REPO / "api" / "write.py").read_text().splitlines()
    return {i + 1 for i, line in enumerate(src) if "decompress" in line and "cramjam" in line}


def _project_file(file: str) -> str | None:
    """The repository-relative path of a promlake source file (not the venv's libraries)."""
    root = str(REPO) + "/"
    if not file.startswith(root) or file.startswith(root + ".venv/"):
        return None
    return file[len(root) :]


def classify(stack: list[tuple[str, str, int]], snappy_lines: set[int]) -> str:
    """One category per py-spy stack (outermost frame first): the innermost project frame decides."""
    funcs = {f.rsplit(".", 1)[-1] for f, _, _ in stack}  # py-spy names methods Class.method
    if funcs & {"_background_flush", "_maintenance"}:
        return "head flush (background)"
    for func, file, line in reversed(stack):
        rel = _project_file(file)
        if rel is None:
            continue
        if rel == "engine/wal.py" or func in ("_wal_samples",):
            return "WAL"
        if rel.startswith("ingest/prompb/"):
            return "protobuf decode (prompb)"
        if rel in ("engine/labels.py", "engine/index.py", "engine/series_id.py"):
            return "series labels / index"
        if rel in (
            "engine/head.py",
            "engine/appender.py",
            "engine/memory.py",
            "engine/start_ts.py",
            "engine/lake.py",
        ):
            return "head append + commit"
        if rel == "api/write.py":
            return "snappy decompress" if line in snappy_lines else "remote-write handler, other"
        if rel == "ingest/remote_write.py":
            return "remote-write handler, other"
    if any(
        s in f
        for _, f, _ in stack
        for s in ("uvicorn", "starlette", "fastapi", "asyncio", "h11", "httptools", "anyio")
    ):
        return "HTTP server (uvicorn/starlette/asyncio)"
    return "other"


def parse_raw(text: str) -> Iterator[tuple[list[tuple[str, str, int]], int]]:
    """py-spy ``--format raw`` (collapsed stacks): (frames outermost first, sample count)."""
    for row in text.splitlines():
        stack_s, _, count = row.rpartition(" ")
        if not stack_s or not count.isdigit():
            continue
        frames = []
        for part in stack_s.split(";"):
            m = _FRAME.match(part)
            if m:
                frames.append((m["func"], m["file"], int(m["line"])))
        yield frames, int(count)


def summarize_profile(text: str, rate: int) -> dict[str, Any]:
    lines = _decompress_lines()
    by_cat: collections.Counter[str] = collections.Counter()
    by_func: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, n in parse_raw(text):
        total += n
        by_cat[classify(frames, lines)] += n
        proj = [(f, rel) for f, file, _ in frames if (rel := _project_file(file)) is not None]
        leaf = frames[-1] if frames else ("?", "?", 0)
        where = f"{proj[-1][0]} ({proj[-1][1]})" if proj else "-"
        by_func[f"{leaf[0]} ({Path(leaf[1]).name}) <- {where}"] += n
    return {
        "busy_samples": total,
        "rate_hz": rate,
        "busy_thread_seconds": total / rate,
        "categories": {
            c: {"samples": by_cat[c], "share": by_cat[c] / total if total else 0.0}
            for c in CATEGORIES
            if by_cat[c]
        },
        "top_leaves": [{"where": k, "share": v / total} for k, v in by_func.most_common(15)],
    }


def profile_promlake(bodies: Bodies, connections: int, work: Path, rate: int = 100) -> dict[str, Any] | None:
    """Send the same bodies to another fresh promlake under ``py-spy record`` (not the timed run)."""
    if not PY_SPY.exists() and shutil.which("py-spy") is None:
        _log("py-spy not found; no profile")
        return None
    spy = str(PY_SPY) if PY_SPY.exists() else str(shutil.which("py-spy"))
    raw = work / "promlake-ingest.pyspy.txt"
    with LakeServer(work / "lake-profiled") as lake:
        lake.settled(min_pause=1.0)
        rec = subprocess.Popen(
            [
                spy,
                "record",
                "-p",
                str(lake.pid),
                "-r",
                str(rate),
                "--format",
                "raw",
                "--full-filenames",
                "--nonblocking",
                "-o",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(1.0)  # let py-spy attach
        try:
            sent = send_rounds(lake.url, bodies.rounds, connections, lake.pid)
            time.sleep(1.0)
        finally:
            rec.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                _, err = rec.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                rec.kill()
                _, err = rec.communicate()
    if not raw.exists():
        _log(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")
        return None
    out = summarize_profile(raw.read_text(), rate)
    out.update(
        seconds=sent["seconds"],
        samples_per_second=bodies.samples / sent["seconds"],
        server_cpu_seconds=sent["server_cpu_seconds"],
        tool="py-spy record --nonblocking (idle excluded)",
    )
    return out


# --- report ---------------------------------------------------------------------------------------
def summarize(prom: dict[str, Any] | None, lake: dict[str, Any] | None) -> dict[str, Any]:
    keys = (
        "samples_per_second",
        "samples_per_cpu_second",
        "ram_per_series",
        "peak_ram_per_series",
        "rss_per_series",
    )
    out = {}
    for k in keys:
        p = None if prom is None else prom.get(k)
        q = None if lake is None else lake.get(k)
        ratio = q / p if p and q is not None else None
        goal = GOALS.get(k)
        met = None
        if goal and ratio is not None:
            met = ratio >= goal[1] if goal[0] == "at least" else ratio <= goal[1]
        out[k] = {
            "prometheus": p,
            "promlake": q,
            "ratio": ratio,
            "goal": f"{goal[0]} {goal[1]}x" if goal else None,
            "goal_met": met,
        }
    q = out["ram_per_series"]["promlake"]
    out["ram_per_series_vs_issue_reference"] = {
        "prometheus_reference": ISSUE_PROM_RAM_PER_SERIES,
        "promlake": q,
        "ratio": float(q) / ISSUE_PROM_RAM_PER_SERIES if q is not None else None,
    }
    return out


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "B":
        return f"{v:,.0f} B"
    if unit == "/s":
        return f"{v / 1e3:,.1f}k/s"
    return f"{v:.2f}x"


def print_report(
    summary: dict[str, Any], bodies: Bodies, connections: int, profile: dict[str, Any] | None
) -> None:
    labels = {
        "samples_per_second": ("samples/s (wall, 4 conns)", "/s"),
        "samples_per_cpu_second": ("samples per server CPU-second", "/s"),
        "ram_per_series": ("RAM / active series (settled)", "B"),
        "peak_ram_per_series": ("peak RAM / active series", "B"),
        "rss_per_series": ("RSS / active series (plain)", "B"),
    }
    print(
        f"\ningest benchmark: {bodies.series:,} active series, {len(bodies.rounds)} scrape rounds, "
        f"{bodies.samples:,} samples in {bodies.requests:,} requests ({bodies.bytes / 1e6:,.1f} MB snappy), "
        f"{connections} connections"
    )
    print(f"{'':36} {'prometheus':>13} {'promlake':>13} {'ratio':>8} {'goal':>14}")
    for key, (label, unit) in labels.items():
        r = summary[key]
        goal = r["goal"] or ""
        if r["goal_met"] is not None:
            goal += " ok" if r["goal_met"] else " NOT MET"
        print(
            f"{label:36} {_fmt(r['prometheus'], unit):>13} {_fmt(r['promlake'], unit):>13} "
            f"{_fmt(r['ratio'], ''):>8} {goal:>14}"
        )
    print("ratio = promlake / prometheus (higher is better for samples/s, lower for RAM)")
    ref = summary["ram_per_series"]["promlake"]
    if ref is not None:
        print(
            f"promlake RAM / series against the issue's ~{ISSUE_PROM_RAM_PER_SERIES / 1e3:.1f} kB for Prometheus: "
            f"{ref / ISSUE_PROM_RAM_PER_SERIES:.2f}x"
        )
    if profile:
        print(
            f"\nwhere promlake's time goes (py-spy, {profile['busy_thread_seconds']:.1f} busy thread-s over a "
            f"{profile['seconds']:.1f} s send at {profile['samples_per_second'] / 1e3:,.1f}k samples/s):"
        )
        for cat, v in profile["categories"].items():
            print(f"  {cat:42} {100 * v['share']:5.1f}%")
        print("  top leaves:")
        for row in profile["top_leaves"][:8]:
            print(f"    {100 * row['share']:5.1f}%  {row['where']}")
    print()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--quick", action="store_true", help="10k series, 2 minutes of data (well under a minute)"
    )
    ap.add_argument("--series", type=int, help="active series (default 100000; quick 10000)")
    ap.add_argument(
        "--minutes", type=float, help="minutes of 15 s scrapes = rounds / 4 (default 10; quick 2)"
    )
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--max-samples", type=int, default=2000, help="samples per request")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="timed sends per side, alternating sides; medians")
    ap.add_argument("--only", choices=["prometheus", "promlake"], help="run one side only")
    ap.add_argument("--no-profile", action="store_true", help="skip the profiled promlake send")
    ap.add_argument(
        "--settle", type=float, help="seconds before promlake's settled readings (default 3; quick 1)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument(
        "--out", type=Path, help="JSON path (default benchmarks/results/ingest-<date>[-quick].json)"
    )
    args = ap.parse_args(argv)
    series = args.series or (10_000 if args.quick else 100_000)
    minutes = args.minutes or (2.0 if args.quick else 10.0)
    settle = args.settle if args.settle is not None else (1.0 if args.quick else 3.0)
    spec = make_spec(series, minutes, args.seed)
    spec = dataclasses.replace(spec, start_ms=recent_start_ms(spec))
    t_start = time.perf_counter()
    bodies = build_bodies(spec, args.max_samples)
    _log(
        f"{bodies.series:,} series, {len(bodies.rounds)} rounds, {bodies.samples:,} samples, "
        f"{bodies.requests:,} requests, {bodies.bytes / 1e6:,.1f} MB snappy "
        f"({bodies.raw_bytes / 1e6:,.0f} MB raw), encoded in {bodies.encode_seconds:.1f}s"
    )
    if spec.end_ms < time.time() * 1000 - 30 * 60_000:
        _log("warning: encoding took long; the data is more than 30 min old for Prometheus's head")
    prom = lake = profile = None
    with scratch("promlake-bench-ingest-", keep=args.keep) as work:
        if args.keep:
            _log(f"scratch directory: {work}")
        prom_runs: list[dict[str, Any]] = []
        lake_runs: list[dict[str, Any]] = []
        for i in range(args.repeat):
            if args.only != "promlake":
                r = run_prometheus(bodies, args.connections)
                prom_runs.append(r)
                _log(
                    f"prometheus #{i + 1}: {r['samples_per_second']:,.0f} samples/s, {r['ram_per_series']:,.0f} B/series"
                )
            if args.only != "prometheus":
                r = run_promlake(bodies, args.connections, work / f"run{i}", settle)
                lake_runs.append(r)
                _log(
                    f"promlake #{i + 1}: {r['samples_per_second']:,.0f} samples/s, {r['ram_per_series']:,.0f} B/series"
                )
        prom = median_runs(prom_runs) if prom_runs else None
        lake = median_runs(lake_runs) if lake_runs else None
        if lake is not None and not args.no_profile:
            profile = profile_promlake(bodies, args.connections, work)
            if args.keep and profile:
                _log(f"py-spy raw stacks: {work / 'promlake-ingest.pyspy.txt'}")
    summary = summarize(prom, lake)
    print_report(summary, bodies, args.connections, profile)
    result = {
        "benchmark": "ingest",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "default",
        "seconds": time.perf_counter() - t_start,
        "spec": dataclasses.asdict(spec),
        "data": {
            "active_series": bodies.series,
            "rounds": len(bodies.rounds),
            "samples": bodies.samples,
            "requests": bodies.requests,
            "snappy_bytes": bodies.bytes,
            "raw_bytes": bodies.raw_bytes,
            "encode_seconds": bodies.encode_seconds,
        },
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "goals": {k: f"{d} {f}x" for k, (d, f) in GOALS.items()},
        "summary": summary,
        "prometheus": prom,
        "promlake": lake,
        "promlake_profile": profile,
        "environment": environment(),
    }
    out = args.out or RESULTS / f"ingest-{dt.date.today().isoformat()}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    _log(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
