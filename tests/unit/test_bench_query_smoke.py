"""Smoke tests of the query benchmark's harness (``benchmarks.bench_query``), promlake side only.

A tiny lake built from the generator answers a couple of the benchmark's queries through the
same worker process the benchmark uses, and the match check sees its own result as a match.
No timing is asserted. The run against the real Prometheus (``bench_query --quick``) is slow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.feather as feather
import pytest

from benchmarks import query_set
from benchmarks.datagen import Spec
from benchmarks.lake_side import measure_ingest
from benchmarks.query_compare import Canon, compare, from_prometheus, from_promlake
from benchmarks.query_run import LakeWorker

TINY = Spec(series=300, hours=0.75)


def test_query_sets_are_well_formed() -> None:
    for name in query_set.SETS:
        for quick in (False, True):
            qs = query_set.get(name, quick)
            assert len({q.name for q in qs.queries}) == len(qs.queries) >= 5
            for q in qs.queries:
                start, end, step = q.window(qs.spec)
                assert qs.spec.start_ms <= start < end <= qs.spec.end_ms
                assert start % step == 0 and end % step == 0
                assert 20 <= (end - start) // step + 1 <= 1100  # Grafana-like point counts
    full = query_set.get("longrange")
    assert full.spec.hours == 720 and full.max_block_ms <= 486 * 3_600_000


def test_compare_finds_what_differs() -> None:
    a: Canon = {(("job", "api"),): (np.array([1, 2, 3]), np.array([1.0, np.nan, np.inf])),
         (("job", "node"),): (np.array([1]), np.array([0.0]))}
    assert compare(a, {k: (t.copy(), v * (1 + 1e-9)) for k, (t, v) in a.items()}).match
    off: Canon = {**a, (("job", "node"),): (np.array([1]), np.array([1e-3]))}
    m = compare(a, off)
    assert not m.match and m.value_mismatches == 1 and m.max_rel_diff == 1.0
    fewer: Canon = {(("job", "api"),): (np.array([1, 3]), np.array([1.0, np.inf]))}
    m = compare(a, fewer)
    assert (m.only_prometheus, m.timestamp_mismatches, m.value_mismatches) == (1, 1, 0)


def test_prometheus_json_is_read() -> None:
    body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "api"}, "values": [[1700000000, "1.5"], [1700000015.5, "NaN"], [1700000031, "+Inf"]]}]}})
    canon = from_prometheus(body.encode())
    t, v = canon[(("job", "api"),)]
    assert t.tolist() == [1700000000000, 1700000015500, 1700000031000]
    assert v[0] == 1.5 and np.isnan(v[1]) and v[2] == np.inf


def test_promlake_side_answers_benchmark_queries(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    built = measure_ingest(TINY, lake_dir, rounds_per_batch=4, reuse=False)
    assert built["samples"] > 0
    qs = query_set.QuerySet("dashboard", TINY, (), 0, 1)
    exprs = dict(query_set.DASHBOARD_EXPRS)
    worker = LakeWorker(lake_dir, tmp_path / "worker.log")
    try:
        for name in ("sum_rate_by_job", "selector_rss"):
            q = query_set.Query(name, exprs[name], 30 * 60_000, 15_000)
            start, end, step = q.window(qs.spec)
            save = str(tmp_path / name)
            out = worker.request({"op": "run", "expr": q.expr, "start": start, "end": end, "step": step, "save": save})
            assert "error" not in out, out
            assert out["series"] > 0 and out["wall_ms"] > 0
            canon = from_promlake(feather.read_table(save + ".series.arrow"), feather.read_table(save + ".points.arrow"))
            assert len(canon) == out["series"] and sum(len(t) for t, _ in canon.values()) == out["points"]
            assert compare(canon, canon).match
        bad = worker.request({"op": "run", "expr": "rate(", "start": 0, "end": 1, "step": 1})
        assert "error" in bad  # a query error is reported, and the worker keeps serving
        assert "error" not in worker.request({"op": "run", "expr": "up", "start": 0, "end": 1000, "step": 1000})
    finally:
        worker.close()
    assert worker.proc.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/usr/bin/prometheus"), reason="prometheus (Debian package) is not installed")
def test_bench_query_quick_runs(tmp_path: Path) -> None:
    from benchmarks import bench_query

    out = bench_query.main(["--quick", "--no-profile", "--out", str(tmp_path / "q.json")])
    for res in out["sets"].values():
        assert res["summary"]["timed_on_both"] + len(res["summary"]["excluded_errors"]) == res["summary"]["queries"]
        assert all("match" in q for q in res["queries"] if q.get("ratio") is not None)
