"""Bad things on disk give clear errors and lose nothing acknowledged."""

from __future__ import annotations

import errno
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

import promlake
from promlake.engine import SeriesBatch, compaction
from promlake.engine import blocks as blk
from promlake.engine.errors import LakeLockedError, OutOfBoundsError

DAY = 86_400_000
BATCH = SeriesBatch.from_dicts([{"__name__": "m", "i": str(i)} for i in range(3)])


def _commit(lake, ts: int, value: float = 1.0) -> None:
    app = lake.appender()
    app.append(BATCH, np.arange(3), np.full(3, ts), np.full(3, value))
    app.commit()


def _count(lake) -> int:
    return int(lake.sql("SELECT count(*) AS n FROM samples")["n"][0])


def test_second_writer_is_refused(tmp_path):
    lake = promlake.open(tmp_path)
    with pytest.raises(LakeLockedError, match="open for writing by another process"):
        promlake.open(tmp_path)
    reader = promlake.open(tmp_path, readonly=True)  # readers never need the lock
    reader.close()
    lake.close()


def test_corrupt_bytes_in_the_middle_of_a_wal_segment_lose_only_that_record(tmp_path):
    lake = promlake.open(tmp_path)
    for t in (1000, 2000, 3000):
        _commit(lake, t)
    seg = max((tmp_path / "wal").iterdir())
    lake.close(flush=False)  # as if killed
    data = bytearray(seg.read_bytes())
    # Damage the second samples record's payload (records: generation, series, samples x3).
    offsets = _record_offsets(bytes(data))
    start, _end = offsets[3]
    data[start + 20] ^= 0xFF
    seg.write_bytes(bytes(data))
    lake = promlake.open(tmp_path)
    assert lake.replay_report.problems and "corrupt" in lake.replay_report.problems[0]
    assert sorted(lake.sql("SELECT DISTINCT ts FROM samples")["ts"].to_list()) == [1000, 3000]
    assert list((tmp_path / "wal" / "corrupt").iterdir()), "the damaged segment is kept for inspection"
    lake.close()


def test_torn_tail_is_dropped_and_the_rest_kept(tmp_path):
    lake = promlake.open(tmp_path)
    _commit(lake, 1000)
    _commit(lake, 2000)
    seg = max((tmp_path / "wal").iterdir())
    lake.close(flush=False)
    data = seg.read_bytes()
    seg.write_bytes(data[:-7])
    lake = promlake.open(tmp_path)
    assert lake.sql("SELECT DISTINCT ts FROM samples")["ts"].to_list() == [1000]
    lake.close()


def test_disk_full_refuses_the_commit_and_keeps_the_wal_consistent(tmp_path, monkeypatch):
    lake = promlake.open(tmp_path)
    _commit(lake, 1000)
    real_write = os.write

    def full(fd, data):
        real_write(fd, bytes(data)[: len(data) // 2])  # a partial write, then the error
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space left"):
        _commit(lake, 2000)
    monkeypatch.setattr(os, "write", real_write)
    assert _count(lake) == 3, "a refused commit is not visible"
    _commit(lake, 3000)
    lake.close(flush=False)
    lake = promlake.open(tmp_path)
    assert lake.replay_report.problems == []
    assert sorted(set(lake.sql("SELECT ts FROM samples")["ts"].to_list())) == [1000, 3000]
    lake.close()


def test_unreadable_block_is_quarantined_and_the_rest_still_answers(tmp_path):
    lake = promlake.open(tmp_path)
    _commit(lake, 1000)
    lake.flush()
    _commit(lake, 2 * DAY)
    lake.close()
    victim = next((tmp_path / "samples" / "day=1970-01-01").iterdir())
    victim.write_bytes(b"this is not parquet")
    lake = promlake.open(tmp_path)
    assert lake.sql("SELECT DISTINCT ts FROM samples")["ts"].to_list() == [2 * DAY]
    assert any((tmp_path / "quarantine").rglob("*.parquet"))
    lake.close()


def test_interrupted_merge_is_finished_at_open(tmp_path):
    lake = promlake.open(tmp_path)
    for t in (1000, 2000, 3000):
        _commit(lake, t)
        lake.flush()
    inputs = list(lake.blocks)
    lake.close()
    # Re-create the state after a crash between "merged block written" and "inputs deleted".
    saved = {b: {k: b.path(tmp_path, k).read_bytes() for k in ("samples", "series")} for b in inputs}
    compaction.merge(tmp_path, inputs, whole_day=True)
    for b, files in saved.items():
        for kind, data in files.items():
            b.path(tmp_path, kind).write_bytes(data)
    assert len(blk.list_blocks(tmp_path)) == 4
    lake = promlake.open(tmp_path)
    assert len(lake.blocks) == 1 and lake.blocks[0].level == 2
    assert _count(lake) == 9
    lake.close()


def test_retention_deletes_whole_old_days_and_refuses_samples_beyond_it(tmp_path):
    lake = promlake.open(tmp_path, retention_ms=2 * DAY)
    for day in range(5):
        _commit(lake, day * DAY + 1000)
        lake.flush()
    gone = lake.apply_retention()
    assert {b.day for b in gone} == {"1970-01-01", "1970-01-02"}
    assert sorted({t // DAY for t in lake.sql("SELECT ts FROM samples")["ts"].to_list()}) == [2, 3, 4]
    with pytest.raises(OutOfBoundsError, match="out of bounds"):
        _commit(lake, 1000)
    lake.close()


def test_retention_by_size_keeps_the_newest_day(tmp_path):
    lake = promlake.open(tmp_path, retention_bytes=1)
    for day in range(3):
        _commit(lake, day * DAY + 1000)
        lake.flush()
    lake.apply_retention()
    assert {b.day for b in lake.blocks} == {"1970-01-03"}
    lake.close()


def _record_offsets(data: bytes) -> list[tuple[int, int]]:
    from promlake.engine.wal import HEADER

    out, pos = [], 0
    while pos < len(data):
        length, _crc, _t = HEADER.unpack_from(data, pos)
        out.append((pos + HEADER.size, pos + HEADER.size + length))
        pos += HEADER.size + length
    return out


@pytest.mark.parametrize("ts", [blk.MAX_TS_MS + 1, blk.MIN_TS_MS - 1, 2**62])
def test_timestamps_no_day_partition_can_hold_are_refused_and_flushing_still_works(tmp_path, ts):
    lake = promlake.open(tmp_path)
    _commit(lake, 1000)
    with pytest.raises(OutOfBoundsError, match="storable range"):
        _commit(lake, ts)
    lake.flush()
    assert _count(lake) == 3  # the first commit's three samples, nothing of the refused one
    lake.close()


def test_metadata_survives_a_restart_and_later_flushes(tmp_path):
    def write(metric: str, type_: str, ts: int) -> None:
        lake = promlake.open(tmp_path)
        app = lake.appender()
        app.append(BATCH, np.arange(3), np.full(3, ts), np.full(3, 1.0))
        app.set_metadata(metric, type_, "help text")
        app.commit()
        lake.flush()
        lake.close()

    write("old_total", "counter", 1000)
    write("new_bytes", "gauge", 2000)  # after a restart: the flush rewrites the metadata file
    rows = pq.read_table(tmp_path / "metadata" / "metadata.parquet").to_pylist()
    assert sorted((r["metric"], r["type"]) for r in rows) == [
        ("new_bytes", "gauge"),
        ("old_total", "counter"),
    ]
    lake = promlake.open(tmp_path, readonly=True)
    assert sorted(lake.storage.metadata) == ["new_bytes", "old_total"]
    lake.close()
