"""Rebuilding in-memory state at open: the series index from series files, the head from the WAL."""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from promlake.engine import start_ts, wal
from promlake.engine.appender import Metadata
from promlake.engine.blocks import Block
from promlake.engine.errors import StorageError
from promlake.engine.head import HeadGeneration
from promlake.engine.histograms import HISTOGRAMS_SCHEMA
from promlake.engine.index import NO_TS, SeriesIndex
from promlake.engine.labels import LABEL_TABLE_SCHEMA, SeriesBatch, map_to_labels

log = logging.getLogger(__name__)


@dataclass
class ReplayedGeneration:
    """The WAL records of one head generation, decoded but not yet applied."""

    seq: int
    records: list[tuple[int, pa.Table]] = field(default_factory=list)

    def apply(self, index: SeriesIndex, metadata: dict[str, Metadata]) -> HeadGeneration:
        gen = HeadGeneration(self.seq)
        for rtype, table in self.records:
            if rtype == wal.RECORD_SERIES:
                _add_series(index, table)
            elif rtype == wal.RECORD_SAMPLES:
                sids = table.column("series_id").to_numpy()
                ts = table.column("ts").to_numpy()
                val = table.column("value").to_numpy()
                # Records written before start timestamps existed have no st column: all unknown.
                st = start_ts.from_arrow(table)
                known = index.positions(sids) >= 0
                if not known.all():
                    log.error("WAL replay: %d samples of unknown series dropped", int((~known).sum()))
                    sids, ts, val, st = sids[known], ts[known], val[known], start_ts.take(st, known)
                try:
                    p = gen.prepare(sids, ts, val, st)
                except StorageError as exc:  # cannot happen for a WAL we wrote; keep going
                    log.error("WAL replay: samples record skipped: %s", exc)
                    continue
                if index.overlaps_flushed(p.sids, p.ts):
                    gen.overlaps = True
                gen.append(p)
            elif rtype == wal.RECORD_EXEMPLARS:
                gen.append_exemplars(table)
            elif rtype == wal.RECORD_HISTOGRAMS:
                _replay_histograms(gen, index, table)
            elif rtype == wal.RECORD_METADATA:
                for row in table.to_pylist():
                    metadata[row["metric"]] = Metadata(**row)
        return gen


def _replay_histograms(gen: HeadGeneration, index: SeriesIndex, table: pa.Table) -> None:
    known = index.positions(table.column("series_id").to_numpy()) >= 0
    if not known.all():
        log.error("WAL replay: %d histogram samples of unknown series dropped", int((~known).sum()))
        table = table.filter(pa.array(known))
    rows = table.cast(HISTOGRAMS_SCHEMA)
    try:
        rows = gen.histograms.prepare(rows)
    except StorageError as exc:  # cannot happen for a WAL we wrote; keep going
        log.error("WAL replay: histograms record skipped: %s", exc)
        return
    if index.overlaps_flushed(rows.column("series_id").to_numpy(), rows.column("ts").to_numpy()):
        gen.overlaps = True
    gen.histograms.append(rows)


def replay_generations(wal_dir: Path, report: wal.ReplayReport) -> list[ReplayedGeneration]:
    gens: list[ReplayedGeneration] = []
    for segment, rtype, payload in wal.replay(wal_dir, report):
        if rtype == wal.RECORD_GENERATION:
            (seq,) = struct.unpack("<Q", payload)
            gens.append(ReplayedGeneration(seq))
            continue
        if not gens:  # the marker was lost to damage: the segment number is the best guess
            gens.append(ReplayedGeneration(segment))
        try:
            gens[-1].records.append((rtype, wal.decode_table(payload)))
        except pa.ArrowException as exc:
            report.problems.append(f"segment {segment}: undecodable record skipped ({exc})")
    return [g for g in gens if g.records]


def _add_series(index: SeriesIndex, labels: pa.Table) -> None:
    sids = labels.column("series_id").to_numpy()
    uniq, local = np.unique(sids, return_inverse=True)
    batch = SeriesBatch.from_arrow(local, labels.column("name"), labels.column("value"), len(uniq))
    new = index.positions(uniq) < 0
    if not new.any():
        return
    checks = batch.check_hashes()
    keep = np.isin(sids, uniq[new])
    index.add(uniq[new], checks[new], labels.filter(pa.array(keep)))


def load_series(root: Path, blocks: list[Block]) -> tuple[np.ndarray, np.ndarray, pa.Table, np.ndarray]:
    """Every series of the given blocks: (ids, check hashes, long labels, newest flushed ts)."""
    files = [p for b in blocks if (p := b.path(root, "series")).exists()]
    if not files:
        return (
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            LABEL_TABLE_SCHEMA.empty_table(),
            np.empty(0, np.int64),
        )
    tables = [pq.read_table(f, columns=["series_id", "labels", "max_ts"]) for f in files]
    df = pl.from_arrow(pa.concat_tables(tables))
    assert isinstance(df, pl.DataFrame)
    per = df.group_by("series_id").agg(pl.col("labels").first(), pl.col("max_ts").max()).sort("series_id")
    t = per.to_arrow()
    sids = t.column("series_id").to_numpy()
    labels = map_to_labels(sids, t.column("labels").cast(pa.map_(pa.string(), pa.string())))
    local = np.searchsorted(sids, labels.column("series_id").to_numpy())
    batch = SeriesBatch.from_arrow(local, labels.column("name"), labels.column("value"), len(sids))
    recomputed = batch.series_ids()
    if (recomputed != sids).any():
        # A writer with another hash (or a damaged file): keep the stored ids, but say so.
        log.error("%d series have ids that do not match their labels' hash", int((recomputed != sids).sum()))
    flushed = np.where(per["max_ts"].is_null().to_numpy(), NO_TS, per["max_ts"].fill_null(0).to_numpy())
    return sids, batch.check_hashes(), labels, flushed
