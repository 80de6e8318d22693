"""Running one query set on both sides: data, servers, and paired timing of every query.

- Data: the set's ``Spec`` once as promtool blocks (``create-blocks-from openmetrics``) for
  Prometheus and once through promlake's Appender (``query_lake build``); both from the same
  generator, so the samples are bit-identical. With a data directory the built data is kept
  and reused while the spec is the same (``built.json`` holds the build figures).
- Prometheus: ``prom_side.PrometheusServer`` on the blocks (retention 10y, or it would delete
  blocks older than 15 days before the newest), timed over HTTP ``GET /api/v1/query_range``
  on a keep-alive connection: the time to the last byte of the JSON body, as a dashboard sees it.
- promlake: a ``query_lake serve`` process with the lake opened read-only, timed in-process
  around ``Engine.range`` (no HTTP, no JSON: this favours promlake).

Per query: one warm-up run on each side (its results are the match check), then ``runs`` rounds
that alternate the sides, so a busy neighbour on the machine slows both alike. A side whose
timed runs pass ``budget_s`` stops early (at least one run). Median wall time, mean CPU time.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import statistics
import subprocess
import sys
import time
import urllib.parse
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import psutil
import pyarrow.feather as feather

from benchmarks.datagen import Generator
from benchmarks.openmetrics import write_openmetrics
from benchmarks.prom_side import PrometheusServer, create_blocks
from benchmarks.query_compare import compare, from_prometheus, from_promlake
from benchmarks.query_set import Query, QuerySet

REPO = Path(__file__).resolve().parent.parent
PROM_FLAGS = ("--storage.tsdb.retention.time=10y", "--query.timeout=10m")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def spec_key(qs: QuerySet) -> str:
    return hashlib.sha256(json.dumps(asdict(qs.spec), sort_keys=True).encode()).hexdigest()[:12]


def build_data(qs: QuerySet, setdir: Path, quick: bool, overrides: dict[str, Any]) -> dict[str, Any]:
    """Blocks in ``setdir/prom/data``, the lake in ``setdir/lake``; reused when already built."""
    marker = setdir / "built.json"
    if marker.exists():
        built: dict[str, Any] = json.loads(marker.read_text())
        if built.get("spec") == asdict(qs.spec):
            log(f"{qs.name}: reusing the data in {setdir}")
            return built
    setdir.mkdir(parents=True, exist_ok=True)
    gen = Generator(qs.spec)
    log(f"{qs.name}: {gen.n_targets} targets, {gen.n_series_total:,} series, {qs.spec.rounds:,} scrape rounds; "
        "writing OpenMetrics")
    data_dir = setdir / "prom" / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    om = setdir / "prom" / "data.om"
    t0 = time.perf_counter()
    n = write_openmetrics(gen, om)
    om_s = time.perf_counter() - t0
    log(f"{qs.name}: {n:,} samples, {om.stat().st_size / 1e6:,.0f} MB of OpenMetrics in {om_s:.0f}s; running promtool")
    prom = create_blocks(om, data_dir, qs.max_block_ms)
    om.unlink()
    if prom["samples"] != n:
        raise AssertionError(f"promtool made blocks of {prom['samples']} samples, {n} were written")
    prom["openmetrics_seconds"] = om_s
    log(f"{qs.name}: {prom['blocks']} promtool block(s) in {prom['seconds']:.0f}s; appending to the lake")
    cmd = [sys.executable, "-m", "benchmarks.query_lake", "build", "--set", qs.name, "--dir", str(setdir / "lake"),
           "--overrides", json.dumps(overrides)] + (["--quick"] if quick else [])
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"promlake build failed:\n{done.stderr[-4000:]}")
    lake = json.loads(done.stdout.strip().splitlines()[-1])
    if lake["samples"] != n:
        raise AssertionError(f"the lake took {lake['samples']} samples, {n} were generated")
    log(f"{qs.name}: lake built in {lake['wall_seconds_incl_generation']:.0f}s "
        f"(+{lake['compact_seconds']:.0f}s compaction), {lake['blocks']} blocks")
    built = {"spec": asdict(qs.spec), "samples": n, "series_total": gen.n_series_total, "targets": gen.n_targets,
             "prometheus": prom, "promlake": lake}
    marker.write_text(json.dumps(built, indent=2, default=str))
    return built


class LakeWorker:
    """A ``query_lake serve`` child: one JSON request per line in, one JSON answer per line out."""

    def __init__(self, lake_dir: Path, log_path: Path) -> None:
        self._log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.query_lake", "serve", "--dir", str(lake_dir)],
                                     cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     text=True, bufsize=1)
        self.hello = self._read()
        if not self.hello.get("ready"):
            raise RuntimeError(f"promlake worker did not start: {self.hello}")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError(f"promlake worker exited: {Path(self._log.name).read_text()[-3000:]}")
        out: dict[str, Any] = json.loads(line)
        return out

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class PromClient:
    """``/api/v1/query_range`` on one keep-alive connection; CPU time of the server per request."""

    def __init__(self, server: PrometheusServer) -> None:
        assert server.proc is not None
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=900)
        self.proc = psutil.Process(server.proc.pid)

    def _cpu(self) -> float:
        c = self.proc.cpu_times()
        return float(c.user + c.system)

    def run(self, q: Query, start: int, end: int, step: int) -> tuple[dict[str, Any], bytes]:
        params = urllib.parse.urlencode({"query": q.expr, "start": f"{start / 1000:.3f}", "end": f"{end / 1000:.3f}",
                                         "step": f"{step / 1000:g}"})
        c0, t0 = self._cpu(), time.perf_counter()
        self.conn.request("GET", "/api/v1/query_range?" + params)
        resp = self.conn.getresponse()
        body = resp.read()
        wall = time.perf_counter() - t0
        cpu = self._cpu() - c0
        out: dict[str, Any] = {"wall_ms": wall * 1000, "cpu_ms": cpu * 1000, "bytes": len(body)}
        if resp.status != 200:
            try:
                doc = json.loads(body)
                out["error"] = f"{resp.status} {doc.get('errorType')}: {doc.get('error')}"
            except ValueError:
                out["error"] = f"HTTP {resp.status}: {body[:300]!r}"
        return out, body

    def close(self) -> None:
        self.conn.close()


def _side_summary(runs: list[dict[str, Any]], warmup: dict[str, Any], error: str | None) -> dict[str, Any]:
    """Median wall time; mean CPU time (Prometheus's comes in 10 ms ticks: a median would be 0 or 10)."""
    if error is not None:
        return {"error": error, "runs": len(runs)}
    timed = runs or [warmup]  # --runs 0: the warm-up is all there is
    walls, cpus = [r["wall_ms"] for r in timed], [r["cpu_ms"] for r in timed]
    return {"wall_ms": statistics.median(walls), "cpu_ms": statistics.fmean(cpus), "runs": len(runs),
            "wall_ms_all": walls, "cpu_ms_all": cpus}


def time_query(q: Query, qs: QuerySet, prom: PromClient, lake: LakeWorker, tmp: Path, runs: int,
               budget_s: float) -> dict[str, Any]:
    start, end, step = q.window(qs.spec)
    out: dict[str, Any] = {"name": q.name, "expr": q.expr, "start_ms": start, "end_ms": end, "step_ms": step,
                           "points_per_series": (end - start) // step + 1}
    p_warm, body = prom.run(q, start, end, step)
    save = str(tmp / "result")
    l_warm = lake.request({"op": "run", "expr": q.expr, "start": start, "end": end, "step": step, "save": save})
    p_err, l_err = p_warm.get("error"), l_warm.get("error")
    out["warmup"] = {"prometheus": p_warm, "promlake": {k: v for k, v in l_warm.items() if k != "traceback"}}
    if p_err is None and l_err is None:
        series = feather.read_table(save + ".series.arrow")
        points = feather.read_table(save + ".points.arrow")
        out["match"] = compare(from_prometheus(body), from_promlake(series, points)).as_dict()
    p_runs: list[dict[str, Any]] = []
    l_runs: list[dict[str, Any]] = []
    p_spent = l_spent = 0.0
    for _ in range(runs):
        if p_err is None and (not p_runs or p_spent < budget_s):
            r, _ = prom.run(q, start, end, step)
            p_err = r.get("error")
            p_runs.append(r)
            p_spent += r["wall_ms"] / 1000
        if l_err is None and (not l_runs or l_spent < budget_s):
            r = lake.request({"op": "run", "expr": q.expr, "start": start, "end": end, "step": step})
            l_err = r.get("error")
            l_runs.append(r)
            l_spent += r.get("wall_ms", 0.0) / 1000
    out["prometheus"] = _side_summary(p_runs, p_warm, p_err)
    out["promlake"] = _side_summary(l_runs, l_warm, l_err)
    if p_err is None and l_err is None:
        out["ratio"] = out["promlake"]["wall_ms"] / out["prometheus"]["wall_ms"]
        p_cpu = out["prometheus"]["cpu_ms"]
        out["cpu_ratio"] = out["promlake"]["cpu_ms"] / p_cpu if p_cpu > 0 else None
    return out


def run_set(qs: QuerySet, setdir: Path, runs: int, budget_s: float, profile_prefix: Path | None) -> dict[str, Any]:
    """Time every query of the set on both sides; profile promlake's slowest query."""
    results: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    tmp = setdir / "tmp"
    tmp.mkdir(exist_ok=True)
    with PrometheusServer(setdir / "prom", extra_args=PROM_FLAGS) as server:
        t0 = time.perf_counter()
        lake = LakeWorker(setdir / "lake", setdir / "promlake-worker.log")
        out["promlake_start_seconds"] = time.perf_counter() - t0
        out["promlake_open_ms"] = lake.hello["open_ms"]
        prom = PromClient(server)
        try:
            for i, q in enumerate(qs.queries):
                r = time_query(q, qs, prom, lake, tmp, runs, budget_s)
                results.append(r)
                log(f"{qs.name} [{i + 1}/{len(qs.queries)}] {q.name}: {_brief(r)}")
            if profile_prefix is not None:
                out["profile"] = profile_slowest(qs, results, lake, profile_prefix)
        finally:
            prom.close()
            lake.close()
        out["prometheus_rss_after"] = server.rss()
    out["queries"] = results
    return out


def profile_slowest(qs: QuerySet, results: list[dict[str, Any]], lake: LakeWorker, prefix: Path) -> dict[str, Any]:
    """One pyinstrument run of the query promlake took longest on; the report goes next to the JSON."""
    timed = [r for r in results if "wall_ms" in r["promlake"]]
    if not timed:
        return {"error": "no promlake query succeeded"}
    slow = max(timed, key=lambda r: r["promlake"]["wall_ms"])
    path = prefix.with_name(f"{prefix.name}-profile-{qs.name}.txt")
    log(f"{qs.name}: profiling promlake on {slow['name']} -> {path}")
    prof = lake.request({"op": "profile", "expr": slow["expr"], "start": slow["start_ms"], "end": slow["end_ms"],
                         "step": slow["step_ms"], "out": str(path)})
    return {"query": slow["name"], "expr": slow["expr"], "report": str(path), **prof}


def _brief(r: dict[str, Any]) -> str:
    p, lk = r["prometheus"], r["promlake"]
    if "error" in p or "error" in lk:
        return f"prometheus {p.get('error') or 'ok'}; promlake {lk.get('error') or 'ok'}"
    m = r.get("match", {})
    return (f"prometheus {p['wall_ms']:.1f} ms, promlake {lk['wall_ms']:.1f} ms, ratio {r['ratio']:.2f}, "
            f"match {'yes' if m.get('match') else 'NO'}")
