"""Compaction and retention of Parquet blocks.

Flushes leave many small level-0 blocks. Compaction merges, within one day partition:
- a trailing run of at least ``l0_trigger`` consecutive level-0 blocks into one level-1 block;
- every block of a day that is over (older than ``day_grace``) into one level-2 block.
Merged inputs are always consecutive in sequence order, and the output takes the highest
input sequence number, so "newest write wins" gives the same answer before and after a merge.
The output is sorted by (series_id, ts) and keeps only the newest write of a (series, ts).
Work is done per series-id range, so memory stays bounded whatever the size of a day.

A merged block records its inputs in its Parquet metadata; if the process dies after writing
it but before deleting them, ``recover`` finishes the job at the next start.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot.expressions as exp

from promlake.engine import blocks as blk
from promlake.engine.blocks import Block
from promlake.engine.catalog import (
    Snapshot,
    newest_write_only,
    samples_file_parts,
    seq_of_filename,
    series_after_deletes,
    union_all,
    without_deleted,
)
from promlake.engine.histograms import HISTOGRAMS_SCHEMA

log = logging.getLogger(__name__)

SOURCES_KEY = b"promlake.sources"
# Rows per merge step: bounds compaction memory (~24 bytes a row before encoding).
CHUNK_ROWS = 8_000_000


@dataclass(frozen=True)
class CompactionPolicy:
    l0_trigger: int = 8
    day_grace_ms: int = 3_600_000


def plan(blocks: Iterable[Block], now_ms: int, policy: CompactionPolicy) -> list[list[Block]]:
    """Groups of blocks to merge, each group consecutive in sequence order within one day."""
    by_day: dict[str, list[Block]] = defaultdict(list)
    for b in blocks:
        by_day[b.day].append(b)
    groups = []
    for day, bs in sorted(by_day.items()):
        bs.sort()
        day_over = blk.day_start(day) + blk.DAY_MS + policy.day_grace_ms <= now_ms
        if day_over:
            if len(bs) > 1:
                groups.append(bs)
            continue
        run: list[Block] = []
        for b in reversed(bs):
            if b.level != 0:
                break
            run.append(b)
        if len(run) >= policy.l0_trigger:
            groups.append(sorted(run))
    return groups


def merge(root: Path, inputs: list[Block], whole_day: bool, tombstones: Sequence[str] = ()) -> Block:
    """Merge consecutive blocks of one day into one; returns the new block (inputs removed).

    Samples (and histograms) that ``tombstones`` delete are left out: the output may take a
    sequence number newer than a tombstone, which would no longer hide them.
    """
    day = inputs[0].day
    level = 2 if whole_day else 1
    out = Block(
        seq=max(b.seq for b in inputs),
        level=level,
        mint=min(b.mint for b in inputs),
        maxt=max(b.maxt for b in inputs),
        day=day,
        # A whole day merged holds every write of that day: nothing older can overlap it.
        overlaps=(not whole_day) and any(b.overlaps for b in inputs),
    )
    con = duckdb.connect(":memory:")
    stones = list(tombstones)
    steps = [
        lambda: _merge_series(con, root, inputs, out, stones),
        lambda: _merge_exemplars(con, root, inputs, out),
        lambda: _merge_histograms(con, root, inputs, out, stones),
        lambda: _merge_samples(con, root, inputs, out, stones),
    ]
    if out in inputs:
        # A block rewritten under its own name (tombstones.clean): samples file first, so
        # until the series file is replaced too it describes a superset of what they name.
        steps.reverse()
    try:
        for step in steps:
            step()
    finally:
        con.close()
    for b in inputs:
        if b != out:
            blk.remove_block(root, b)
    return out


def _existing(root: Path, inputs: list[Block], kind: str) -> list[str]:
    return [str(p) for b in inputs if (p := b.path(root, kind)).exists()]


def _merge_samples(
    con: duckdb.DuckDBPyConnection, root: Path, inputs: list[Block], out: Block, tombstones: list[str]
) -> None:
    files = _existing(root, inputs, "samples")
    footers = {f: pq.read_metadata(f) for f in files}
    total = sum(m.num_rows for m in footers.values())
    # Inputs written before start timestamps existed have no st column: they are read with a
    # null st, and the merged block has the column (merging is where old blocks gain it).
    without_st = [f for f, m in footers.items() if not blk.has_start_timestamps(m.schema.to_arrow_schema())]
    with_st = [f for f in files if f not in without_st]
    dedup = any(b.overlaps for b in inputs)
    sids = _series_ids(con, root, inputs)
    bounds = _split(sids, math.ceil(total / CHUNK_ROWS) if total else 1)
    meta = {
        SOURCES_KEY: json.dumps([b.name for b in inputs]).encode(),
        b"promlake.format": blk.FORMAT_VERSION.encode(),
    }
    schema = blk.SAMPLES_SCHEMA.with_metadata(meta)
    path = out.path(root, "samples")
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    opts = blk.samples_write_options(out.level)
    with pq.ParquetWriter(tmp, schema, **opts) as writer:
        for lo, hi in bounds:
            q = _chunk_query(with_st, without_st, lo, hi, dedup, tombstones)
            for batch in con.sql(q.sql("duckdb")).to_arrow_reader(blk.SAMPLES_ROW_GROUP):
                writer.write_batch(
                    _restore_stale_bits(batch).cast(schema), row_group_size=blk.SAMPLES_ROW_GROUP
                )
    blk.publish(tmp, path)


def _chunk_query(
    with_st: list[str], without_st: list[str], lo: int, hi: int, dedup: bool, tombstones: list[str]
) -> exp.Select:
    """The merged rows of one series-id range, sorted; rows carry a ``seq`` for deduplication."""
    source = without_deleted(union_all(samples_file_parts(with_st, without_st)), tombstones).subquery("f")
    # Whole rows travel together: when a write supersedes another, its st replaces the old one.
    cols = blk.SAMPLES_SCHEMA.names
    in_range = exp.Between(
        this=exp.column("series_id"), low=exp.Literal.number(lo), high=exp.Literal.number(hi)
    )
    if not dedup:
        return exp.select(*cols).from_(source).where(in_range).order_by("series_id", "ts")
    rows = exp.select(*cols, "seq").from_(source).where(in_range)
    return newest_write_only(rows, cols).order_by("series_id", "ts")


def _restore_stale_bits(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Stale markers must stay bit-exact; some DuckDB operators canonicalize NaN payloads."""
    stale = batch.column("stale").to_numpy(zero_copy_only=False)
    if not stale.any():
        return batch
    values = batch.column("value").to_numpy().copy()
    values.view(np.uint64)[stale] = blk.STALE_BITS
    i = batch.schema.get_field_index("value")
    return batch.set_column(i, batch.schema.field(i), pa.array(values))


def _series_ids(con: duckdb.DuckDBPyConnection, root: Path, inputs: list[Block]) -> np.ndarray:
    files = _existing(root, inputs, "series")
    if not files:
        return np.empty(0, np.int64)
    t = (
        pq.read_table(files, columns=["series_id"])
        if len(files) == 1
        else pa.concat_tables([pq.read_table(f, columns=["series_id"]) for f in files])
    )
    return np.unique(t.column("series_id").to_numpy())


def _split(sids: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Cover the whole int64 range with ``parts`` ranges holding about equal numbers of series."""
    lo_all, hi_all = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    if parts <= 1 or len(sids) < parts:
        return [(lo_all, hi_all)]
    cuts = sids[np.linspace(0, len(sids), parts, endpoint=False, dtype=np.int64)[1:]]
    edges = [lo_all, *[int(c) for c in cuts]]
    return [(edges[i], (edges[i + 1] - 1) if i + 1 < len(edges) else hi_all) for i in range(len(edges))]


def _merge_series(
    con: duckdb.DuckDBPyConnection, root: Path, inputs: list[Block], out: Block, tombstones: list[str]
) -> None:
    files = _existing(root, inputs, "series")
    if not files:
        return
    src = exp.func("read_parquet", exp.Array(expressions=[exp.Literal.string(f) for f in files]))
    q: exp.Query = (
        exp.select(
            "series_id",
            exp.func("any_value", exp.column("metric")).as_("metric"),
            exp.func("any_value", exp.column("labels")).as_("labels"),
            exp.Min(this=exp.column("min_ts")).as_("min_ts"),
            exp.Max(this=exp.column("max_ts")).as_("max_ts"),
        )
        .from_(src)
        .group_by("series_id")
    )
    if tombstones:
        # Series whose samples a tombstone deletes get their range from what is left (and
        # from their exemplars, which deleting keeps); those with nothing left are dropped.
        q = _series_after_deletes(root, inputs, q, tombstones)
    q = exp.select("*").from_(q.subquery("m")).order_by("series_id")
    blk.write_series(con.sql(q.sql("duckdb")).to_arrow_table(), out.path(root, "series"))


def _series_after_deletes(
    root: Path, inputs: list[Block], grouped: exp.Query, tombstones: list[str]
) -> exp.Query:
    """The catalog's correction of series rows, over the input blocks alone."""
    snap = Snapshot(
        root=root,
        blocks=tuple(inputs),
        head_samples=(),
        head_series=blk.SERIES_SCHEMA.empty_table(),
        dedup=any(b.overlaps for b in inputs),
        # Only series ids and times are read: st may as well be null for every file.
        without_st=frozenset(inputs),
        with_histograms=frozenset(b for b in inputs if b.path(root, "histograms").exists()),
        tombstones=tuple(tombstones),
    )
    exemplar_files = _existing(root, inputs, "exemplars")
    exemplars = (
        exp.select("series_id", "ts").from_(
            exp.func("read_parquet", exp.Array(expressions=[exp.Literal.string(f) for f in exemplar_files]))
        )
        if exemplar_files
        else None
    )
    return series_after_deletes(snap, grouped, exemplars)


def _merge_exemplars(con: duckdb.DuckDBPyConnection, root: Path, inputs: list[Block], out: Block) -> None:
    files = _existing(root, inputs, "exemplars")
    if not files:
        return
    src = exp.func("read_parquet", exp.Array(expressions=[exp.Literal.string(f) for f in files]))
    q = exp.select("series_id", "ts", "value", "labels").from_(src).order_by("series_id", "ts")
    blk.write_exemplars(con.sql(q.sql("duckdb")).to_arrow_table(), out.path(root, "exemplars"))


def _merge_histograms(
    con: duckdb.DuckDBPyConnection, root: Path, inputs: list[Block], out: Block, tombstones: list[str]
) -> None:
    files = _existing(root, inputs, "histograms")
    if not files:
        return
    cols = HISTOGRAMS_SCHEMA.names
    src = exp.func(
        "read_parquet",
        exp.Array(expressions=[exp.Literal.string(f) for f in files]),
        exp.Kwarg(this=exp.var("filename"), expression=exp.true()),
    )
    rows = without_deleted(exp.select(*cols, seq_of_filename().as_("seq")).from_(src), tombstones)
    q = (
        newest_write_only(rows, cols) if any(b.overlaps for b in inputs) else exp.select(*cols).from_(rows.subquery("f"))
    ).order_by("series_id", "ts")
    table = con.sql(q.sql("duckdb")).to_arrow_table()
    # DuckDB may canonicalize NaN payloads: stale markers get their exact bits back.
    stale = table.column("stale").to_numpy(zero_copy_only=False)
    if stale.any():
        sums = table.column("sum").to_numpy().copy()
        sums.view(np.uint64)[stale] = blk.STALE_BITS
        table = table.set_column(table.schema.get_field_index("sum"), "sum", pa.array(sums))
    blk.write_histograms(table, out.path(root, "histograms"))


def recover(root: Path, blocks: list[Block]) -> list[Block]:
    """Finish merges a crash interrupted: drop inputs that a merged block already contains."""
    present = {(b.day, b.name): b for b in blocks}
    dropped: set[Block] = set()
    for b in blocks:
        if b.level == 0:
            continue
        try:
            meta = pq.read_schema(b.path(root, "samples")).metadata or {}
        except (OSError, pa.ArrowException):
            continue
        for name in json.loads(meta.get(SOURCES_KEY, b"[]")):
            src = present.get((b.day, name))
            if src is not None and src != b:
                log.info("removing block %s/%s already merged into %s", b.day, name, b.name)
                blk.remove_block(root, src)
                dropped.add(src)
    return [b for b in blocks if b not in dropped]


def retention_victims(
    blocks: list[Block], sizes: dict[Block, int], newest_ms: int, keep_ms: int | None, keep_bytes: int | None
) -> list[Block]:
    """Blocks to delete: whole days entirely older than the time limit, then the oldest days
    until the total size fits (Prometheus also deletes whole blocks, oldest first)."""
    by_day: dict[str, list[Block]] = defaultdict(list)
    for b in blocks:
        by_day[b.day].append(b)
    victims: list[Block] = []
    days = sorted(by_day)
    if keep_ms is not None:
        cutoff = newest_ms - keep_ms
        for d in days:
            if max(b.maxt for b in by_day[d]) < cutoff:
                victims.extend(by_day[d])
    if keep_bytes is not None:
        total = sum(sizes.get(b, 0) for b in blocks if b not in victims)
        for d in days:
            if total <= keep_bytes:
                break
            # Never delete the newest day by size alone: it is where the head flushes to.
            if d == days[-1]:
                break
            for b in by_day[d]:
                if b not in victims:
                    victims.append(b)
                    total -= sizes.get(b, 0)
    return victims
