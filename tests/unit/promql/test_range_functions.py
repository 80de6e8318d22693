"""Functions of range vectors beyond what the float corpus pins down: Go's NaN ordering in
quantile_over_time, per-step (non-constant) quantiles and their warnings, the counter-name
info of rate/increase, double_exponential_smoothing's factor checks, predict_linear's
intercept time under offset, ts_of_* ties, and anchored/smoothed windows in range queries."""

from __future__ import annotations

import math

import numpy as np
import pytest

import promlake
from promlake.engine import SeriesBatch
from promlake.promql2sql.errors import ExecutionError

STEP = 10_000  # samples every 10s, at 0s, 10s, 20s, ...

# name -> (labels, values at 0s, 10s, ...); None leaves the slot empty
SERIES: dict[str, tuple[dict[str, str], list[float | None]]] = {
    "nan": ({"__name__": "withnan"}, [1.0, math.nan, 3.0]),
    "ramp": ({"__name__": "ramp"}, [0.0, 10.0, 20.0]),
    "ramp_total": ({"__name__": "ramp_total"}, [0.0, 10.0, 20.0]),
    "tie": ({"__name__": "tie"}, [5.0, 5.0, 1.0, 1.0, 3.0]),
    "ctr": ({"__name__": "ctr_total"}, [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]),
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    lake = promlake.open(tmp_path_factory.mktemp("rangefn"))
    sets = [labels for labels, _ in SERIES.values()]
    batch = SeriesBatch.from_dicts(sets)
    for s in range(max(len(v) for _, v in SERIES.values())):
        idx = [i for i, (_, vals) in enumerate(SERIES.values()) if s < len(vals) and vals[s] is not None]
        values = np.array([list(SERIES.values())[i][1][s] for i in idx], dtype=float)
        app = lake.appender()
        app.append(batch, np.array(idx), np.full(len(idx), s * STEP), values)
        app.commit()
    yield lake.engine
    lake.close()


def _values(res) -> list[float]:
    return list(res.points.column("v").to_pylist())


def _same(got: list[float], want: list[float]) -> bool:
    return len(got) == len(want) and all(
        (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12)
        for a, b in zip(got, want, strict=True)
    )


@pytest.mark.parametrize(("q", "want"), [(0.5, 1.0), (0.0, math.nan), (1.0, 3.0), (0.75, 2.0)])
def test_quantile_over_time_sorts_nan_first_like_go(engine, q, want):
    # Go's quantile sorts NaN below every number: [NaN, 1, 3].
    res = engine.instant(f"quantile_over_time({q}, withnan[1m])", 20_000)
    assert _same(_values(res), [want])


def test_quantile_over_time_per_step_quantile(engine):
    # q = time()/40: 0.25 at 10s ([0, 10] -> 2.5), 0.5 at 20s ([0, 10, 20] -> 10).
    res = engine.range("quantile_over_time(time() / 40, ramp[1m])", 10_000, 20_000, 10_000)
    assert _same(_values(res), [2.5, 10.0])
    assert res.warnings == ()
    nan_first = engine.instant("quantile_over_time(time() / 40, withnan[1m])", 20_000)
    assert _same(_values(nan_first), [1.0])


def test_quantile_over_time_out_of_range_warnings(engine):
    res = engine.instant("quantile_over_time(time() / 10, ramp[1m])", 20_000)
    assert _same(_values(res), [math.inf])
    assert res.warnings == ("PromQL warning: quantile value should be between 0 and 1, got 2 (1:20)",)
    res = engine.instant("quantile_over_time(-0.5, ramp[1m])", 20_000)
    assert _same(_values(res), [-math.inf])
    assert res.warnings == ("PromQL warning: quantile value should be between 0 and 1, got -0.5 (1:20)",)
    # No window with a sample: no warning.
    assert engine.instant("quantile_over_time(2, ramp[1m])", 500_000).warnings == ()


def test_rate_counter_name_info(engine):
    info = 'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "ramp" (1:6)'
    assert engine.instant("rate(ramp[1m])", 20_000).infos == (info,)
    assert engine.instant("increase(ramp[1m])", 20_000).infos == (info.replace("(1:6)", "(1:10)"),)
    assert engine.instant("rate(ramp_total[1m])", 20_000).infos == ()
    # Only for a selector with a result, and not through a subquery.
    assert engine.instant("rate(ramp[1m])", 500_000).infos == ()
    assert engine.instant("rate(ramp[1m:10s])", 20_000).infos == ()


def test_double_exponential_smoothing_factor_checks(engine):
    with pytest.raises(
        ExecutionError, match=r"invalid smoothing factor. Expected: 0 < sf < 1, got: 1.500000"
    ):
        engine.instant("double_exponential_smoothing(ramp[1m], 1.5, 0.1)", 20_000)
    with pytest.raises(ExecutionError, match=r"invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"):
        engine.instant("double_exponential_smoothing(ramp[1m], 0.5, 0)", 20_000)
    # Only evaluated for windows with samples.
    assert _values(engine.instant("double_exponential_smoothing(ramp[1m], 1.5, 0.1)", 500_000)) == []


def test_double_exponential_smoothing_per_step_factors(engine):
    # A straight line is reproduced exactly whatever the factors.
    res = engine.range("double_exponential_smoothing(ramp[1m], time() / 100, 0.5)", 20_000, 30_000, 10_000)
    assert _same(_values(res), [20.0, 20.0])


def test_predict_linear_intercept_at_step_time(engine):
    # ramp grows 1/s; with offset the window ends at 10s but the prediction is for 30s.
    res = engine.instant("predict_linear(ramp[1m] offset 10s, 0)", 30_000)
    assert _same(_values(res), [30.0])


def test_ts_of_min_max_ties_take_the_latest(engine):
    assert _same(_values(engine.instant("ts_of_max_over_time(tie[1m])", 40_000)), [10.0])
    assert _same(_values(engine.instant("ts_of_min_over_time(tie[1m])", 40_000)), [30.0])


def test_anchored_and_smoothed_increase_over_a_range_query(engine):
    # ctr_total: 1 2 3 4 1 2 3 4 every 10s; a reset between 30s and 40s.
    anchored = engine.range("increase(ctr_total[20s] anchored)", 20_000, 70_000, 10_000)
    # from the sample at t-20s (the anchor) to the one at t; the reset adds the 4 before it
    assert _same(_values(anchored), [2.0] * 6)
    smoothed = engine.range("increase(ctr_total[15s] smoothed)", 20_000, 70_000, 10_000)
    # left edge interpolated at t-15s, right edge at t (a sample); across the reset the
    # counter is taken to restart from 0 (3.5 -> 4, reset, 0 -> 1 at 40s; 0.5 -> 2 at 50s).
    assert _same(_values(smoothed), [1.5] * 6)
    delta = engine.range("delta(ctr_total[15s] smoothed)", 40_000, 50_000, 10_000)
    # no counter handling: 1 - 3.5 at 40s; 2 - 2.5 at 50s
    assert _same(_values(delta), [-2.5, -0.5])
