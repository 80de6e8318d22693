"""Classic-histogram functions beyond the corpus: Go's ``le`` syntax (what ParseFloat rejects),
coalescing of equal bounds, the exact forced-monotonicity info text and its merging, quantile
labels of histogram_quantiles for computed quantiles, NaN handling, and range queries."""

from __future__ import annotations

import math

import numpy as np
import pytest

import promlake
from promlake.engine import SeriesBatch
from promlake.promql2sql.duckdb.histograms import openmetrics_float

STEP = 60_000
N = 6  # samples per series, at 0, 1m, ... 5m

# (labels, value at step i)
SERIES: list[tuple[dict[str, str], object]] = [
    # A regular histogram: 10 observations per minute spread 2/3/5.
    *(
        ({"__name__": "h_bucket", "job": "a", "le": le}, lambda i, k=k: k * i)
        for le, k in (("1", 2.0), ("2", 5.0), ("+Inf", 10.0))
    ),
    # The same bound spelled three ways: counts are summed (coalesceBuckets).
    ({"__name__": "odd_bucket", "le": "0.5"}, lambda i: 1.0),
    ({"__name__": "odd_bucket", "le": "5e-1"}, lambda i: 1.0),
    ({"__name__": "odd_bucket", "le": "+inf"}, lambda i: 4.0),
    # Spellings Go's strconv.ParseFloat rejects (DuckDB's cast alone would take them).
    *(({"__name__": "bad_bucket", "le": le}, lambda i: 1.0) for le in ("1_0", " 1", "+nan", "1e400")),
    ({"__name__": "bad_bucket", "le": "+Inf"}, lambda i: 2.0),
    # Decreasing counts: fixed for monotonicity with an info annotation.
    *(
        ({"__name__": "nm_bucket", "le": le}, lambda i, v=v: v)
        for le, v in (("0.1", 20.0), ("1", 10.0), ("10", 50.0), ("100", 40.0), ("+Inf", 80.0))
    ),
    # No +Inf bucket: NaN.
    ({"__name__": "noinf_bucket", "le": "1"}, lambda i: 1.0),
    ({"__name__": "noinf_bucket", "le": "2"}, lambda i: 2.0),
    # Only negative buckets below +Inf: the lowest bucket answers its upper bound.
    ({"__name__": "neg_bucket", "le": "-1"}, lambda i: 5.0),
    ({"__name__": "neg_bucket", "le": "+Inf"}, lambda i: 10.0),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    lake = promlake.open(tmp_path_factory.mktemp("histograms"))
    batch = SeriesBatch.from_dicts([labels for labels, _ in SERIES])
    idx = np.repeat(np.arange(len(SERIES)), N)
    ts = np.tile(np.arange(N, dtype=np.int64) * STEP, len(SERIES))
    values = np.array([fn(i) for _, fn in SERIES for i in range(N)], dtype=float)  # type: ignore[operator]
    app = lake.appender()
    app.append(batch, idx, ts, values)
    app.commit()
    yield lake.engine
    lake.close()


def _vector(res) -> dict[tuple[tuple[str, str], ...], float]:
    labels = {r["series"]: tuple(r["labels"]) for r in res.series.to_pylist()}
    return {labels[p["series"]]: p["v"] for p in res.points.to_pylist()}


def test_quantile_interpolates_within_bucket(engine):
    # 50 observations at 5m: 10 in (0,1], 15 in (1,2], 25 above 2.
    res = engine.instant("histogram_quantile(0.1, h_bucket)", 5 * STEP)
    assert _vector(res) == {(("job", "a"),): pytest.approx(0.5)}
    res = engine.instant("histogram_quantile(0.3, h_bucket)", 5 * STEP)
    assert _vector(res) == {(("job", "a"),): pytest.approx(1 + 5 / 15)}
    # In the +Inf bucket: the second-highest bound.
    res = engine.instant("histogram_quantile(0.9, h_bucket)", 5 * STEP)
    assert _vector(res) == {(("job", "a"),): 2.0}
    assert not res.warnings and not res.infos


def test_equal_bounds_are_summed(engine):
    # 0.5 holds 1 + 1 observations, +Inf 4 in all: the median is the top of the 0.5 bucket.
    res = engine.instant("histogram_quantile(0.5, odd_bucket)", 0)
    assert _vector(res) == {(): 0.5}
    res = engine.instant("histogram_fraction(0, 0.5, odd_bucket)", 0)
    assert _vector(res) == {(): 0.5}


def test_le_spellings_go_rejects(engine):
    res = engine.instant("histogram_quantile(0.5, bad_bucket)", 0)
    # Only the +Inf bucket is left: fewer than two buckets give NaN.
    [value] = _vector(res).values()
    assert math.isnan(value)
    prefix = 'PromQL warning: bucket label "le" is missing or has a malformed value of '
    suffix = ' for metric name "bad_bucket" (1:25)'
    assert set(res.warnings) == {f"{prefix}{q}{suffix}" for q in ('"1_0"', '" 1"', '"+nan"', '"1e400"')}


def test_forced_monotonicity_info_text(engine):
    res = engine.instant("histogram_quantile(0.5, nm_bucket)", 5 * STEP)
    # Counts 20 20 50 50 80: rank 40 falls in (1, 10], 20 of its 30.
    assert _vector(res) == {(): pytest.approx(1 + 9 * 20 / 30)}
    assert res.infos == (
        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see "
        "https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name "
        '"nm_bucket", from buckets 1 to 100, with a max diff of 10, over 1 samples from 1970-01-01T00:05:00Z '
        "to 1970-01-01T00:05:00Z (1:25)",
    )
    # Merged over steps (and quantiles): one message counting every occurrence.
    res = engine.range("histogram_quantiles(nm_bucket, 'q', 0.2, 0.5)", 0, 2 * STEP, STEP)
    [info] = res.infos
    assert "over 6 samples from 1970-01-01T00:00:00Z to 1970-01-01T00:02:00Z (1:21)" in info
    # An invalid quantile stops before the buckets are fixed: no info.
    assert not engine.instant("histogram_quantile(2, nm_bucket)", 0).infos


def test_no_inf_bucket_and_negative_buckets(engine):
    [value] = _vector(engine.instant("histogram_quantile(0.5, noinf_bucket)", 0)).values()
    assert math.isnan(value)
    [value] = _vector(engine.instant("histogram_fraction(0, 1, noinf_bucket)", 0)).values()
    assert math.isnan(value)
    assert _vector(engine.instant("histogram_quantile(0.25, neg_bucket)", 0)) == {(): -1.0}
    # From -Inf to -1 holds 5 of 10: no interpolation inside a bucket starting at -Inf.
    assert _vector(engine.instant("histogram_fraction(-Inf, -2, neg_bucket)", 0)) == {(): 0.5}


def test_computed_quantiles_label_and_warning(engine):
    res = engine.instant(
        "histogram_quantiles(h_bucket, 'q', scalar(vector(1)), 0.4 * 1, scalar(vector(2)))", 5 * STEP
    )
    got = {dict(k)["q"]: v for k, v in _vector(res).items()}
    assert got == {"1.0": 2.0, "0.4": pytest.approx(1 + 10 / 15), "2.0": math.inf}
    assert res.warnings == ("PromQL warning: quantile value should be between 0 and 1, got 2 (1:64)",)


def test_range_query_and_name_dropping(engine):
    res = engine.range("histogram_quantile(0.1, h_bucket)", 0, 5 * STEP, STEP)
    points = res.points.to_pylist()
    # No observations at t=0: NaN; then always half of the first bucket.
    assert math.isnan(points[0]["v"])
    assert [p["v"] for p in points[1:]] == pytest.approx([0.5] * 5)
    assert [r["labels"] for r in res.series.to_pylist()] == [[("job", "a")]]


def test_duplicate_label_sets_fail(engine):
    from promlake.promql2sql.errors import ExecutionError

    with pytest.raises(ExecutionError, match="same labelset"):
        engine.instant("histogram_quantiles(h_bucket, 'q', 0.5, 0.5)", 5 * STEP)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0.0"), (1.0, "1.0"), (-1.0, "-1.0"), (0.25, "0.25"), (2.0, "2.0"), (1e6, "1e+06"),
     (1e-5, "1e-05"), (math.nan, "NaN"), (math.inf, "+Inf"), (-0.1, "-0.1"), (123456.0, "123456.0")],
)  # fmt: skip
def test_openmetrics_float(value, text):
    assert openmetrics_float(value) == text
