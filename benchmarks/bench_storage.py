"""Storage benchmark: promlake side by side with the real Prometheus 2.42 on the same data.

    .venv/bin/python -m benchmarks.bench_storage [--quick] [--series N] [--hours H]

Figures (see benchmarks/README.md):
- disk bytes per sample: promtool's blocks of the whole data set vs the lake's Parquet after
  flush + compact;
- RAM per active series: RSS growth of a fresh Prometheus / a fresh lake process while the last
  hour of the data goes into its head, divided by head series;
- append throughput in samples/s.
Ratios are promlake / Prometheus; the machine is noisy, so compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.datagen import Generator, Spec
from benchmarks.openmetrics import write_openmetrics
from benchmarks.prom_side import PROMETHEUS, block_range_ms, create_blocks, prometheus_live, scratch

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
GOALS = {"bytes_per_sample": 0.5, "ram_per_series": 0.3}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def prometheus_disk(spec: Spec, work: Path) -> dict[str, Any]:
    om = work / "data.om"
    t0 = time.perf_counter()
    n = write_openmetrics(Generator(spec), om)
    write_s = time.perf_counter() - t0
    _log(f"OpenMetrics file: {n:,} samples, {om.stat().st_size / 1e6:,.0f} MB in {write_s:.0f}s; running promtool")
    out = create_blocks(om, work / "blocks", block_range_ms(spec.end_ms - spec.start_ms))
    om.unlink()
    if out["samples"] != n:
        raise AssertionError(f"promtool made blocks of {out['samples']} samples, {n} were written")
    out.update(openmetrics_seconds=write_s, bytes_per_sample=out["bytes"] / n)
    return out


def lake_run(mode: str, spec: Spec, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.lake_side", mode, "--spec", json.dumps(dataclasses.asdict(spec)),
           "--dir", str(work / f"lake-{mode}"), "--rounds-per-batch", str(args.rounds_per_batch),
           "--window-hours", str(args.window_hours)]
    if args.reuse_series:
        cmd.append("--reuse-series")
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"promlake {mode} run failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarize(prom_disk: dict[str, Any] | None, prom_live: dict[str, Any] | None,
              lake_ram: dict[str, Any] | None, lake_ingest: dict[str, Any] | None) -> dict[str, Any]:
    def get(d: dict[str, Any] | None, k: str) -> float | None:
        return None if d is None else d.get(k)

    rows = {
        "bytes_per_sample": (get(prom_disk, "bytes_per_sample"), get(lake_ingest, "bytes_per_sample")),
        "ram_per_series": (get(prom_live, "ram_per_series"), get(lake_ram, "ram_per_series")),
        "rss_per_series": (get(prom_live, "rss_per_series"), get(lake_ram, "rss_per_series")),
        "append_samples_per_second": (get(prom_live, "samples_per_second"), get(lake_ingest, "samples_per_second")),
        "append_samples_per_second_1h_head": (get(prom_live, "samples_per_second"), get(lake_ram, "samples_per_second")),
    }
    return {k: {"prometheus": p, "promlake": q, "ratio": _ratio(q, p), "goal_ratio_at_most": GOALS.get(k)}
            for k, (p, q) in rows.items()}


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "B":
        return f"{v:,.0f} B" if v >= 100 else f"{v:.3f} B"
    if unit == "/s":
        return f"{v / 1e3:,.0f}k/s"
    return f"{v:.3f}"


def print_table(summary: dict[str, Any], spec: Spec, n_samples: int | None) -> None:
    labels = {
        "bytes_per_sample": ("disk bytes / sample", "B"),
        "ram_per_series": ("RAM / head series (RSS growth)", "B"),
        "rss_per_series": ("RSS / head series (plain)", "B"),
        "append_samples_per_second": ("append samples/s (all data)", "/s"),
        "append_samples_per_second_1h_head": ("append samples/s (last 1h, fresh head)", "/s"),
    }
    print(f"\nstorage benchmark: {spec.series:,} active series wanted, {spec.hours:g}h at {spec.interval_ms / 1000:g}s"
          + (f", {n_samples:,} samples" if n_samples else ""))
    print(f"{'':40} {'prometheus':>14} {'promlake':>14} {'ratio':>8} {'goal':>7}")
    for key, (label, unit) in labels.items():
        r = summary[key]
        goal = f"<= {r['goal_ratio_at_most']}" if r["goal_ratio_at_most"] else ""
        print(f"{label:40} {_fmt(r['prometheus'], unit):>14} {_fmt(r['promlake'], unit):>14} "
              f"{_fmt(r['ratio'], ''):>8} {goal:>7}")
    print("ratio = promlake / prometheus (lower is better for bytes and RAM, higher for samples/s)\n")


def environment() -> dict[str, Any]:
    def run(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=30).stdout.strip()
        except OSError:
            return ""

    import duckdb
    import numpy
    import polars
    import pyarrow

    return {
        "prometheus": run([PROMETHEUS, "--version"]).splitlines()[0] if os.path.exists(PROMETHEUS) else None,
        "python": platform.python_version(),
        "numpy": numpy.__version__, "pyarrow": pyarrow.__version__, "polars": polars.__version__,
        "duckdb": duckdb.__version__,
        "cpus": os.cpu_count(), "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "git_commit": run(["git", "rev-parse", "--short", "HEAD"]) or None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run (well under a minute)")
    ap.add_argument("--series", type=int, help="active series wanted (default 10000; quick 1000)")
    ap.add_argument("--hours", type=float, help="hours of data (default 12; quick 1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window-hours", type=float, default=1.0, help="data put into the heads for the RAM figure")
    ap.add_argument("--connections", type=int, default=4, help="remote-write connections to Prometheus")
    ap.add_argument("--max-samples", type=int, default=2000, help="samples per remote-write request")
    ap.add_argument("--rounds-per-batch", type=int, default=1, help="scrape rounds of all targets per promlake commit")
    ap.add_argument("--reuse-series", action="store_true", help="one SeriesBatch per active set (a scrape cache)")
    ap.add_argument("--only", choices=["prometheus", "promlake"], help="run one side only")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/storage-<date>[-quick].json)")
    args = ap.parse_args(argv)
    spec = Spec(series=args.series or (1000 if args.quick else 10_000),
                hours=args.hours or (1.0 if args.quick else 12.0), seed=args.seed)
    gen = Generator(spec)
    _log(f"{gen.n_targets} targets, {gen.n_series_total:,} series over {spec.hours:g}h "
         f"(churn at rounds {gen.churn_rounds}), {spec.rounds} scrape rounds")
    prom_disk = prom_live = lake_ram = lake_ingest = None
    t_start = time.perf_counter()
    with scratch("promlake-bench-", keep=args.keep) as work:
        if args.keep:
            _log(f"scratch directory: {work}")
        if args.only != "promlake":
            prom_disk = prometheus_disk(spec, work)
            _log(f"prometheus blocks: {prom_disk['bytes_per_sample']:.3f} B/sample; remote write to a live server")
            prom_live = prometheus_live(gen, args.window_hours, args.connections, args.max_samples)
            _log(f"prometheus head: {prom_live['ram_per_series']:,.0f} B/series, "
                 f"{prom_live['samples_per_second']:,.0f} samples/s")
        if args.only != "prometheus":
            lake_ram = lake_run("ram", spec, work, args)
            _log(f"promlake head: {lake_ram['ram_per_series']:,.0f} B/series; ingesting everything")
            lake_ingest = lake_run("ingest", spec, work, args)
            _log(f"promlake lake: {lake_ingest['bytes_per_sample']:.3f} B/sample, "
                 f"{lake_ingest['samples_per_second']:,.0f} samples/s")
    summary = summarize(prom_disk, prom_live, lake_ram, lake_ingest)
    n_samples = (prom_disk or lake_ingest or {}).get("samples")
    print_table(summary, spec, n_samples)
    result = {
        "benchmark": "storage",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "default",
        "seconds": time.perf_counter() - t_start,
        "spec": dataclasses.asdict(spec),
        "data": {"targets": gen.n_targets, "series_total": gen.n_series_total, "samples": n_samples},
        "options": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "summary": summary,
        "prometheus": {"disk": prom_disk, "live": prom_live},
        "promlake": {"ram": lake_ram, "ingest": lake_ingest},
        "environment": environment(),
    }
    out = args.out or RESULTS / f"storage-{dt.date.today().isoformat()}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    _log(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
