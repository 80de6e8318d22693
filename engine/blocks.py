"""Parquet blocks: how samples, series and exemplars sit on disk.

A *block* is what one flush or one compaction writes for one day: up to three files sharing
one name, ``<seq>_L<level>_<mint>_<maxt>.parquet``, under ``samples/day=YYYY-MM-DD/``,
``series/day=YYYY-MM-DD/`` and ``exemplars/day=YYYY-MM-DD/``. The samples file is the block's
commit point: the series and exemplars files are written before it, so an engine that lists
``samples/`` never sees a block whose series are missing. Every file is written under a
temporary name, fsynced and renamed, so no reader ever sees half a file. Names are a pure
function of the block's data and sequence number, so re-flushing a WAL after a crash rewrites
the same names instead of adding duplicates. See FORMAT.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from promlake.engine import start_ts
from promlake.engine.histograms import HISTOGRAMS_SCHEMA
from promlake.engine.labels import LABELS_TYPE

log = logging.getLogger(__name__)

DAY_MS = 86_400_000

SAMPLES_SCHEMA = pa.schema(
    [
        ("series_id", pa.int64()),
        ("ts", pa.int64()),
        ("value", pa.float64()),
        ("stale", pa.bool_()),
        # The sample's start timestamp in ms, null when unknown (see start_ts.py). Blocks
        # written before it existed lack the column; readers take that as all null.
        (start_ts.COLUMN, start_ts.ARROW_TYPE),
    ]
)
# The stale marker: a NaN with this exact bit pattern (Prometheus's value.StaleNaN).
STALE_BITS = 0x7FF0000000000002


def stale_mask(values: np.ndarray) -> np.ndarray:
    """Which values are stale markers (by bits: SQL engines cannot tell NaNs apart)."""
    return np.asarray(values, np.float64).view(np.uint64) == STALE_BITS


SERIES_SCHEMA = pa.schema(
    [
        ("series_id", pa.int64()),
        ("metric", pa.string()),
        ("labels", LABELS_TYPE),
        ("min_ts", pa.int64()),
        ("max_ts", pa.int64()),
    ]
)
EXEMPLARS_SCHEMA = pa.schema(
    [
        ("series_id", pa.int64()),
        ("ts", pa.int64()),
        ("value", pa.float64()),
        ("labels", LABELS_TYPE),
    ]
)

KINDS = ("samples", "series", "exemplars", "histograms")
_NAME = re.compile(r"^(\d{12})_L(\d+)_(-?\d+)_(-?\d+)(_x)?\.parquet$")

# Encodings chosen for size on real metric data (measured in benchmarks/bench_storage.py):
# series ids come in long runs (the file is sorted by id), so a dictionary with RLE indices
# costs almost nothing per sample; timestamps move by a near-constant scrape interval, which
# DELTA_BINARY_PACKED turns into a few bits; float64 values compress far better with zstd
# once their bytes are split into streams (exponents together, mantissas together). Start
# timestamps are mostly null (a run of definition levels: nearly free); where present they are
# constant per series (cumulative) or one interval behind ts (delta), both of which delta
# encoding turns into a few bits.
_SAMPLES_WRITE_OPTIONS: dict[str, object] = {
    "compression": "zstd",
    "use_dictionary": ["series_id"],
    "column_encoding": {
        "ts": "DELTA_BINARY_PACKED",
        "value": "BYTE_STREAM_SPLIT",
        "st": "DELTA_BINARY_PACKED",
    },
    # st statistics carry its null count: a block whose st is all unknown is read without it.
    "write_statistics": ["series_id", "ts", "st"],
    "data_page_version": "2.0",
}
SAMPLES_ROW_GROUP = 1 << 20
# zstd effort by block level: flushes are transient and frequent, so cheap; a whole day is
# written once and kept for months, so it gets the slow, small setting (about 8% smaller
# than level 6 on the benchmark data, at roughly 4x the CPU).
ZSTD_LEVEL_BY_BLOCK_LEVEL = {0: 3, 1: 9, 2: 15}


def samples_write_options(level: int) -> dict[str, object]:
    return {**_SAMPLES_WRITE_OPTIONS, "compression_level": ZSTD_LEVEL_BY_BLOCK_LEVEL.get(level, 9)}


@dataclass(frozen=True, order=True)
class Block:
    """One block of one day, as found by its samples file's name."""

    seq: int
    level: int
    mint: int
    maxt: int
    day: str
    # May hold (series, ts) pairs that an older block also holds: readers keep the newest.
    overlaps: bool = False

    @property
    def name(self) -> str:
        return block_name(self.seq, self.level, self.mint, self.maxt, self.overlaps)

    def path(self, root: Path, kind: str) -> Path:
        return root / kind / f"day={self.day}" / self.name


def block_name(seq: int, level: int, mint: int, maxt: int, overlaps: bool = False) -> str:
    return f"{seq:012d}_L{level}_{mint}_{maxt}{'_x' if overlaps else ''}.parquet"


# Timestamps a block can hold: its day partition is a calendar date, years 1 to 9999.
MIN_TS_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
MAX_TS_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def day_of(ts_ms: int) -> str:
    return dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")


def day_start(day: str) -> int:
    d = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    return int(d.timestamp() * 1000)


def day_bounds(ts: np.ndarray) -> np.ndarray:
    """The UTC day number (days since epoch) of every timestamp, vectorized."""
    return np.floor_divide(ts, DAY_MS)


def list_blocks(root: Path) -> list[Block]:
    """Every block whose samples file exists, in sequence order."""
    blocks = []
    base = root / "samples"
    if not base.is_dir():
        return []
    for day_dir in base.iterdir():
        if not (day_dir.is_dir() and day_dir.name.startswith("day=")):
            continue
        for f in day_dir.iterdir():
            m = _NAME.match(f.name)
            if m:
                seq, level, mint, maxt = (int(g) for g in m.groups()[:4])
                blocks.append(Block(seq, level, mint, maxt, day_dir.name[4:], bool(m.group(5))))
    return sorted(blocks)


def write_atomic(table: pa.Table, path: Path, **options: object) -> int:
    """Write a Parquet file under a temporary name, fsync, rename; returns its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        pq.write_table(table, tmp, **options)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path.stat().st_size


def publish(tmp: Path, path: Path) -> None:
    """Make a finished temporary file visible under its final name, durably."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_samples(table: pa.Table, path: Path, metadata: dict[str, str] | None = None, level: int = 0) -> int:
    """Write samples sorted by (series_id, ts) with the size-tuned encodings."""
    if "stale" not in table.column_names:
        table = table.append_column("stale", pa.array(stale_mask(table.column("value").to_numpy())))
    if start_ts.COLUMN not in table.column_names:
        table = table.append_column(start_ts.COLUMN, start_ts.to_arrow(None, table.num_rows))
    table = table.select(SAMPLES_SCHEMA.names).cast(SAMPLES_SCHEMA)
    if metadata:
        table = table.replace_schema_metadata({**metadata, "promlake.format": FORMAT_VERSION})
    else:
        table = table.replace_schema_metadata({"promlake.format": FORMAT_VERSION})
    return write_atomic(table, path, row_group_size=SAMPLES_ROW_GROUP, **samples_write_options(level))


def write_series(table: pa.Table, path: Path) -> int:
    return write_atomic(table.cast(SERIES_SCHEMA), path, compression="zstd")


def write_exemplars(table: pa.Table, path: Path) -> int:
    return write_atomic(table.cast(EXEMPLARS_SCHEMA), path, compression="zstd")


def write_histograms(table: pa.Table, path: Path) -> int:
    """Native histogram rows, sorted by (series_id, ts) like samples (see histograms.py)."""
    return write_atomic(
        table.select(HISTOGRAMS_SCHEMA.names).cast(HISTOGRAMS_SCHEMA),
        path,
        compression="zstd",
        use_dictionary=["series_id", "counter_reset_hint"],
        column_encoding={"ts": "DELTA_BINARY_PACKED", "sum": "BYTE_STREAM_SPLIT"},
        write_statistics=["series_id", "ts", "st"],
        row_group_size=SAMPLES_ROW_GROUP,
    )


def remove_block(root: Path, block: Block) -> None:
    """Delete a block: the samples file first, so it stops being visible before the rest goes."""
    for kind in ("samples", "exemplars", "histograms", "series"):
        with contextlib.suppress(FileNotFoundError):
            block.path(root, kind).unlink()


def read_schema(path: Path) -> pa.Schema | None:
    """A block file's schema from its footer, or None (logged) when the footer is unreadable."""
    try:
        return pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        log.error("unreadable block file %s: %s", path, exc)
        return None


def is_readable(path: Path) -> bool:
    return read_schema(path) is not None


def has_start_timestamps(schema: pa.Schema) -> bool:
    """Whether a samples file has the ``st`` column (files written before it existed do not)."""
    return start_ts.COLUMN in schema.names


def start_timestamps_known(path: Path) -> bool:
    """Whether a samples file may hold a known start timestamp (its footer only).

    False for a file without the ``st`` column and for one whose row-group statistics say
    every ``st`` is null, the usual case: readers then skip the column and queries take
    their st-free plans. Without statistics (files written before st had them) the answer
    is a cautious True.
    """
    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowException):
        return True  # unreadable (quarantined at a writable open): nothing to decide from
    names = meta.schema.to_arrow_schema().names
    if start_ts.COLUMN not in names:
        return False
    col = names.index(start_ts.COLUMN)
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        stats = rg.column(col).statistics
        if stats is None or not stats.has_null_count or stats.null_count < rg.num_rows:
            return True
    return False


def quarantine(root: Path, block: Block) -> None:
    """Move an unreadable block out of the lake so queries keep working, and keep it."""
    dest = root / "quarantine" / f"day={block.day}"
    dest.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        p = block.path(root, kind)
        if p.exists():
            p.rename(dest / f"{kind}-{block.name}")
    log.error("block %s/%s was unreadable and moved to %s", block.day, block.name, dest)


def clean_temporaries(root: Path) -> None:
    """Remove files a crash left half-written (never visible: they still have .tmp names)."""
    for kind in KINDS:
        base = root / kind
        if base.is_dir():
            for tmp in base.glob("day=*/*.tmp"):
                tmp.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


FORMAT_VERSION = "1"
