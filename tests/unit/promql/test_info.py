"""info() beyond the corpus: the duplicate-info-series error, exact identifying-label matching
(a label on one side only does not match), info() under an aggregation, the effective
``__name__`` matchers and the reference time (@/offset) the planner derives."""

from __future__ import annotations

import numpy as np
import pytest

import promlake
from promlake.engine import SeriesBatch
from promlake.promql2sql import ast
from promlake.promql2sql.errors import ExecutionError
from promlake.promql2sql.parser import parse_expr
from promlake.promql2sql.plan_info import effective_name_matchers, reference_time

STEP = 60_000
SERIES = [
    {"__name__": "m", "instance": "a", "job": "j"},
    {"__name__": "m", "instance": "b"},  # no job: only info series without job match
    {"__name__": "target_info", "instance": "a", "job": "j", "version": "1"},
    {"__name__": "target_info", "instance": "b", "job": "j", "version": "2"},
    # Two series of one info metric for one identifying label set, sampled at the same time.
    {"__name__": "dup", "instance": "c", "job": "j"},
    {"__name__": "dup_info", "instance": "c", "job": "j", "x": "1"},
    {"__name__": "dup_info", "instance": "c", "job": "j", "x": "2"},
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    lake = promlake.open(tmp_path_factory.mktemp("info"))
    n = 3
    app = lake.appender()
    app.append(
        SeriesBatch.from_dicts(SERIES),
        np.repeat(np.arange(len(SERIES)), n),
        np.tile(np.arange(n, dtype=np.int64) * STEP, len(SERIES)),
        np.ones(len(SERIES) * n),
    )
    app.commit()
    yield lake.engine
    lake.close()


def _labels(res) -> list[dict[str, str]]:
    return [dict(r["labels"]) for r in res.series.to_pylist()]


def test_identifying_labels_match_exactly(engine):
    res = engine.instant("info(m)", 2 * STEP)
    assert _labels(res) == [
        {"__name__": "m", "instance": "a", "job": "j", "version": "1"},
        {"__name__": "m", "instance": "b"},
    ]


def test_duplicate_info_series_fail(engine):
    with pytest.raises(ExecutionError, match=r"found duplicate series for info metric: existing .* @ 120000"):
        engine.instant('info(dup, {__name__="dup_info"})', 2 * STEP)


def test_info_under_aggregation(engine):
    res = engine.instant("count by (version) (info(m))", STEP)
    assert sorted(map(str, _labels(res))) == ["{'version': '1'}", "{}"]


@pytest.mark.parametrize(
    ("names", "want"),
    [
        ((), [("=", "target_info")]),
        ((("=", "build_info"),), [("=", "build_info")]),
        ((("!~", "x.+"),), [("=~", ".+_info"), ("!~", "x.+")]),
        ((("=~", "a.*"), ("!=", "ab")), [("=~", "a.*"), ("!=", "ab")]),
    ],
)
def test_effective_name_matchers(names, want):
    got = effective_name_matchers(tuple(ast.Matcher("__name__", op, v) for op, v in names))  # type: ignore[arg-type]
    assert [(m.op, m.value) for m in got] == want


@pytest.mark.parametrize(
    ("query", "want"),
    [
        ("m", (None, 0)),
        ("m offset 1m", (None, 60_000)),
        ("m @ 60", (60_000, 0)),
        ("last_over_time(m[5m:1m] offset 6m)", (None, 360_000)),
        ("last_over_time((m offset 1m)[10m:1m] @ 180 offset 1m)", (180_000, 120_000)),
        ("last_over_time((m @ 30 offset 1m)[10m:1m] @ 180)", (30_000, 60_000)),
        ("rate(m[5m]) + on() group_left n offset 2m", (None, 0)),
    ],
)
def test_reference_time(query, want):
    expr = parse_expr(query)

    def at(ts: int | None, pre: object) -> int | None:
        return ts

    def duration(ms: int, e: object) -> int:
        return ms

    assert reference_time(expr, at, duration) == want
