"""Aggregation operators beyond what the float corpus pins down: limitk/limit_ratio subset
semantics on float-only data (the corpus mixes in native histograms), parameter checks and
their exact messages, count_values label spelling, and Go's float formatting in SQL."""

from __future__ import annotations

import math
import random
import struct

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import sqlglot.expressions as exp

import promlake
from promlake.engine import SeriesBatch
from promlake.promql2sql.duckdb.gofloat import go_format_f, go_format_g
from promlake.promql2sql.errors import ExecutionError
from promlake.promql2sql.gostr import format_float_f, format_float_g

STEP = 60_000
N_STEPS = 11

# name -> (labels, value at step i)
SERIES = {
    **{
        f"r{i}": (
            {"__name__": "req", "job": "api" if i % 2 else "app", "instance": str(i)},
            lambda s, i=i: 10.0 * i + s,
        )
        for i in range(12)
    },
    "k": ({"__name__": "k"}, lambda s: float(s)),  # 0, 1, 2, ... per step
    "vals": ({"__name__": "vals", "x": "a"}, lambda s: 1e21),
    "vals2": ({"__name__": "vals", "x": "b"}, lambda s: 0.1),
    "vals3": ({"__name__": "vals", "x": "c"}, lambda s: -0.0),
    "vals4": ({"__name__": "vals", "x": "d"}, lambda s: math.inf),
    "vals5": ({"__name__": "vals", "x": "e"}, lambda s: math.nan),
    "vals6": ({"__name__": "vals", "x": "f"}, lambda s: 1.5e-7),
    "tie1": ({"__name__": "tie", "i": "1"}, lambda s: 5.0),
    "tie2": ({"__name__": "tie", "i": "2"}, lambda s: math.nan),
    "tie3": ({"__name__": "tie", "i": "3"}, lambda s: 5.0),
    "tie4": ({"__name__": "tie", "i": "4"}, lambda s: 7.0),
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    lake = promlake.open(tmp_path_factory.mktemp("agg"))
    sets = [labels for labels, _ in SERIES.values()]
    batch = SeriesBatch.from_dicts(sets)
    for s in range(N_STEPS):
        values = np.array([fn(s) for _, fn in SERIES.values()])
        app = lake.appender()
        app.append(batch, np.arange(len(sets)), np.full(len(sets), s * STEP), values)
        app.commit()
    yield lake.engine
    lake.close()


def _vector(res) -> dict[tuple, float]:
    labels = {r["series"]: tuple(sorted(r["labels"])) for r in res.series.to_pylist()}
    return {labels[r["series"]]: r["v"] for r in res.points.to_pylist()}


def _per_step_sets(res) -> dict[int, set[tuple]]:
    labels = {r["series"]: tuple(sorted(r["labels"])) for r in res.series.to_pylist()}
    out: dict[int, set[tuple]] = {}
    for r in res.points.to_pylist():
        out.setdefault(r["t"], set()).add(labels[r["series"]])
    return out


END = (N_STEPS - 1) * STEP


# --- limit_ratio ----------------------------------------------------------------------------


@pytest.mark.parametrize("r", [0.1, 0.3, 0.5, 0.77])
def test_limit_ratio_complements(engine, r):
    a = _per_step_sets(engine.range(f"limit_ratio({r}, req)", 0, END, STEP))
    b = _per_step_sets(engine.range(f"limit_ratio({r - 1}, req)", 0, END, STEP))
    everything = _per_step_sets(engine.range("req", 0, END, STEP))
    for t, all_series in everything.items():
        assert a.get(t, set()) | b.get(t, set()) == all_series
        assert not a.get(t, set()) & b.get(t, set())
    # Membership is a property of the series, not of the step.
    assert len({frozenset(s) for s in a.values()}) <= 1


def test_limit_ratio_bounds_and_warnings(engine):
    assert len(_vector(engine.instant("limit_ratio(1, req)", END))) == 12
    assert len(_vector(engine.instant("limit_ratio(-1, req)", END))) == 12
    assert _vector(engine.instant("limit_ratio(0, req)", END)) == {}
    res = engine.instant("limit_ratio(1.5, req)", END)
    assert len(_vector(res)) == 12
    assert res.warnings == (
        "PromQL warning: ratio value should be between -1 and 1, got 1.5, capping to 1 (1:13)",
    )
    res = engine.instant("limit_ratio(-2e6, req)", END)
    assert res.warnings == (
        "PromQL warning: ratio value should be between -1 and 1, got -2e+06, capping to -1 (1:13)",
    )
    with pytest.raises(ExecutionError, match=r"^Ratio value is NaN$"):
        engine.instant("limit_ratio(NaN, req)", END)
    # All ratios zero: Go returns before checking anything.
    assert _vector(engine.instant("limit_ratio(0, nothing)", END)) == {}


# --- limitk / topk / bottomk ----------------------------------------------------------------


def test_limitk_groups_and_k_per_step(engine):
    res = engine.instant("limitk by (job) (2, req)", END)
    jobs = [dict(labels)["job"] for labels in _vector(res)]
    assert sorted(jobs) == ["api", "api", "app", "app"]
    # k = scalar(k) is the step number: 0 and below give nothing, then min(k, 12) series.
    counts = engine.range("count(limitk(scalar(k), req))", 0, END, STEP)
    got = {r["t"]: r["v"] for r in counts.points.to_pylist()}
    assert got == {s * STEP: float(min(s, 12)) for s in range(1, N_STEPS)}
    # limitk keeps a stable subset: the first series in label order.
    first = set(_vector(engine.instant("limitk(3, req)", 0)))
    assert first == set(_vector(engine.instant("limitk(3, req)", END)))


def test_topk_ties_nan_and_fractional_k(engine):
    res = engine.instant("topk(2.9, tie)", END)  # k truncates to 2
    got = [(dict(r["labels"])["i"]) for r in res.series.to_pylist()]
    assert got == ["4", "1"]  # ordered; of the equal values the first series in label order
    res = engine.instant("bottomk(3, tie)", END)
    got = [(dict(r["labels"])["i"]) for r in res.series.to_pylist()]
    assert got == ["1", "3", "4"]  # NaN is never preferred
    assert len(_vector(engine.instant("topk(4, tie)", END))) == 4
    assert _vector(engine.instant("topk(0.5, tie)", END)) == {}


def test_k_parameter_errors(engine):
    with pytest.raises(ExecutionError, match=r"^Parameter value is NaN$"):
        engine.instant("topk(NaN, nothing)", END)
    with pytest.raises(ExecutionError, match=r"^Parameter value is NaN$"):
        engine.range("bottomk(scalar(nothing), req)", 0, END, STEP)
    with pytest.raises(ExecutionError, match=r"^Scalar value 1e\+19 overflows int64$"):
        engine.instant("limitk(1e19, req)", END)
    with pytest.raises(ExecutionError, match=r"^Scalar value -1e\+19 underflows int64$"):
        engine.range("topk(scalar(k) * 2e19 - 1e19, req)", 0, END, STEP)
    # Every k below 1: empty, no check at all (rangeEvalAgg returns first).
    assert _vector(engine.instant("topk(-Inf, req)", END)) == {}


# --- quantile, avg ----------------------------------------------------------------------------


def test_quantile_warnings(engine):
    res = engine.instant("quantile(2e6, req)", END)
    assert set(_vector(res).values()) == {math.inf}
    assert res.warnings == ("PromQL warning: quantile value should be between 0 and 1, got 2e+06 (1:10)",)
    res = engine.range("quantile(scalar(k) - 3, req)", 0, END, STEP)
    assert res.warnings == ("PromQL warning: quantile value should be between 0 and 1, got 7 (1:10)",
                            "PromQL warning: quantile value should be between 0 and 1, got -3 (1:10)")  # fmt: skip


def test_quantile_interpolates_like_go(engine):
    # req at the last step: 10, 20, ..., 120; rank 0.25 * 11 = 2.75 lies between 30 and 40.
    assert _vector(engine.instant("quantile(0.25, req)", END)) == {(): 37.5}
    # NaN sorts first: tie is NaN, 5, 5, 7.
    assert math.isnan(_vector(engine.instant("quantile(0.2, tie)", END))[()])
    assert _vector(engine.instant("quantile(0.5, tie)", END)) == {(): 5.0}
    assert _vector(engine.instant("quantile(1, tie)", END)) == {(): 7.0}


# --- count_values -----------------------------------------------------------------------------


def test_count_values_spells_values_like_go(engine):
    got = {dict(k)["v"]: v for k, v in _vector(engine.instant('count_values("v", vals)', END)).items()}
    assert got == {"1000000000000000000000": 1, "0.1": 1, "-0": 1, "+Inf": 1, "NaN": 1, "0.00000015": 1}


def test_count_values_overwrites_and_without(engine):
    got = _vector(engine.instant('count_values without (instance) ("job", req{instance=~"[0-3]"})', END))
    assert set(got) == {(("job", "10"),), (("job", "20"),), (("job", "30"),), (("job", "40"),)}
    # The value label listed in without(): every value of a group lands in one series.
    got = _vector(engine.instant('count_values without (job, instance) ("job", req)', END))
    assert got == {(): 12.0}
    with pytest.raises(ExecutionError, match=r'^invalid label name ""$'):
        engine.instant('count_values("", req)', END)


# --- Go's float formatting in SQL ----------------------------------------------------------------


def test_go_float_formatting_matches_strconv():
    rng = random.Random(7)
    values = [0.0, -0.0, math.nan, math.inf, -math.inf, 1e21, 1e20, 1e6, 999999.0, 1e-4, 1e-5, 5e-324,
              1.7976931348623157e308, 0.1, 1 / 3, 123456.789, 2.0**53]  # fmt: skip
    for _ in range(2000):
        values.append(struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0])
        values.append(rng.uniform(-1e7, 1e7))
    con = duckdb.connect()
    con.register("t", pa.table({"v": pa.array(values, pa.float64())}))
    query = exp.select(go_format_f(exp.column("v")), go_format_g(exp.column("v")), "v").from_("t")
    for f, g, v in con.execute(query.sql("duckdb")).fetchall():
        assert (f, g) == (format_float_f(v), format_float_g(v)), v
