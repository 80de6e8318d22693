"""Query benchmark: promlake's PromQL side by side with the real Prometheus 2.42 on the same data.

    .venv/bin/python -m benchmarks.bench_query [--quick] [--only dashboard|longrange]

Two sets (``query_set.py``): *dashboard* queries (rate, sum by, histogram_quantile, ratios,
topk, *_over_time, selectors) over ~10k active series at 1h/15s and 6h/30s, and *long-range*
queries over 30 days of ~1,000 series at 1h/3h steps. Prometheus is timed over HTTP
(``/api/v1/query_range``, JSON included); promlake in-process around ``Engine.range`` without
HTTP or JSON, which favours promlake. Per query: medians of paired runs, the ratio
promlake / Prometheus (wall and CPU time), and whether both returned the same series and values
(relative 1e-6). Per set: the geometric mean of the ratios against the issue's goal.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import query_set
from benchmarks.bench_storage import environment
from benchmarks.prom_side import scratch
from benchmarks.query_run import build_data, log, run_set, spec_key

RESULTS = Path(__file__).resolve().parent / "results"
GOALS = {"dashboard": 0.7, "longrange": 0.2}  # geomean latency ratio at most (issue "PromQL")


def geomean(xs: list[float]) -> float | None:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def summarize(name: str, queries: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [q for q in queries if q.get("ratio") is not None]
    matched = [q for q in ok if q.get("match", {}).get("match")]
    cpu = [q["cpu_ratio"] for q in ok if q.get("cpu_ratio")]
    return {
        "queries": len(queries),
        "timed_on_both": len(ok),
        "geomean_ratio": geomean([q["ratio"] for q in ok]),
        "geomean_ratio_matching_only": geomean([q["ratio"] for q in matched]),
        "geomean_cpu_ratio": geomean(cpu),
        "geomean_prometheus_ms": geomean([q["prometheus"]["wall_ms"] for q in ok]),
        "geomean_promlake_ms": geomean([q["promlake"]["wall_ms"] for q in ok]),
        "goal_ratio_at_most": GOALS[name],
        "matching": len(matched),
        "mismatching": [q["name"] for q in ok if not q.get("match", {}).get("match")],
        "excluded_errors": {q["name"]: q["promlake"].get("error") or q["prometheus"].get("error")
                            for q in queries if q.get("ratio") is None},
    }


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def print_set(name: str, qs: query_set.QuerySet, built: dict[str, Any], res: dict[str, Any]) -> None:
    spec = qs.spec
    print(f"\n{name}: {built['targets']} targets, {built['series_total']:,} series "
          f"(~{spec.series:,} active), {spec.hours:g}h at {spec.interval_ms / 1000:g}s, {built['samples']:,} samples")
    print(f"{'query':26} {'pts':>5} {'series':>6} {'prom ms':>9} {'lake ms':>9} {'ratio':>7} {'cpu r.':>7}  match")
    for q in res["queries"]:
        p, lk, m = q["prometheus"], q["promlake"], q.get("match") or {}
        n_series = m.get("series_prometheus", "-")
        if q.get("ratio") is None:
            err = ("promlake error: " + lk["error"]) if "error" in lk else ("prometheus error: " + p.get("error", ""))
            print(f"{q['name']:26} {q['points_per_series']:>5} {n_series!s:>6} {_ms(p.get('wall_ms')):>9} "
                  f"{_ms(lk.get('wall_ms')):>9} {'-':>7} {'-':>7}  {err[:90]}")
            continue
        cpu = f"{q['cpu_ratio']:.2f}" if q.get("cpu_ratio") else "-"
        print(f"{q['name']:26} {q['points_per_series']:>5} {n_series!s:>6} {_ms(p['wall_ms']):>9} "
              f"{_ms(lk['wall_ms']):>9} {q['ratio']:>7.2f} {cpu:>7}  {_match_text(m)}")
    s = res["summary"]
    gm, goal = s["geomean_ratio"], s["goal_ratio_at_most"]
    verdict = "-" if gm is None else ("meets" if gm <= goal else "misses")
    print(f"geomean ratio {_fmt(gm)} over {s['timed_on_both']}/{s['queries']} queries (goal <= {goal}: {verdict}); "
          f"matching only {_fmt(s['geomean_ratio_matching_only'])}; CPU-time ratio {_fmt(s['geomean_cpu_ratio'])}; "
          f"geomeans {_ms(s['geomean_prometheus_ms'])} ms vs {_ms(s['geomean_promlake_ms'])} ms")
    if s["excluded_errors"]:
        print("left out of the geomean (errors): " + ", ".join(s["excluded_errors"]))
    if s["mismatching"]:
        print("results differ: " + ", ".join(s["mismatching"]))
    prof = res.get("profile")
    if prof and "by_phase" in prof:
        total = sum(prof["by_phase"].values()) or 1.0
        phases = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(prof["by_phase"].items(), key=lambda kv: -kv[1]))
        libs = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(prof["by_library"].items(), key=lambda kv: -kv[1]))
        print(f"profile of {prof['query']} ({prof['wall_ms']:,.0f} ms wall, {prof['cpu_ms']:,.0f} ms CPU): {phases}; "
              f"by library: {libs} ({prof['report']})")


def _match_text(m: dict[str, Any]) -> str:
    if not m:
        return "-"
    if m["match"]:
        return "yes"
    parts = []
    if m["series_prometheus"] != m["series_promlake"]:
        parts.append(f"series {m['series_prometheus']} vs {m['series_promlake']}")
    if m["timestamp_mismatches"]:
        parts.append(f"{m['timestamp_mismatches']} series with other steps")
    if m["value_mismatches"]:
        parts.append(f"{m['value_mismatches']} values off (max rel {m['max_rel_diff']:.1g})")
    return "NO: " + "; ".join(parts or ["label sets differ"])


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small data, 1h dashboard ranges, one timed run (~1 min)")
    ap.add_argument("--only", choices=query_set.SETS, help="run one set only")
    ap.add_argument("--queries", nargs="+", metavar="PREFIX", help="only queries whose name starts with these")
    ap.add_argument("--runs", type=int, help="timed runs per query and side after the warm-up (default 5; quick 1)")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of timed runs per query and side (>= 1 run)")
    ap.add_argument("--series", type=int, help="active series (default: dashboard 10000, longrange 1000)")
    ap.add_argument("--hours", type=float, help="hours of dashboard data (default 8; quick 6)")
    ap.add_argument("--days", type=float, help="days of long-range data (default 30; quick 3)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data-dir", type=Path, help="keep the built data here and reuse it while the spec is the same")
    ap.add_argument("--no-profile", action="store_true", help="skip profiling promlake's slowest query")
    ap.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/query-<date>[-quick].json)")
    args = ap.parse_args(argv)
    runs = args.runs if args.runs is not None else (1 if args.quick else 5)
    suffix = "-quick" if args.quick else ""
    out_path = args.out or RESULTS / f"query-{dt.date.today().isoformat()}{suffix}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "query", "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "default", "runs": runs,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"},
        "method": "prometheus: HTTP GET /api/v1/query_range incl. JSON; promlake: in-process Engine.range, "
                  "no HTTP/JSON (favours promlake); warm-up once, then paired alternating runs, medians",
        "sets": {},
    }
    for name in [args.only] if args.only else list(query_set.SETS):
        overrides: dict[str, Any] = {"series": args.series, "seed": args.seed}
        overrides["hours" if name == "dashboard" else "days"] = args.hours if name == "dashboard" else args.days
        qs = query_set.get(name, args.quick, **overrides)
        if args.queries:
            qs = query_set.only(qs, args.queries)
        kept = args.data_dir / f"{name}-{spec_key(qs)}" if args.data_dir else None
        with contextlib.nullcontext(kept) if kept else scratch(f"promlake-qbench-{name}-") as setdir:
            built = build_data(qs, setdir, args.quick, overrides)
            res = run_set(qs, setdir, runs, args.budget, None if args.no_profile else out_path.with_suffix(""))
        res["summary"] = summarize(name, res["queries"])
        res["spec"] = asdict(qs.spec)
        res["data"] = built
        result["sets"][name] = res
        print_set(name, qs, built, res)
    print("\nratio = promlake / prometheus wall time (median of paired runs); cpu r. = the same for CPU time. "
          "promlake is measured in-process without HTTP/JSON, Prometheus over HTTP with JSON: this favours promlake.")
    result["seconds"] = time.perf_counter() - t_start
    result["environment"] = environment()
    out_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    log(f"wrote {out_path}")
    return result


if __name__ == "__main__":
    main()
