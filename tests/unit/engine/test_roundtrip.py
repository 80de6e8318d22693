"""What is appended is exactly what is read back: across head, WAL replay, flush and compaction.

Each sample is its value bits plus its start timestamp (``st``, None when unknown).
"""

from __future__ import annotations

import struct
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promlake
from promlake.engine import SeriesBatch
from promlake.engine.errors import DuplicateSampleError

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
LABEL_SETS = [
    {"__name__": "up", "job": "node", "instance": "a:9100"},
    {"__name__": "up", "job": "node", "instance": "b:9100"},
    {"__name__": "http_requests_total", "code": "200", "path": "/ü"},
    {"__name__": "temp", "room": "x\ny"},
    {"__name__": "empty_value_dropped", "a": "1", "b": ""},
]
VALUES = st.one_of(
    st.floats(allow_nan=False, width=64),
    st.just(STALE_NAN),
    st.just(float("nan")),
    st.sampled_from([0.0, -0.0, 1.0, 1e300]),
)
DAY = 86_400_000
TS = st.integers(min_value=-2 * DAY, max_value=3 * DAY).map(lambda t: t - t % 1000)
# 0 is the writers' "unknown"; other start timestamps may lie anywhere, even after ts.
START = st.one_of(st.just(0), st.integers(min_value=-3 * DAY, max_value=4 * DAY))

sample = st.tuples(st.integers(0, len(LABEL_SETS) - 1), TS, VALUES, START)
op = st.one_of(
    # The flag: pass the st array (else the commit has no start timestamps at all).
    st.tuples(st.just("commit"), st.tuples(st.lists(sample, min_size=1, max_size=30), st.booleans())),
    st.tuples(st.just("flush"), st.none()),
    st.tuples(st.just("compact"), st.none()),
    st.tuples(st.just("crash"), st.none()),
    st.tuples(st.just("close"), st.none()),
)


def bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


Stored = tuple[int, int | None]  # (value bits, st)


def read_back(lake: promlake.Lake) -> dict[tuple[int, int], Stored]:
    df = lake.sql("SELECT series_id, ts, value, st FROM samples")
    vals = df["value"].to_numpy().view(np.uint64)
    out = {}
    rows = zip(df["series_id"].to_list(), df["ts"].to_list(), vals.tolist(), df["st"].to_list(), strict=True)
    for sid, ts, b, start in rows:
        assert (sid, ts) not in out, "a reader saw two samples for one series and timestamp"
        out[(sid, ts)] = (b, start)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=12))
def test_appended_equals_read_back(ops: list[tuple[str, object]]) -> None:
    batch = SeriesBatch.from_dicts(LABEL_SETS)
    ids = batch.series_ids()
    model: dict[tuple[int, int], Stored] = {}
    # Per generation (since the last flush), what the head holds: conflicts are refused there.
    head: dict[tuple[int, int], Stored] = {}
    with tempfile.TemporaryDirectory() as d:
        lake = promlake.open(d)
        for kind, arg in ops:
            if kind == "commit":
                assert isinstance(arg, tuple)
                samples, with_st = arg
                idx = np.array([s[0] for s in samples])
                ts = np.array([s[1] for s in samples], np.int64)
                vals = np.array([s[2] for s in samples], np.float64)
                starts = np.array([s[3] for s in samples], np.int64) if with_st else None
                pending: dict[tuple[int, int], Stored] = {}
                conflict = False
                for i, t, v, start in samples:
                    key = (int(ids[i]), t)
                    prev = pending.get(key, head.get(key))
                    if prev is not None and prev[0] != bits(v):
                        conflict = True
                    # The head drops a re-sent identical value, st and all: the first one stays.
                    if prev is None:
                        pending[key] = (bits(v), start if with_st and start != 0 else None)
                app = lake.appender()
                app.append(batch, idx, ts, vals, st=starts)
                if conflict:
                    with pytest.raises(DuplicateSampleError):
                        app.commit()
                else:
                    app.commit()
                    head.update(pending)
                    model.update(pending)  # newer writes win over flushed data
            elif kind == "flush":
                lake.flush()
                head.clear()
            elif kind == "compact":
                lake.compact(now_ms=10 * DAY)
            elif kind in ("crash", "close"):
                lake.close(flush=(kind == "close"))
                lake = promlake.open(d)
                head.clear()  # reopening flushes the replayed WAL
            assert read_back(lake) == model
        lake.close()
        lake = promlake.open(d, readonly=True)
        assert read_back(lake) == model
        lake.close()


def test_series_view_has_labels_without_empty_values(tmp_path):
    lake = promlake.open(tmp_path)
    batch = SeriesBatch.from_dicts(LABEL_SETS)
    app = lake.appender()
    app.append(batch, np.arange(5), np.full(5, 1000), np.ones(5))
    app.commit()
    for flush in (False, True):
        if flush:
            lake.flush()
        df = lake.sql("SELECT metric, labels FROM series WHERE metric = 'empty_value_dropped'")
        assert df["labels"].to_list() == [{"__name__": "empty_value_dropped", "a": "1"}]
    lake.close()


def test_stale_marker_survives_bit_exact(tmp_path):
    lake = promlake.open(tmp_path)
    batch = SeriesBatch.from_dicts([{"__name__": "x"}])
    app = lake.appender()
    app.append(batch, np.array([0, 0]), np.array([1000, 2000]), np.array([1.0, STALE_NAN]))
    app.commit()
    lake.close()
    lake = promlake.open(tmp_path, readonly=True)
    df = lake.sql("SELECT value FROM samples ORDER BY ts")
    assert df["value"].to_numpy().view(np.uint64).tolist() == [bits(1.0), 0x7FF0000000000002]
    lake.close()


def test_conflicting_value_is_refused_and_nothing_of_the_commit_is_stored(tmp_path):
    lake = promlake.open(tmp_path)
    batch = SeriesBatch.from_dicts([{"__name__": "x"}, {"__name__": "y"}])
    app = lake.appender()
    app.append(batch, np.array([0]), np.array([1000]), np.array([1.0]))
    app.commit()
    app = lake.appender()
    app.append(batch, np.array([1, 0]), np.array([1000, 1000]), np.array([5.0, 2.0]))
    with pytest.raises(DuplicateSampleError, match="duplicate sample for timestamp"):
        app.commit()
    assert lake.sql("SELECT count(*) AS n FROM samples")["n"][0] == 1
    # The same value again is accepted silently and not stored twice.
    app = lake.appender()
    app.append(batch, np.array([0]), np.array([1000]), np.array([1.0]))
    assert app.commit().duplicates == 1
    assert lake.sql("SELECT count(*) AS n FROM samples")["n"][0] == 1
    lake.close()


def test_last_write_wins_once_flushed(tmp_path):
    lake = promlake.open(tmp_path)
    batch = SeriesBatch.from_dicts([{"__name__": "x"}])
    for v in (1.0, 2.0, 3.0):
        app = lake.appender()
        app.append(batch, np.array([0]), np.array([1000]), np.array([v]))
        app.commit()
        lake.flush()
    assert lake.sql("SELECT value FROM samples")["value"].to_list() == [3.0]
    lake.compact(now_ms=10 * DAY)
    assert len(lake.blocks) == 1
    assert lake.sql("SELECT value FROM samples")["value"].to_list() == [3.0]
    lake.close()
