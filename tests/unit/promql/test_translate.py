"""The SQL `promlake translate` prints, run in plain DuckDB over the lake files, gives the
engine's answer."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import numpy as np
import pytest

import promlake
from promlake.engine import SeriesBatch

QUERIES = [
    "http_requests_total",
    'http_requests_total{job=~"a.*", code!="500"}',
    "rate(http_requests_total[5m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    "max_over_time(http_requests_total[10m:1m])",
    "http_requests_total / on(job, instance, code) http_requests_total",
    "topk(2, http_requests_total)",
    'label_replace(http_requests_total, "x", "$1", "job", "(.).*")',
]


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("lake")
    lake = promlake.open(d)
    sets = [
        {"__name__": "http_requests_total", "job": job, "instance": inst, "code": code}
        for job in ("api", "batch") for inst in ("a", "b") for code in ("200", "500")
    ]  # fmt: skip
    batch = SeriesBatch.from_dicts(sets)
    rng = np.random.default_rng(7)
    values = np.zeros(len(sets))
    for i in range(120):
        values = values + rng.integers(0, 10, len(sets))
        app = lake.appender()
        app.append(batch, np.arange(len(sets)), np.full(len(sets), i * 15_000), values)
        app.commit()
    lake.close()
    return d


def _engine_rows(res):
    labels = {r["series"]: tuple(sorted(r["labels"])) for r in res.series.to_pylist()}
    return sorted((labels[r["series"]], r["t"], round(r["v"], 9)) for r in res.points.to_pylist())


@pytest.mark.parametrize("query", QUERIES)
def test_translated_sql_equals_engine(lake_dir, query):
    lake = promlake.open(lake_dir, readonly=True)
    t = 1_500_000
    expected = _engine_rows(lake.engine.instant(query, t))
    sql = lake.engine.translate(query, t, t, 0)
    lake.close()
    rows = duckdb.sql(sql).fetchall()  # a fresh DuckDB: nothing of promlake registered
    got = sorted((tuple(sorted(r[0].items())), r[1], round(r[2], 9)) for r in rows)
    assert got == expected
    assert expected, "the query must select something for the comparison to mean anything"


def test_translate_and_query_cli(lake_dir):
    run = [sys.executable, "-m", "promlake"]
    sql = subprocess.run([*run, "translate", f"--storage.path={lake_dir}", "--time=1500", "sum(http_requests_total)"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert sql.returncode == 0, sql.stderr
    assert "read_parquet" in sql.stdout.lower()
    plan = subprocess.run([*run, "translate", "--plan", f"--storage.path={lake_dir}", "sum(rate(http_requests_total[5m]))"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert plan.stdout.splitlines()[0].startswith("Aggregate[vector]")
    q = subprocess.run([*run, "query", "instant", f"--storage.path={lake_dir}", "--time=1500", "count(http_requests_total)"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert q.returncode == 0, q.stderr
    assert q.stdout.strip() == "{} => 8 @[1500.0]"
