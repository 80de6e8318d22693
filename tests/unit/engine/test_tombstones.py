"""delete_series / clean_tombstones in the lake: tombstones hide deleted samples in every read
path (head and blocks, SQL views, PromQL, compaction), survive a restart, hide nothing written
after the delete, and cleaning rewrites blocks without them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from promlake.engine import Lake, SeriesBatch, tombstones
from promlake.engine.compaction import CompactionPolicy
from promlake.engine.matchers import compile_matcher
from promlake.promql2sql.engine import Engine

STEP = 10_000
N = 30
SERIES = [{"__name__": "m", "job": "a"}, {"__name__": "m", "job": "b"}, {"__name__": "other", "job": "a"}]


def _append(lake: Lake, series: list[int], ts: np.ndarray, value: float = 1.0) -> None:
    batch = SeriesBatch.from_dicts(SERIES)
    app = lake.appender()
    idx = np.repeat(series, len(ts))
    app.append(batch, idx, np.tile(ts, len(series)), np.full(len(idx), value))
    app.commit()


def _ts(a: int, b: int) -> np.ndarray:
    return np.arange(a, b, dtype=np.int64) * STEP


def _job(job: str, name: str = "m") -> list:
    return [[compile_matcher("__name__", "=", name), compile_matcher("job", "=", job)]]


def _times(lake: Lake, job: str, name: str = "m") -> list[int]:
    rows = lake.sql(f"SELECT ts FROM metrics WHERE metric = '{name}' AND labels['job'] = '{job}' ORDER BY ts")
    return rows["ts"].to_list() if rows.height else []


def _series_ids(lake: Lake) -> set[int]:
    return set(lake.sql("SELECT series_id FROM series")["series_id"].to_list())


@pytest.fixture
def lake(tmp_path: Path):
    lk = Lake(tmp_path / "lake", compaction_policy=CompactionPolicy(l0_trigger=2))
    yield lk
    lk.close()


@pytest.mark.parametrize("flushed", [True, False])
def test_partial_delete_in_blocks_and_head(lake: Lake, flushed: bool) -> None:
    _append(lake, [0, 1, 2], _ts(0, N))
    if flushed:
        lake.flush()
    assert tombstones.delete_series(lake, _job("a"), 5 * STEP, 9 * STEP) == 1
    assert _times(lake, "a") == [t for t in _ts(0, N).tolist() if not 5 * STEP <= t <= 9 * STEP]
    assert len(_times(lake, "b")) == N and len(_times(lake, "a", "other")) == N
    # The series view's range is what is left.
    assert len(lake.tombstones.files) == 1


def test_full_delete_hides_series_everywhere_and_later_writes_stay(lake: Lake) -> None:
    _append(lake, [0, 1], _ts(0, N))
    lake.flush()
    _append(lake, [0, 1], _ts(N, N + 5))  # in the head
    sid_a = int(SeriesBatch.from_dicts([SERIES[0]]).series_ids()[0])
    tombstones.delete_series(lake, _job("a"), -(2**62), 2**62)
    assert _times(lake, "a") == []
    assert sid_a not in _series_ids(lake)
    assert sid_a in tombstones.deleted_series(lake.snapshot(), -(2**62), 2**62)
    engine = Engine(lake)
    res = engine.range('m{job="a"}', 0, (N + 5) * STEP, STEP)
    assert res.points.num_rows == 0
    assert engine.range("count(m)", 0, (N + 5) * STEP, STEP).points.num_rows > 0
    # Written after the delete (even inside its interval): visible, as in Prometheus.
    _append(lake, [0], _ts(3, 4), value=9.0)
    assert _times(lake, "a") == [3 * STEP]
    assert sid_a in _series_ids(lake)
    assert not len(tombstones.deleted_series(lake.snapshot(), -(2**62), 2**62))


def test_selectors_as_prometheus(lake: Lake) -> None:
    _append(lake, [0, 1, 2], _ts(0, 5))
    assert tombstones.delete_series(lake, [[]], -(2**62), 2**62) == 0  # {} deletes nothing
    everything = [[compile_matcher("job", "=~", ".*")]]
    assert tombstones.delete_series(lake, everything, -(2**62), 2**62) == 3
    assert lake.sql("SELECT count(*) AS n FROM samples")["n"][0] == 0
    assert tombstones.delete_series(lake, _job("a"), 10, 5) == 0  # empty interval


def test_tombstones_survive_restart_and_new_head_is_not_hidden(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    _append(lake, [0, 1], _ts(0, N))
    tombstones.delete_series(lake, _job("a"), 0, 4 * STEP)
    # A second delete with an empty head reuses the tombstone sequence (one file, two rows).
    tombstones.delete_series(lake, _job("b"), 0, 4 * STEP)
    assert len(lake.tombstones.files) == 1
    assert pq.read_table(lake.tombstones.files[0]).num_rows == 2
    lake.close()
    lake = Lake(tmp_path / "lake")
    assert _times(lake, "a")[0] == 5 * STEP and _times(lake, "b")[0] == 5 * STEP
    _append(lake, [0], _ts(1, 2), value=5.0)  # after the restart: a newer sequence number
    assert _times(lake, "a")[0] == STEP
    lake.close()
    ro = Lake(tmp_path / "lake", readonly=True)
    assert _times(ro, "b")[0] == 5 * STEP
    ro.close()


def test_compaction_keeps_deletes_applied(lake: Lake) -> None:
    _append(lake, [0, 1], _ts(0, 10))
    lake.flush()
    tombstones.delete_series(lake, _job("a"), 0, 4 * STEP)
    _append(lake, [0, 1], _ts(10, 20))  # a newer block: the merge takes its sequence number
    lake.flush()
    before = (_times(lake, "a"), _times(lake, "b"))
    assert lake.compact(now_ms=0)
    assert (_times(lake, "a"), _times(lake, "b")) == before
    # The merged block no longer holds the deleted rows at all.
    (merged,) = lake.blocks
    raw = pq.read_table(merged.path(lake.root, "samples")).num_rows
    assert raw == 40 - 5


def test_clean_tombstones_rewrites_blocks(lake: Lake) -> None:
    _append(lake, [0, 1, 2], _ts(0, N))
    lake.flush()
    _append(lake, [0, 1], _ts(N, N + 3))
    lake.flush()
    tombstones.delete_series(lake, _job("a"), 2 * STEP, 6 * STEP)
    tombstones.delete_series(lake, _job("b"), -(2**62), 2**62)
    expect = (_times(lake, "a"), _times(lake, "b"), _times(lake, "a", "other"))
    sid_b = int(SeriesBatch.from_dicts([SERIES[1]]).series_ids()[0])
    written = tombstones.clean_tombstones(lake)
    assert written and lake.tombstones.files == []
    assert not list((lake.root / "tombstones").glob("*.parquet"))
    assert (_times(lake, "a"), _times(lake, "b"), _times(lake, "a", "other")) == expect
    # The rows are gone from the files, and b from the series files and the index.
    raw = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{lake.root}/samples/*/*.parquet') WHERE series_id = {sid_b}"
    ).fetchall()
    assert raw == [(0,)]
    assert sid_b not in lake.index.sids
    assert sid_b not in _series_ids(lake)
    assert tombstones.clean_tombstones(lake) == []
    lake.close()
    again = Lake(lake.root, readonly=True)
    assert (_times(again, "a"), _times(again, "b")) == expect[:2]
    again.close()


def test_clean_after_interrupted_rewrite_is_safe(lake: Lake) -> None:
    """A crash after the rewrite but before the tombstones went: they hide the same rows."""
    _append(lake, [0, 1], _ts(0, 10))
    lake.flush()
    tombstones.delete_series(lake, _job("a"), 0, 4 * STEP)
    files = list(lake.tombstones.files)
    stash = [f.read_bytes() for f in files]
    tombstones.clean_tombstones(lake)
    for f, data in zip(files, stash, strict=True):  # as if removing them had not happened
        f.write_bytes(data)
    root = lake.root
    lake.close()
    lake2 = Lake(root)
    assert _times(lake2, "a") == _ts(5, 10).tolist()
    tombstones.clean_tombstones(lake2)
    assert _times(lake2, "a") == _ts(5, 10).tolist()
    lake2.close()


def test_plain_duckdb_recipe_applies_tombstones(lake: Lake) -> None:
    _append(lake, [0, 1], _ts(0, 10))
    lake.flush()
    tombstones.delete_series(lake, _job("a"), 0, 4 * STEP)
    _append(lake, [0], _ts(2, 3), value=7.0)  # after the delete: stays
    lake.flush()
    root = lake.root
    rows = duckdb.sql(
        f"""
        WITH u AS (SELECT *, parse_filename(filename)[1:12]::BIGINT AS seq
                   FROM read_parquet('{root}/samples/*/*.parquet', filename = true))
        SELECT u.series_id, u.ts, u.value
        FROM u ANTI JOIN read_parquet('{root}/tombstones/*.parquet') AS t
          ON t.series_id = u.series_id AND u.ts BETWEEN t.mint AND t.maxt AND u.seq < t.seq
        """
    ).fetchall()
    assert len(rows) == 20 - 5 + 1
    assert sorted(r[1] for r in rows if r[2] == 7.0) == [2 * STEP]
