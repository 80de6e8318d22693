"""Deleting series: tombstones in the lake, hiding and then removing the deleted samples.

Prometheus's ``delete_series`` marks samples deleted (tombstones) and ``clean_tombstones``
rewrites storage without them. Here a tombstone is a row (series_id, mint, maxt, seq) in a
Parquet file under ``<lake>/tombstones/`` (FORMAT.md): it hides the samples of its series
in [mint, maxt] that were written before it, that is by a block or head generation whose
sequence number is below ``seq``. Samples written later stay visible, as in Prometheus, whose
tombstones belong to the blocks and head that existed when the delete was asked (and are
clamped to their time range, so later head appends are outside them).

- ``delete_series`` flushes the head first, so every sample already written has a sequence
  number below the tombstones' and everything written afterwards one at least as high.
- Every reader applies the tombstones (``catalog.without_deleted``), and so does compaction,
  because a merged block takes its newest input's sequence number, which may be newer than a
  tombstone that must still hide rows of its older inputs.
- ``clean_tombstones`` rewrites the blocks that hold deleted samples with compaction's merge
  (same sequence number, inputs recorded for crash recovery), then removes the tombstone
  files and drops series left without any data from the series index.

A tombstone file is written like every lake file (temporary name, fsync, rename) and is never
changed afterwards, except replaced whole by a file holding its rows and new ones.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlglot.expressions as exp

from promlake.engine import blocks as blk
from promlake.engine import compaction
from promlake.engine.blocks import Block
from promlake.engine.catalog import Snapshot, connect
from promlake.engine.index import SeriesIndex
from promlake.engine.matchers import LabelMatcher

if TYPE_CHECKING:
    from promlake.engine.lake import Lake

DIR = "tombstones"
SCHEMA = pa.schema(
    [
        ("series_id", pa.int64()),
        ("mint", pa.int64()),  # inclusive, ms
        ("maxt", pa.int64()),  # inclusive, ms
        # Hides rows of blocks and head generations with a lower sequence number only.
        ("seq", pa.int64()),
    ]
)
_NAME = re.compile(r"^(\d{12})\.parquet$")


class Tombstones:
    """The tombstone files of one lake (the list readers' snapshots take)."""

    def __init__(self, root: Path, files: Sequence[Path] = ()) -> None:
        self.root = root
        self.files = sorted(files)

    @classmethod
    def load(cls, root: Path, writable: bool) -> Tombstones:
        base = root / DIR
        if not base.is_dir():
            return cls(root)
        if writable:  # a crash may leave a half-written file, never visible under its name
            for tmp in base.glob("*.tmp"):
                tmp.unlink()
        return cls(root, [f for f in base.iterdir() if _NAME.match(f.name)])

    def paths(self) -> tuple[str, ...]:
        return tuple(str(f) for f in self.files)

    def max_seq(self) -> int:
        """The highest tombstone sequence number (0 without any): the next head must not be
        lower, or samples written after a restart would be hidden by an older delete."""
        return max((int(f.name[:12]) for f in self.files), default=0)

    def table(self) -> pa.Table:
        if not self.files:
            return SCHEMA.empty_table()
        return pa.concat_tables([pq.read_table(f).cast(SCHEMA) for f in self.files])

    def add(self, rows: pa.Table, seq: int) -> Path:
        """Write ``rows`` as tombstones of sequence ``seq`` (joining that file's earlier rows)."""
        path = self.root / DIR / f"{seq:012d}.parquet"
        if path.exists():
            rows = pa.concat_tables([pq.read_table(path).cast(SCHEMA), rows])
        blk.write_atomic(rows.cast(SCHEMA).sort_by([("series_id", "ascending")]), path, compression="zstd")
        if path not in self.files:
            self.files = sorted([*self.files, path])
        return path

    def remove(self, files: Sequence[Path]) -> None:
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
        self.files = [f for f in self.files if f not in files]


# --- deleting ---------------------------------------------------------------------------------
def select_for_delete(lake: Lake, matcher_sets: Sequence[Sequence[LabelMatcher]]) -> np.ndarray:
    """Series ids matching any of the sets, as Prometheus's ``PostingsForMatchers`` picks them:
    a selector without matchers (``{}``) selects nothing, not everything."""
    # Upstream intersects the postings of the matchers, and an intersection of none is empty
    # (checked against Prometheus 2.42: `{}` deletes nothing, `{job=~".*"}` everything).
    picked = [lake.index.select(ms) for ms in matcher_sets if ms]
    return np.unique(np.concatenate(picked)) if picked else np.empty(0, np.int64)


def delete_series(lake: Lake, matcher_sets: Sequence[Sequence[LabelMatcher]], mint: int, maxt: int) -> int:
    """Delete the samples of matching series in [mint, maxt]; returns the tombstones written."""
    mint, maxt = max(mint, blk.MIN_TS_MS), min(maxt, blk.MAX_TS_MS)
    if mint > maxt:
        return 0
    # Rotate the head: what was written so far gets sequence numbers below the new head's.
    lake.flush()
    with lake._flush_lock:  # no compaction, clean or flush between choosing seq and writing
        with lake._write_lock:
            seq = lake.head.seq
        ids = select_for_delete(lake, matcher_sets)
        ids = _with_data_in(lake.snapshot(), ids, mint, maxt)
        if not len(ids):
            return 0
        n = len(ids)
        rows = pa.table(
            {
                "series_id": ids,
                "mint": np.full(n, mint, np.int64),
                "maxt": np.full(n, maxt, np.int64),
                "seq": np.full(n, seq, np.int64),
            },
            schema=SCHEMA,
        )
        lake.tombstones.add(rows, seq)
        return n


def _with_data_in(snap: Snapshot, ids: np.ndarray, mint: int, maxt: int) -> np.ndarray:
    """The ids whose series rows (per block and head) overlap [mint, maxt]: a tombstone for a
    series without data there would only cost readers work."""
    if not len(ids):
        return ids
    snap = replace(snap.overlapping(mint, maxt), tombstones=())
    query = (
        exp.select("series_id")
        .from_("series")
        .where(exp.LTE(this=exp.column("min_ts"), expression=exp.Literal.number(maxt)))
        .where(exp.GTE(this=exp.column("max_ts"), expression=exp.Literal.number(mint)))
    )
    con = connect(snap, sandbox=False)
    try:
        con.register("__wanted", pa.table({"series_id": ids}))
        query = query.where(
            exp.In(this=exp.column("series_id"), query=exp.select("series_id").from_("__wanted").subquery())
        )
        found = con.sql(query.sql("duckdb")).fetchnumpy()["series_id"]
    finally:
        con.close()
    return np.unique(np.asarray(found, np.int64))


def deleted_series(snap: Snapshot, start: int, end: int) -> np.ndarray:
    """Series a tombstone names that have nothing visible left in [start, end] (the series
    and label endpoints leave them out); empty when the lake has no tombstones."""
    if not snap.tombstones:
        return np.empty(0, np.int64)
    named = pc.unique(pq.read_table(list(snap.tombstones), columns=["series_id"])["series_id"])
    con = connect(snap.overlapping(start, end), sandbox=False)
    try:
        query = (
            exp.select("series_id")
            .from_("series")
            .where(exp.LTE(this=exp.column("min_ts"), expression=exp.Literal.number(end)))
            .where(exp.GTE(this=exp.column("max_ts"), expression=exp.Literal.number(start)))
        )
        visible = con.sql(query.sql("duckdb")).fetchnumpy()["series_id"]
    finally:
        con.close()
    return np.setdiff1d(named.to_numpy(), np.asarray(visible, np.int64))


# --- cleaning -----------------------------------------------------------------------------------
def clean_tombstones(lake: Lake) -> list[Block]:
    """Rewrite every block holding deleted samples without them, then drop the tombstones.

    Returns the blocks written. A crash part way leaves the tombstones in place, and they
    hide the same samples in rewritten blocks as in the old ones, so cleaning again is safe.
    """
    with lake._flush_lock:
        files = list(lake.tombstones.files)
        if not files:
            return []
        stones = lake.tombstones.table()
        paths = [str(f) for f in files]
        written = []
        for block in _affected(lake, stones):
            whole_day = all(b == block for b in lake.blocks if b.day == block.day)
            out = compaction.merge(lake.root, [block], whole_day, paths)
            kept: list[Block] = [out]
            if _is_empty(lake.root, out):  # everything deleted: the block goes, as upstream
                blk.remove_block(lake.root, out)
                kept = []
            with lake._write_lock:
                lake.blocks = sorted([b for b in lake.blocks if b != block] + kept)
            written += kept
        with lake._write_lock:
            lake._note_start_timestamps(written)
            lake.tombstones.remove(files)
            gone = _without_data(lake, stones.column("series_id").to_numpy())
            if len(gone):
                lake.index = _index_without(lake.index, gone)
        return written


def _affected(lake: Lake, stones: pa.Table) -> list[Block]:
    """Blocks older than some tombstone that overlap its time range and hold its series."""
    sid = stones.column("series_id").to_numpy()
    mint = stones.column("mint").to_numpy()
    maxt = stones.column("maxt").to_numpy()
    seq = stones.column("seq").to_numpy()
    found = []
    for b in lake.blocks:  # one vectorized test per block, never per sample
        applies = (seq > b.seq) & (mint <= b.maxt) & (maxt >= b.mint)
        if not applies.any():
            continue
        series = b.path(lake.root, "series")
        held = pq.read_table(series, columns=["series_id"])["series_id"].to_numpy() if series.exists() else []
        if np.isin(sid[applies], held).any():
            found.append(b)
    return found


def _is_empty(root: Path, b: Block) -> bool:
    rows = pq.read_metadata(b.path(root, "samples")).num_rows
    return rows == 0 and not any(b.path(root, kind).exists() for kind in ("exemplars", "histograms"))


def _without_data(lake: Lake, candidates: np.ndarray) -> np.ndarray:
    """Of the candidates, the series no block's series file and no head generation names."""
    candidates = np.unique(candidates)
    files = [p for b in lake.blocks if (p := b.path(lake.root, "series")).exists()]
    present = [pq.read_table(f, columns=["series_id"])["series_id"].to_numpy() for f in files]
    present += [g.sids for g in [*lake.flushing, lake.head]]
    if present:
        return np.setdiff1d(candidates, np.concatenate(present))
    return candidates


def _index_without(index: SeriesIndex, gone: np.ndarray) -> SeriesIndex:
    """A copy of the index without the given series (built through its public interface)."""
    keep = ~np.isin(index.sids, gone)
    fresh = SeriesIndex()
    fresh.add(
        index.sids[keep], index.checks[keep], index.labels_of(index.sids[keep]), index.flushed_max[keep]
    )
    return fresh
