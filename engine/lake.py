"""The lake: blocks on disk, the head in memory, the WAL between them, one writer at a time.

``Lake`` composes the parts: it recovers at open (temporary files, interrupted merges,
unreadable blocks, the WAL), takes commits from ``Appender``, flushes head generations to
Parquet, compacts, applies retention and hands readers consistent ``Snapshot``s.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from promlake.engine import blocks as blk
from promlake.engine import compaction, flush, histograms, start_ts, tombstones, wal
from promlake.engine.appender import (
    Appender,
    CommitResult,
    Metadata,
    _Exemplars,
    _Histograms,
    _Samples,
    exemplar_table,
)
from promlake.engine.blocks import Block
from promlake.engine.catalog import Snapshot, connect, run_read_only
from promlake.engine.errors import DuplicateSampleError, LakeLockedError, OutOfBoundsError, StorageError
from promlake.engine.head import HeadGeneration, PreparedSamples
from promlake.engine.index import SeriesIndex
from promlake.engine.labels import LABEL_TABLE_SCHEMA, SeriesBatch
from promlake.engine.memory import release_unused
from promlake.engine.recovery import load_series, replay_generations

log = logging.getLogger(__name__)

LAKE_FILE = "promlake.json"
_GEN = struct.Struct("<Q")


class Lake:
    """A lake directory opened for reading and (unless ``readonly``) writing."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        retention_ms: int | None = None,
        retention_bytes: int | None = None,
        wal_fsync: str = "segment",
        compaction_policy: compaction.CompactionPolicy | None = None,
        head_flush_bytes_per_series: int = 256,
        head_flush_min_bytes: int = 4 << 20,
    ) -> None:
        self.root = Path(path)
        self.readonly = readonly
        self.retention_ms = retention_ms
        self.retention_bytes = retention_bytes
        self.policy = compaction_policy or compaction.CompactionPolicy()
        self.wal_fsync = wal_fsync
        # The head is a small memtable, not hours of data: once it holds about this much per
        # series it is written to Parquet in the background (recent blocks then live in the
        # page cache, not in our heap). This is what keeps RAM per active series small.
        self.head_flush_bytes_per_series = head_flush_bytes_per_series
        self.head_flush_min_bytes = head_flush_min_bytes
        self._flush_wanted = threading.Event()
        self._flusher: threading.Thread | None = None
        self._stopping = False
        self.flush_errors = 0
        self.index = SeriesIndex()
        self.metadata: dict[str, Metadata] = {}
        self._write_lock = threading.RLock()
        self._flush_lock = threading.Lock()
        self.blocks: list[Block] = []
        self._without_st: set[Block] = set()
        self._with_histograms: set[Block] = set()
        self.flushing: list[HeadGeneration] = []
        self.replay_report = wal.ReplayReport()
        self._wal: wal.WAL | None = None
        self._lock_fd = -1
        self._closed = False
        self._open()

    # --- opening and recovery --------------------------------------------------------------
    def _open(self) -> None:
        if self.readonly:
            if not (self.root / LAKE_FILE).exists():
                raise StorageError(f"{self.root} is not a promlake lake (no {LAKE_FILE})")
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            self._take_lock()
            self._check_format()
            blk.clean_temporaries(self.root)
        found = blk.list_blocks(self.root)
        gens = replay_generations(self.root / "wal", self.replay_report)
        wal_seqs = {g.seq for g in gens}
        # Blocks of a generation still in the WAL may be partial (the flush was cut short):
        # the WAL is the truth for them, so they are rebuilt from it.
        rebuilt = [b for b in found if b.seq in wal_seqs and b.level == 0]
        found = [b for b in found if b not in rebuilt]
        if not self.readonly:
            for b in rebuilt:
                blk.remove_block(self.root, b)
            found = compaction.recover(self.root, found)
        schemas = {b: blk.read_schema(b.path(self.root, "samples")) for b in found}
        if not self.readonly:
            for b in [b for b, schema in schemas.items() if schema is None]:
                blk.quarantine(self.root, b)
                found.remove(b)
        self.blocks = found
        self.tombstones = tombstones.Tombstones.load(self.root, writable=not self.readonly)
        # Blocks without a known start timestamp (written before st existed, or all null):
        # readers see null st for them without reading the column, and queries over only
        # such blocks take their st-free plans.
        self._without_st = set()
        self._note_start_timestamps(self.blocks)
        sids, checks, labels, flushed = load_series(self.root, self.blocks)
        self.index.add(sids, checks, labels, flushed)
        # Metadata flushed before: the next flush rewrites the whole file from this dict, so
        # starting empty would drop every family not written again since the restart.
        self.metadata = flush.read_metadata(
            self.root / "metadata" / "metadata.parquet", keep_aside=not self.readonly
        )
        self.flushing = [g.apply(self.index, self.metadata) for g in gens]
        for problem in self.replay_report.problems:
            log.error("WAL replay: %s", problem)
        if self.readonly:
            self.head = HeadGeneration(seq=(max(wal_seqs) + 1) if wal_seqs else 1)
            return
        # Make everything replayed durable in Parquet, then start a fresh WAL.
        for gen in list(self.flushing):
            written = self._write_generation(gen)
            self._note_start_timestamps(written)
            self.blocks.extend(written)
            self.flushing.remove(gen)
        wal.quarantine_segments(self.root / "wal", self.replay_report.corrupt_segments)
        for p in wal.segment_paths(self.root / "wal"):
            p.unlink()
        # Not below a tombstone's sequence either: it hides everything written before it.
        seqs = [b.seq for b in self.blocks] + sorted(wal_seqs) + [self.tombstones.max_seq()]
        next_seq = max(seqs, default=0) + 1
        self._wal = wal.WAL(self.root / "wal", fsync=self.wal_fsync, start_at=next_seq)
        self.head = self._new_generation()
        self._flusher = threading.Thread(target=self._background_flush, name="head-flusher", daemon=True)
        self._flusher.start()

    def _take_lock(self) -> None:
        self._lock_fd = os.open(self.root / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise LakeLockedError(f"{self.root} is open for writing by another process") from exc

    def _check_format(self) -> None:
        f = self.root / LAKE_FILE
        if f.exists():
            version = json.loads(f.read_text()).get("format")
            if version != blk.FORMAT_VERSION:
                raise StorageError(
                    f"{self.root} has lake format {version!r}; this promlake reads {blk.FORMAT_VERSION!r}"
                )
        else:
            f.write_text(
                json.dumps({"format": blk.FORMAT_VERSION, "created_ms": int(time.time() * 1000)}) + "\n"
            )

    def _new_generation(self) -> HeadGeneration:
        assert self._wal is not None
        gen = HeadGeneration(self._wal.segment)
        self._wal.log([(wal.RECORD_GENERATION, _GEN.pack(gen.seq))])
        return gen

    # --- writing -----------------------------------------------------------------------
    def appender(self) -> Appender:
        if self.readonly:
            raise StorageError("this lake was opened read-only")
        return Appender(self)

    def _commit(
        self,
        samples: Sequence[_Samples],
        exemplars: Sequence[_Exemplars],
        metadata: Sequence[Metadata],
        hists: Sequence[_Histograms] = (),
    ) -> CommitResult:
        if self._closed:
            raise StorageError("lake is closed")
        batches = [*(s.series for s in samples), *(e.series for e in exemplars), *(h.series for h in hists)]
        with self._write_lock:
            assert self._wal is not None
            ids = [b.series_ids() for b in batches]
            checks = [b.check_hashes() for b in batches]
            all_ids = np.concatenate(ids) if ids else np.empty(0, np.int64)
            all_checks = np.concatenate(checks) if checks else np.empty(0, np.int64)
            is_new = self.index.check(all_ids, all_checks)
            s_ids = (
                np.concatenate([ids[i][s.index] for i, s in enumerate(samples)])
                if samples
                else np.empty(0, np.int64)
            )
            s_ts = np.concatenate([s.ts for s in samples]) if samples else np.empty(0, np.int64)
            s_val = np.concatenate([s.values for s in samples]) if samples else np.empty(0)
            s_st = start_ts.concat([s.st for s in samples], [len(s.ts) for s in samples])
            self._check_bounds(s_ts)
            head = self.head
            prepared = head.prepare(s_ids, s_ts, s_val, s_st)
            p_ids, p_ts = prepared.sids, prepared.ts
            ex_tables = [exemplar_table(e, ids[len(samples) + i]) for i, e in enumerate(exemplars)]
            h_rows = self._prepare_histograms(hists, ids[len(samples) + len(exemplars) :], prepared)
            h_ids = h_rows.column("series_id").to_numpy()
            # Only series that end up holding something are recorded, so every series in the
            # WAL reaches a series file at the next flush.
            new_mask = is_new
            if is_new.any():  # (the steady state has no new series: nothing to look up)
                used = np.unique(
                    np.concatenate([p_ids, h_ids, *(t.column("series_id").to_numpy() for t in ex_tables)])
                )
                new_mask = is_new & np.isin(all_ids, used)
            new_ids, first = np.unique(all_ids[new_mask], return_index=True)
            new_labels = _labels_for(batches, ids, new_ids)
            records: list[tuple[int, bytes]] = []
            if len(new_ids):
                records.append((wal.RECORD_SERIES, wal.encode_table(new_labels)))
            if len(p_ids):
                records.append((wal.RECORD_SAMPLES, wal.encode_table(_wal_samples(prepared))))
            ex_all = pa.concat_tables(ex_tables) if ex_tables else None
            if ex_all is not None and ex_all.num_rows:
                records.append((wal.RECORD_EXEMPLARS, wal.encode_table(ex_all)))
            if h_rows.num_rows:
                records.append((wal.RECORD_HISTOGRAMS, wal.encode_table(h_rows)))
            if metadata:
                records.append((wal.RECORD_METADATA, wal.encode_table(flush.metadata_table(metadata))))
            if not records:
                return CommitResult(0, len(s_ids), 0, 0, 0)
            self._wal.log(records)
            # Durable from here on: apply to memory.
            self.index.add(new_ids, all_checks[new_mask][first], new_labels)
            if len(p_ids) and self.index.overlaps_flushed(p_ids, p_ts):
                head.overlaps = True
            head.append(prepared)
            if h_rows.num_rows:
                if self.index.overlaps_flushed(h_ids, h_rows.column("ts").to_numpy()):
                    head.overlaps = True
                head.histograms.append(h_rows)
            if head.memory_bytes() >= max(
                self.head_flush_min_bytes, self.head_flush_bytes_per_series * len(head.sids)
            ):
                self._flush_wanted.set()
            if ex_all is not None and ex_all.num_rows:
                head.append_exemplars(ex_all)
            for m in metadata:
                self.metadata[m.metric] = m
            return CommitResult(
                len(p_ids),
                len(s_ids) - len(p_ids),
                len(new_ids),
                ex_all.num_rows if ex_all is not None else 0,
                h_rows.num_rows,
            )

    def _prepare_histograms(
        self, hists: Sequence[_Histograms], ids: list[np.ndarray], floats: PreparedSamples
    ) -> pa.Table:
        """The histogram rows this commit appends (see HeadHistograms.prepare), refusing any
        (series, ts) that holds a float sample in the head or in this commit, as Prometheus's
        head refuses a histogram where a float is (and the reverse)."""
        head = self.head
        hit = head.histograms.conflicts_with(floats.sids, floats.ts)
        if hit is not None:
            raise DuplicateSampleError(1, *hit)
        if not hists:
            return histograms.HISTOGRAMS_SCHEMA.empty_table()
        rows = pa.concat_tables(
            [histograms.with_series(h.rows, b_ids[h.index]) for h, b_ids in zip(hists, ids, strict=True)]
        )
        self._check_bounds(rows.column("ts").to_numpy())
        rows = head.histograms.prepare(rows)
        h_ids, h_ts = rows.column("series_id").to_numpy(), rows.column("ts").to_numpy()
        clash = head.floats_at(h_ids, h_ts)
        if len(floats.sids):
            both = pl.DataFrame({"series_id": h_ids, "ts": h_ts}).with_row_index("i").join(
                pl.DataFrame({"series_id": floats.sids, "ts": floats.ts}), on=["series_id", "ts"], how="semi"
            )
            clash[both["i"].to_numpy()] = True
        if clash.any():
            i = int(np.flatnonzero(clash)[0])
            raise DuplicateSampleError(int(clash.sum()), int(h_ids[i]), int(h_ts[i]))
        return rows

    def _check_bounds(self, ts: np.ndarray) -> None:
        if not len(ts):
            return
        if int(ts.min()) < blk.MIN_TS_MS or int(ts.max()) > blk.MAX_TS_MS:
            # Accepted, such a sample would make every later flush of the head fail (and the
            # WAL replays it): refused as out of bounds instead.
            bad = int(ts.min()) if int(ts.min()) < blk.MIN_TS_MS else int(ts.max())
            raise OutOfBoundsError(
                f"out of bounds: sample at {bad} is outside the storable range (years 1 to 9999)"
            )
        if self.retention_ms is None:
            return
        newest = max(self.max_time(), int(ts.max()))
        if int(ts.min()) < newest - self.retention_ms:
            raise OutOfBoundsError(
                f"out of bounds: sample at {int(ts.min())} is older than the retention window "
                f"(newest {newest} minus --storage.retention.time)"
            )

    # --- flushing ------------------------------------------------------------------------
    def flush(self) -> list[Block]:
        """Write the active head generation to Parquet and drop its WAL segments."""
        with self._flush_lock:
            with self._write_lock:
                gen = self.head
                if gen.n_samples == 0 and not gen.exemplars and not gen.histograms.n:
                    return []
                assert self._wal is not None
                self._wal.rotate()
                self.head = self._new_generation()
                self.flushing.append(gen)
                keep_from = self.head.seq
            written = self._write_generation(gen)
            self._note_start_timestamps(written)
            with self._write_lock:
                # One step for readers: the blocks appear as the generation disappears.
                assert self._wal is not None
                self._wal.remove_before(keep_from)
                self.blocks.extend(written)
                self.flushing.remove(gen)
            del gen
            release_unused()
            return written

    def _note_start_timestamps(self, blocks: list[Block]) -> None:
        """Note what readers need to know of new blocks without opening them per query: which
        have no known start timestamp, and which have native histograms."""
        for b in blocks:
            if not blk.start_timestamps_known(b.path(self.root, "samples")):
                self._without_st.add(b)
            if b.path(self.root, "histograms").exists():
                self._with_histograms.add(b)

    def _write_generation(self, gen: HeadGeneration) -> list[Block]:
        written = flush.write_generation(self.root, gen, self.index)
        self._write_metadata()
        return written

    def _write_metadata(self) -> None:
        if self.metadata:
            flush.write_metadata(self.root, list(self.metadata.values()))

    # --- compaction and retention ----------------------------------------------------------
    def compact(self, now_ms: int | None = None) -> list[Block]:
        """Merge small blocks (see compaction.plan); returns the blocks written."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        made = []
        with self._flush_lock:
            for group in compaction.plan(list(self.blocks), now_ms, self.policy):
                whole_day = len(group) == sum(1 for b in self.blocks if b.day == group[0].day)
                out = compaction.merge(
                    self.root, group, whole_day and group[0].level >= 0, self.tombstones.paths()
                )
                self._note_start_timestamps([out])
                with self._write_lock:
                    self.blocks = [b for b in self.blocks if b not in group] + [out]
                    self.blocks.sort()
                made.append(out)
        return made

    def apply_retention(self) -> list[Block]:
        """Delete whole days beyond --storage.retention.time / .size; returns what went."""
        with self._flush_lock:
            sizes = {
                b: _size(b.path(self.root, "samples")) + _size(b.path(self.root, "series"))
                for b in self.blocks
            }
            victims = compaction.retention_victims(
                self.blocks, sizes, self.max_time(), self.retention_ms, self.retention_bytes
            )
            if not victims:
                return []
            with self._write_lock:
                self.blocks = [b for b in self.blocks if b not in victims]
            for b in victims:
                blk.remove_block(self.root, b)
            return victims

    # --- reading -----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._write_lock:
            gens = [*self.flushing, self.head]
            tables = tuple((g.seq, g.table()) for g in gens if g.n_samples)
            hist_tables = tuple((g.seq, g.histograms.table()) for g in gens if g.histograms.n)
            return Snapshot(
                root=self.root,
                blocks=tuple(self.blocks),
                head_samples=tables,
                head_histograms=hist_tables,
                head_series=self._head_series(gens),
                dedup=any(b.overlaps for b in self.blocks) or any(g.overlaps for g in gens),
                without_st=frozenset(self._without_st.intersection(self.blocks)),
                with_histograms=frozenset(self._with_histograms.intersection(self.blocks)),
                tombstones=self.tombstones.paths(),
            )

    def _head_series(self, gens: list[HeadGeneration]) -> pa.Table:
        frames = [_frame(g.table()).select("series_id", "ts") for g in gens if g.n_samples] + [
            _frame(g.histograms.table()).select("series_id", "ts") for g in gens if g.histograms.n
        ]
        if not frames:
            return blk.SERIES_SCHEMA.empty_table()
        per = (
            pl.concat(frames)
            .group_by("series_id")
            .agg(min_ts=pl.col("ts").min(), max_ts=pl.col("ts").max())
            .sort("series_id")
        )
        return flush.series_rows(self.index, per)

    def sql(self, query: str) -> pl.DataFrame:
        """Run one read-only SQL statement over the views samples, series and metrics."""
        con = connect(self.snapshot())
        try:
            rel = run_read_only(con, query)
            if rel is None:
                return pl.DataFrame()
            return pl.from_arrow(rel.to_arrow_table())  # type: ignore[return-value]
        finally:
            con.close()

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the lake's views (for callers that want DuckDB itself)."""
        return connect(self.snapshot(), sandbox=False)

    def max_time(self) -> int:
        gens = [*self.flushing, self.head]
        times = [b.maxt for b in self.blocks] + [g.maxt for g in gens if g.n_samples]
        times += [g.histograms.maxt for g in gens if g.histograms.n]
        return max(times) if times else np.iinfo(np.int64).min

    def stats(self) -> dict[str, int]:
        gens = [*self.flushing, self.head]
        return {
            "series": len(self.index),
            "head_series": int(sum(len(g.sids) for g in gens)),
            "head_samples": int(sum(g.n_samples for g in gens)),
            "head_histograms": int(sum(g.histograms.n for g in gens)),
            "head_bytes": int(sum(g.memory_bytes() for g in gens)),
            "blocks": len(self.blocks),
            "block_bytes": int(sum(_size(b.path(self.root, "samples")) for b in self.blocks)),
        }

    # --- closing ------------------------------------------------------------------------
    def _background_flush(self) -> None:
        while True:
            self._flush_wanted.wait()
            self._flush_wanted.clear()
            if self._stopping:
                return
            try:
                self.flush()
            except Exception:  # the data stays in the head and the WAL; try again later
                self.flush_errors += 1
                log.exception("background head flush failed")

    def close(self, flush: bool = True) -> None:
        """Flush the head (so a stopped lake is complete in Parquet) and release the lock."""
        if self._closed:
            return
        if self._flusher is not None:
            self._stopping = True
            self._flush_wanted.set()
            self._flusher.join()
        if not self.readonly and flush:
            self.flush()
        self._closed = True
        if self._wal is not None:
            self._wal.close()
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _frame(table: pa.Table) -> pl.DataFrame:
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    return df


def _size(p: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        return p.stat().st_size
    return 0


def _labels_for(batches: list[SeriesBatch], ids: list[np.ndarray], wanted: np.ndarray) -> pa.Table:
    """Long label rows of the wanted (new) series, taken from whichever batch holds them."""
    if not len(wanted):
        return LABEL_TABLE_SCHEMA.empty_table()
    parts = []
    for b, b_ids in zip(batches, ids, strict=True):
        sel = np.flatnonzero(np.isin(b_ids, wanted))
        if len(sel):
            parts.append(b.take(sel).label_table())
    t = pa.concat_tables(parts)
    # The same series may come in two batches: keep one copy of its labels.
    df = pl.from_arrow(t)
    assert isinstance(df, pl.DataFrame)
    return df.unique(["series_id", "name"], maintain_order=True).to_arrow().cast(LABEL_TABLE_SCHEMA)


def _wal_samples(p: PreparedSamples) -> pa.Table:
    """A samples record: the st column only when some sample has one (replay reads its
    absence as all unknown), so commits without start timestamps cost no WAL bytes for it."""
    columns = {"series_id": p.sids, "ts": p.ts, "value": p.values}
    if p.st is None:
        return pa.table(columns)
    return pa.table({**columns, start_ts.COLUMN: start_ts.to_arrow(p.st, len(p.ts))})


def open_lake(path: str | os.PathLike[str], **kwargs: object) -> Lake:
    return Lake(path, **kwargs)  # type: ignore[arg-type]
