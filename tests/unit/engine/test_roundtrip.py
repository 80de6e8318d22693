"""What is appended is exactly what is read back: across head, WAL replay, flush and compaction."""

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

sample = st.tuples(st.integers(0, len(LABEL_SETS) - 1), TS, VALUES)
op = st.one_of(
    st.tuples(st.just("commit"), st.lists(sample, min_size=1, max_size=30)),
    st.tuples(st.just("flush"), st.none()),
    st.tuples(st.just("compact"), st.none()),
    st.tuples(st.just("crash"), st.none()),
    st.tuples(st.just("close"), st.none()),
)


def bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def read_back(lake: promlake.Lake) -> dict[tuple[int, int], int]:
    df = lake.sql("SELECT series_id, ts, value FROM samples")
    vals = df["value"].to_numpy().view(np.uint64)
    out = {}
    for sid, ts, b in zip(df["series_id"].to_list(), df["ts"].to_list(), vals.tolist(), strict=True):
        assert (sid, ts) not in out, "a reader saw two samples for one series and timestamp"
        out[(sid, ts)] = b
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=12))
def test_appended_equals_read_back(ops: list[tuple[str, object]]) -> None:
    batch = SeriesBatch.from_dicts(LABEL_SETS)
    ids = batch.series_ids()
    model: dict[tuple[int, int], int] = {}
    # Per generation (since the last flush), what the head holds: conflicts are refused there.
    head: dict[tuple[int, int], int] = {}
    with tempfile.TemporaryDirectory() as d:
        lake = promlake.open(d)
        for kind, arg in ops:
            if kind == "commit":
                samples = arg
                assert isinstance(samples, list)
                idx = np.array([s[0] for s in samples])
                ts = np.array([s[1] for s in samples], np.int64)
                vals = np.array([s[2] for s in samples], np.float64)
                pending: dict[tuple[int, int], int] = {}
                conflict = False
                for i, t, v in samples:
                    key = (int(ids[i]), t)
                    prev = pending.get(key, head.get(key))
                    if prev is not None and prev != bits(v):
                        conflict = True
                    pending[key] = bits(v)
                app = lake.appender()
                app.append(batch, idx, ts, vals)
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
