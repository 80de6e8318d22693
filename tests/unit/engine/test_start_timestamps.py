"""Start timestamps (``st``): stored with their samples through every stage, null when unknown."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import promlake
from promlake.engine import SeriesBatch
from promlake.engine.errors import DuplicateSampleError, InvalidSeriesError

DAY = 86_400_000
BATCH = SeriesBatch.from_dicts([{"__name__": "c", "i": "0"}, {"__name__": "c", "i": "1"}])
IDS = BATCH.series_ids()


def _append(lake, idx, ts, values, st=None) -> None:
    app = lake.appender()
    app.append(BATCH, np.array(idx), np.array(ts, np.int64), np.array(values, np.float64), st=st)
    app.commit()


def _rows(lake) -> list[tuple[int, int, float, int | None]]:
    df = lake.sql("SELECT series_id, ts, value, st FROM samples ORDER BY series_id, ts")
    return list(df.iter_rows())


def _expected(*rows: tuple[int, int, float, int | None]) -> list[tuple[int, int, float, int | None]]:
    return sorted((int(IDS[i]), ts, v, st) for i, ts, v, st in rows)


def test_st_survives_head_replay_flush_compaction_and_reopen(tmp_path):
    lake = promlake.open(tmp_path)
    _append(lake, [0, 0, 1], [1000, 2000, 1000], [1.0, 2.0, 5.0], st=np.array([500, 0, 900]))
    _append(lake, [1], [2000], [6.0])  # no st at all: a WAL record without the column
    want = _expected((0, 1000, 1.0, 500), (0, 2000, 2.0, None), (1, 1000, 5.0, 900), (1, 2000, 6.0, None))
    assert _rows(lake) == want  # from the head
    lake.close(flush=False)  # a crash: only the WAL has the data
    lake = promlake.open(tmp_path)
    assert _rows(lake) == want  # replayed and re-flushed
    # A newer write of a flushed sample wins as a whole row, st included (also when unknown).
    _append(lake, [0, 1], [1000, 1000], [1.5, 5.0], st=np.array([0, 950]))
    lake.flush()
    want = _expected((0, 1000, 1.5, None), (0, 2000, 2.0, None), (1, 1000, 5.0, 950), (1, 2000, 6.0, None))
    assert _rows(lake) == want  # across blocks, newest write first
    lake.compact(now_ms=10 * DAY)
    assert len(lake.blocks) == 1
    assert _rows(lake) == want
    lake.close()
    lake = promlake.open(tmp_path, readonly=True)
    assert _rows(lake) == want
    (block,) = lake.blocks
    stored = pq.read_table(block.path(tmp_path, "samples"))
    assert stored.schema.field("st").type == "int64" and stored.column("st").null_count == 3
    lake.close()


def test_head_keeps_the_first_st_of_a_resent_identical_sample(tmp_path):
    lake = promlake.open(tmp_path)
    _append(lake, [0], [1000], [1.0], st=np.array([100]))
    app = lake.appender()
    app.append(BATCH, np.array([0, 0]), np.array([1000, 1000]), np.array([1.0, 1.0]), st=np.array([200, 300]))
    assert app.commit().duplicates == 2  # like Prometheus: same value, st not compared
    assert _rows(lake) == _expected((0, 1000, 1.0, 100))
    app = lake.appender()
    app.append(BATCH, np.array([0]), np.array([1000]), np.array([2.0]), st=np.array([100]))
    with pytest.raises(DuplicateSampleError):
        app.commit()
    lake.close()


def test_samples_without_st_cost_nothing_in_the_head(tmp_path):
    lake = promlake.open(tmp_path)
    _append(lake, [0, 1], [1000, 1000], [1.0, 2.0], st=np.array([0, 0]))  # all unknown: same as none
    assert all(c.st is None for c in lake.head.chunks)
    assert "st" not in lake.head.table().column_names
    assert _rows(lake) == _expected((0, 1000, 1.0, None), (1, 1000, 2.0, None))
    _append(lake, [0], [2000], [3.0], st=np.array([1500]))
    head = lake.head.table()
    assert head.column("ts").to_pylist() == [1000, 1000, 2000]  # in append order
    assert head.column("st").to_pylist() == [None, None, 1500]
    lake.close()


@pytest.mark.parametrize(
    ("st", "message"),
    [(np.array([1, 2]), "different lengths"), (np.array([1.5]), "integer milliseconds")],
)
def test_appender_refuses_malformed_st(tmp_path, st, message):
    lake = promlake.open(tmp_path)
    app = lake.appender()
    with pytest.raises(InvalidSeriesError, match=message):
        app.append(BATCH, np.array([0]), np.array([1000]), np.array([1.0]), st=st)
    lake.close()


def _drop_st_from_blocks(root) -> None:
    """Rewrite every samples file as a writer from before the st column would have."""
    for f in (root / "samples").glob("day=*/*.parquet"):
        table = pq.read_table(f)
        schema_meta = table.schema.metadata
        pq.write_table(table.drop_columns(["st"]).replace_schema_metadata(schema_meta), f)


def test_blocks_written_before_st_read_as_null_and_merge_into_the_new_schema(tmp_path):
    lake = promlake.open(tmp_path)
    _append(lake, [0, 1], [1000, 1000], [1.0, 2.0], st=np.array([10, 20]))
    lake.close()
    _drop_st_from_blocks(tmp_path)
    old = _expected((0, 1000, 1.0, None), (1, 1000, 2.0, None))
    reader = promlake.open(tmp_path, readonly=True)
    assert reader.snapshot().without_st
    assert _rows(reader) == old
    assert reader.sql("SELECT sum(value) AS v FROM samples")["v"][0] == 3.0  # st not selected
    reader.close()
    lake = promlake.open(tmp_path)
    # A new block with st next to the old one, and a head with st on top: one view over all.
    _append(lake, [0], [2000], [3.0], st=np.array([1500]))
    lake.flush()
    _append(lake, [1], [2000], [4.0], st=np.array([1600]))
    both = sorted([*old, (int(IDS[0]), 2000, 3.0, 1500), (int(IDS[1]), 2000, 4.0, 1600)])
    assert _rows(lake) == both
    assert lake.sql("SELECT count(*) AS n FROM metrics WHERE st IS NULL")["n"][0] == 2
    lake.flush()
    lake.compact(now_ms=10 * DAY)  # the old block is merged: the output has the column
    assert len(lake.blocks) == 1 and not lake.snapshot().without_st
    assert "st" in pq.read_schema(lake.blocks[0].path(tmp_path, "samples")).names
    assert _rows(lake) == both
    lake.close()


def test_old_and_new_blocks_with_overlaps_keep_the_newest_row(tmp_path):
    lake = promlake.open(tmp_path)
    _append(lake, [0], [1000], [1.0])
    lake.close()
    _drop_st_from_blocks(tmp_path)
    lake = promlake.open(tmp_path)
    _append(lake, [0], [1000], [2.0], st=np.array([700]))  # overwrites the old block's sample
    assert lake.snapshot().dedup
    assert _rows(lake) == _expected((0, 1000, 2.0, 700))
    lake.flush()
    assert _rows(lake) == _expected((0, 1000, 2.0, 700))
    lake.compact(now_ms=10 * DAY)
    assert _rows(lake) == _expected((0, 1000, 2.0, 700))
    lake.close()


def test_a_day_of_only_old_blocks_merges_into_a_block_with_st(tmp_path):
    lake = promlake.open(tmp_path)
    for t in (1000, 2000):
        _append(lake, [0], [t], [1.0])
        lake.flush()
    lake.close()
    _drop_st_from_blocks(tmp_path)
    lake = promlake.open(tmp_path)
    assert len(lake.snapshot().without_st) == 2
    (merged,) = lake.compact(now_ms=10 * DAY)
    assert pq.read_schema(merged.path(tmp_path, "samples")).field("st").type == "int64"
    assert _rows(lake) == _expected((0, 1000, 1.0, None), (0, 2000, 1.0, None))
    lake.close()
