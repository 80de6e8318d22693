"""Start timestamps (``st``) in rate/increase/irate/resets and start_timestamp(), through
every lowering: the conformance corpus pins instant queries (GROUP BY) and range queries
with long ranges (regular edges); ``@`` takes the ASOF-join edges and short ranges the
copied GROUP BY, which must agree with them."""

from __future__ import annotations

import numpy as np
import pytest

import promlake
from promlake.engine import SeriesBatch

MIN = 60_000
# k label -> (values at 0m, 1m, ...; start timestamps in ms, None = unknown)
SERIES = {
    # a counter restarting at 4m (its st moves past the previous sample), with no value drop
    "restart": ([1, 2, 3, 4, 5, 6, 7, 8], [None] * 4 + [4 * MIN - 1] * 4),
    # OTel deltas: each sample starts at the previous one's time
    "delta": ([60] * 8, [None] + [i * MIN for i in range(7)]),
    # start timestamps before the previous sample and not equal to its st: a warning
    "overlap": ([1, 2, 3, 4, 5, 6, 7, 8], [None] * 2 + [(i - 2) * MIN for i in range(2, 8)]),
    "plain": ([1, 2, 3, 4, 5, 6, 7, 8], [None] * 8),
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    lake = promlake.open(tmp_path_factory.mktemp("st"))
    batch = SeriesBatch.from_dicts([{"__name__": "x_total", "k": k} for k in SERIES])
    for i in range(8):
        st = np.array([sts[i] or 0 for _, sts in SERIES.values()])
        app = lake.appender()
        app.append(batch, np.arange(len(SERIES)), np.full(len(SERIES), i * MIN), np.array(
            [float(vals[i]) for vals, _ in SERIES.values()]), st)  # fmt: skip
        app.commit()
    yield lake.engine
    lake.close()


def _by_name(res) -> dict[str, list[float]]:
    names = [dict(lbl).get("k", "") for lbl in res.series.column("labels").to_pylist()]
    out: dict[str, list[float]] = {}
    for s, v in zip(res.points.column("series").to_pylist(), res.points.column("v").to_pylist(), strict=True):
        out.setdefault(names[s], []).append(v)
    return out


@pytest.mark.parametrize("func", ["rate", "increase", "irate", "resets"])
@pytest.mark.parametrize("rng", ["2m", "5m"])
def test_every_lowering_agrees(engine, func, rng):
    # Range query (edges or GROUP BY copies) vs instant queries (GROUP BY) vs @ (ASOF edges).
    q = f"{func}(x_total[{rng}])"
    ranged = _by_name(engine.range(q, 3 * MIN, 7 * MIN, MIN))
    for k, t in enumerate(range(3 * MIN, 7 * MIN + 1, MIN)):
        instant = _by_name(engine.instant(q, t))
        at = _by_name(engine.range(q.replace("])", f"] @ {t // 1000})"), 0, MIN, MIN))
        for name, vals in instant.items():
            assert vals[0] == pytest.approx(ranged[name][k]), (name, t)
            assert at[name] == pytest.approx([vals[0]] * 2), (name, t)


def test_start_timestamp_resets_and_zero_point(engine):
    # restart_total at 5m over (2m, 5m]: 3 4 5 6 at 2..5m; 4m restarts (st = 4m - 1ms > 3m).
    assert _by_name(engine.instant("resets(x_total{k='restart'}[3m])", 5 * MIN))["restart"] == [1]
    # irate at 4m: the last two samples straddle the restart: 5 / 60s.
    assert _by_name(engine.instant("irate(x_total{k='restart'}[3m])", 4 * MIN))["restart"] == [
        pytest.approx(5 / 60)
    ]
    # deltas: every sample is a reset; the first one's st (4m) is on the range start (excluded).
    assert _by_name(engine.instant("increase(x_total{k='delta'}[3m])", 7 * MIN))["delta"] == [
        pytest.approx(180)
    ]
    # one sample with its st inside the window: a zero point at st, no extrapolation.
    one = engine.instant("increase(x_total{k='restart'}[30s])", 4 * MIN)
    assert _by_name(one)["restart"] == [5.0]
    assert _by_name(engine.instant("increase(x_total{k='plain'}[30s])", 4 * MIN)) == {}


def test_overlap_warning_only_for_overlapping_series(engine):
    res = engine.range("rate(x_total{k='overlap'}[3m])", 3 * MIN, 5 * MIN, MIN)
    assert res.warnings == (
        'PromQL warning: sample has start time that overlaps with previous sample timestamp for metric "x_total" (1:6)',
    )
    assert engine.range("rate(x_total{k!='overlap'}[3m])", 3 * MIN, 5 * MIN, MIN).warnings == ()


def test_start_timestamp_function(engine):
    res = engine.range("start_timestamp(x_total{k='restart'})", 3 * MIN, 4 * MIN, MIN)
    assert res.points.column("v").to_pylist() == [0.0, 239.999]
    assert res.series.column("labels").to_pylist() == [[("k", "restart")]]  # the name is dropped
    assert _by_name(engine.instant("start_timestamp(x_total{k='plain'})", 3 * MIN)) == {"plain": [0.0]}
    assert engine.instant("start_timestamp(x_total * 1)", 3 * MIN).points.num_rows == 0


def test_start_timestamps_known_per_block(tmp_path):
    # A flushed block whose start timestamps are all unknown is read without them (st-free
    # plans); one with a known start timestamp is not, in the same lake and after reopening.
    from promlake.promql2sql.engine import LakeQuerier

    lake = promlake.open(tmp_path)
    batch = SeriesBatch.from_dicts([{"__name__": "a_total"}])
    for day, st in ((0, 0), (1, 5)):
        app = lake.appender()
        t = day * 86_400_000 + MIN
        app.append(batch, np.arange(1), np.array([t]), np.array([1.0]), np.array([t - st if st else 0]))
        app.commit()
        lake.flush()
    inner = lake.engine.lake

    def known(day: int) -> bool:
        return LakeQuerier(inner, inner.snapshot()).has_start_timestamps(day * 86_400_000, day * 86_400_000 + 2 * MIN)

    assert (known(0), known(1)) == (False, True)
    lake.close()
    lake = promlake.open(tmp_path)
    inner = lake.engine.lake
    assert (known(0), known(1)) == (False, True)
    lake.close()
