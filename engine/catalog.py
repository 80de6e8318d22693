"""The DuckDB catalog: views over a consistent snapshot of blocks and head.

``samples`` (series_id, ts, value, stale, st), ``series`` (series_id, metric, labels, min_ts,
max_ts), the friendlier ``metrics`` (metric, labels, timestamp, value, series_id, ts, st) and
``histograms`` (native histogram samples, FORMAT.md) are views over the Parquet files of a snapshot plus the head's Arrow tables, registered without
copying. ``st`` is the sample's start timestamp in ms, null when unknown (also for every sample
of a block written before the column existed, and of a head generation without any).
SQL is built with sqlglot expressions, never by pasting strings.

When some block or head generation may repeat a (series, ts) that an older one holds, the
``samples`` and ``histograms`` views keep only the newest write (highest sequence number), so no reader ever
sees two samples for one series and timestamp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlglot.expressions as exp

from promlake.engine.blocks import SAMPLES_SCHEMA, SERIES_SCHEMA, Block
from promlake.engine.histograms import HISTOGRAMS_SCHEMA


class ReadOnlySQLError(ValueError):
    """A statement other than a query was sent to the read-only SQL surface."""


@dataclass(frozen=True)
class Snapshot:
    """What a reader sees: blocks on disk plus the head's in-memory tables, frozen at once."""

    root: Path
    blocks: tuple[Block, ...]
    head_samples: tuple[tuple[int, pa.Table], ...]  # (generation seq, samples)
    head_series: pa.Table  # SERIES_SCHEMA rows for series only the head knows yet
    dedup: bool
    extra_views: dict[str, pa.Table] = field(default_factory=dict)
    # Blocks whose samples files predate the st column (format 1 files written before it).
    without_st: frozenset[Block] = frozenset()
    # Native histogram samples: the head's tables, and the blocks that have a histograms file.
    head_histograms: tuple[tuple[int, pa.Table], ...] = ()
    with_histograms: frozenset[Block] = frozenset()
    # Tombstone files (tombstones.py, FORMAT.md): deleted samples every view leaves out.
    tombstones: tuple[str, ...] = ()

    def overlapping(self, mint: int, maxt: int) -> Snapshot:
        """The same snapshot restricted to blocks that may hold samples in [mint, maxt]."""
        blocks = tuple(b for b in self.blocks if b.maxt >= mint and b.mint <= maxt)
        return replace(self, blocks=blocks)

    def files(self, kind: str) -> list[str]:
        return [str(b.path(self.root, kind)) for b in self.blocks]

    def samples_files(self) -> tuple[list[str], list[str]]:
        """Samples files with the st column, and those without it."""
        with_st = [str(b.path(self.root, "samples")) for b in self.blocks if b not in self.without_st]
        without = [str(b.path(self.root, "samples")) for b in self.blocks if b in self.without_st]
        return with_st, without


_READ_ONLY_TYPES = {"SELECT", "EXPLAIN"}


def connect(snap: Snapshot, *, sandbox: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the lake's views defined over ``snap``."""
    con = duckdb.connect(":memory:")
    for i, (_seq, table) in enumerate(snap.head_samples):
        con.register(f"__head_samples_{i}", table)
    con.register("__head_series", snap.head_series)
    for name, table in snap.extra_views.items():
        con.register(name, table)
    for i, (_seq, table) in enumerate(snap.head_histograms):
        con.register(f"__head_histograms_{i}", table)
    con.execute(
        exp.Create(this=exp.to_table("samples"), kind="VIEW", expression=samples_relation(snap)).sql("duckdb")
    )
    con.execute(
        exp.Create(this=exp.to_table("series"), kind="VIEW", expression=_series_query(snap)).sql("duckdb")
    )
    con.execute(
        exp.Create(this=exp.to_table("metrics"), kind="VIEW", expression=_metrics_query()).sql("duckdb")
    )
    con.execute(
        exp.Create(
            this=exp.to_table("histograms"), kind="VIEW", expression=histograms_relation(snap)
        ).sql("duckdb")
    )
    if sandbox:
        # Confine file access to the lake: user SQL may read the lake, nothing else. Writes
        # are refused by statement type in run_read_only (allowed_directories alone would
        # still let COPY write inside the lake).
        root = str(snap.root.resolve()) + "/"
        con.execute(
            exp.Set(
                expressions=[
                    exp.SetItem(
                        this=exp.EQ(
                            this=exp.var("allowed_directories"),
                            expression=exp.Array(expressions=[exp.Literal.string(root)]),
                        )
                    )
                ]
            ).sql("duckdb")
        )
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con


def run_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """Run exactly one read-only statement (SELECT/WITH/SHOW/DESCRIBE/SUMMARIZE/EXPLAIN)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise ReadOnlySQLError(str(exc)) from exc
    if len(statements) != 1:
        raise ReadOnlySQLError(f"expected exactly one SQL statement, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in _READ_ONLY_TYPES:
        raise ReadOnlySQLError(f"only queries are allowed here, not {kind} statements")
    return con.sql(sql)


def _read_parquet(files: list[str], filename: bool = True) -> exp.Func:
    paths = exp.Array(expressions=[exp.Literal.string(f) for f in files])
    if not filename:
        return exp.func("read_parquet", paths)
    return exp.func("read_parquet", paths, exp.Kwarg(this=exp.var("filename"), expression=exp.true()))


def _empty(schema: pa.Schema) -> exp.Select:
    """A typed, empty relation with the given columns (for a lake with no files yet)."""
    cols = [exp.cast(exp.null(), _duck_type(f.type)).as_(f.name) for f in schema]
    return exp.select(*cols).where(exp.false())


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_map(t):
        return "MAP(VARCHAR, VARCHAR)"
    if pa.types.is_list(t):
        return _duck_type(t.value_type) + "[]"
    scalars = {"int64": "BIGINT", "int32": "INTEGER", "double": "DOUBLE", "string": "VARCHAR", "bool": "BOOLEAN"}
    return scalars[str(t)]


def seq_of_filename() -> exp.Expression:
    # Block files are named <12-digit seq>_..., so the newest write is the highest prefix.
    name = exp.func("parse_filename", exp.column("filename"))
    return exp.cast(exp.func("substr", name, exp.Literal.number(1), exp.Literal.number(12)), "BIGINT")


def samples_relation(snap: Snapshot) -> exp.Select:
    """Every sample of the snapshot: series_id, ts, value, stale, st (null = no start timestamp)."""
    cols = SAMPLES_SCHEMA.names
    parts = samples_file_parts(*snap.samples_files())
    for i, (seq, table) in enumerate(snap.head_samples):
        # A head table leaves st out while none of its samples has one.
        has_st = "st" in table.column_names
        parts.append(
            exp.select(*samples_columns(has_st), exp.Literal.number(seq).as_("seq")).from_(
                f"__head_samples_{i}"
            )
        )
    if not parts:
        return _empty(SAMPLES_SCHEMA)
    union = without_deleted(union_all(parts), snap.tombstones)
    if not snap.dedup:
        return exp.select(*cols).from_(union.subquery("u"))
    return newest_write_only(union, cols)


def histograms_relation(snap: Snapshot) -> exp.Select:
    """Every native histogram sample of the snapshot (HISTOGRAMS_SCHEMA columns), newest
    write only where blocks may overlap, like ``samples``."""
    cols = HISTOGRAMS_SCHEMA.names
    files = [str(b.path(snap.root, "histograms")) for b in snap.blocks if b in snap.with_histograms]
    parts = []
    if files:
        parts.append(exp.select(*cols, seq_of_filename().as_("seq")).from_(_read_parquet(files)))
    for i, (seq, _table) in enumerate(snap.head_histograms):
        parts.append(exp.select(*cols, exp.Literal.number(seq).as_("seq")).from_(f"__head_histograms_{i}"))
    if not parts:
        return _empty(HISTOGRAMS_SCHEMA)
    union = without_deleted(union_all(parts), snap.tombstones)
    if not snap.dedup:
        return exp.select(*cols).from_(union.subquery("u"))
    return newest_write_only(union, cols)


def samples_file_parts(with_st: list[str], without_st: list[str]) -> list[exp.Select]:
    """Samples files as queries of SAMPLES_SCHEMA columns plus ``seq`` (the block's sequence).

    Files written before the st column existed are read apart, with a null st, rather than
    all files with union_by_name: that option reads every file's footer at bind time, which
    made queries measurably slower even when they never touch st (and fails when no file has
    the column).
    """
    parts = []
    for files, has_st in ((with_st, True), (without_st, False)):
        if files:
            seq = seq_of_filename().as_("seq")
            parts.append(exp.select(*samples_columns(has_st), seq).from_(_read_parquet(files)))
    return parts


def samples_columns(has_st: bool) -> list[exp.Expr]:
    """The SAMPLES_SCHEMA columns of a source, with a typed null for ``st`` if it has none."""
    return [
        exp.column(f.name)
        if has_st or f.name != "st"
        else exp.cast(exp.null(), _duck_type(f.type)).as_(f.name)
        for f in SAMPLES_SCHEMA
    ]


def union_all(parts: list[exp.Select]) -> exp.Query:
    union: exp.Query = parts[0]
    for p in parts[1:]:
        union = exp.union(union, p, distinct=False)
    return union


def without_deleted(source: exp.Query, tombstones: Sequence[str]) -> exp.Query:
    """Rows of ``source`` (which has a ``seq`` column) that no tombstone deletes.

    A tombstone (series_id, mint, maxt, seq) hides its series' rows in [mint, maxt] written
    before it (a lower block or head sequence), never later writes: Prometheus too deletes
    only what exists when asked. Filtering before deduplication gives the same answer as
    after (a tombstone hides every older write of a (series, ts) alike) on fewer rows. An
    anti join, which keeps NaN payloads (stale markers) intact.
    """
    if not tombstones:
        return source
    stones = exp.Table(
        this=_read_parquet(list(tombstones), filename=False),
        alias=exp.TableAlias(this=exp.to_identifier("t")),
    )
    deleted = exp.and_(
        exp.EQ(this=exp.column("series_id", "t"), expression=exp.column("series_id", "u")),
        exp.Between(this=exp.column("ts", "u"), low=exp.column("mint", "t"), high=exp.column("maxt", "t")),
        exp.LT(this=exp.column("seq", "u"), expression=exp.column("seq", "t")),
    )
    return (
        exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("u")))
        .from_(source.subquery("u"))
        .join(stones, on=deleted, join_type="anti")
    )


def newest_write_only(source: exp.Query, cols: list[str]) -> exp.Select:
    """Rows of ``source`` (which has a ``seq`` column) not superseded by a newer write.

    An anti join rather than ``row_number() ... = 1``: DuckDB's window operator rewrites NaN
    payloads to the canonical NaN, which would turn stale markers into plain NaNs.
    """
    same = exp.and_(
        exp.EQ(this=exp.column("series_id", "o"), expression=exp.column("series_id", "s")),
        exp.EQ(this=exp.column("ts", "o"), expression=exp.column("ts", "s")),
        exp.GT(this=exp.column("seq", "o"), expression=exp.column("seq", "s")),
    )
    return (
        exp.select(*(exp.column(c, "s") for c in cols))
        .with_("u", as_=source)
        .from_(exp.to_table("u").as_("s"))
        .join(exp.to_table("u").as_("o"), on=same, join_type="anti")
    )


def _series_query(snap: Snapshot) -> exp.Query:
    cols = [f.name for f in SERIES_SCHEMA]
    head = exp.select(*cols).from_("__head_series")
    files = snap.files("series")
    union: exp.Query = head
    if files:
        union = exp.union(exp.select(*cols).from_(_read_parquet(files)), head, distinct=False)
    # A series appears in one series file per block it has samples in; its labels never change.
    grouped = (
        exp.select(
            exp.column("series_id"),
            exp.func("any_value", exp.column("metric")).as_("metric"),
            exp.func("any_value", exp.column("labels")).as_("labels"),
            exp.Min(this=exp.column("min_ts")).as_("min_ts"),
            exp.Max(this=exp.column("max_ts")).as_("max_ts"),
        )
        .from_(union.subquery("s"))
        .group_by("series_id")
    )
    if not snap.tombstones:
        return grouped
    return series_after_deletes(snap, grouped)


def series_after_deletes(snap: Snapshot, grouped: exp.Query, extra: exp.Query | None = None) -> exp.Query:
    """``grouped`` (series rows) corrected for the snapshot's tombstones.

    Series files still describe deleted samples, so the time range of every series a
    tombstone names is taken from its visible samples and histograms (plus ``extra``
    (series_id, ts) rows: compaction passes exemplars, which deleting keeps); a series with
    nothing left is not listed, as once its blocks are rewritten. Only those series' samples
    are read; every other series keeps its files' rows.
    """
    named = exp.select("series_id").distinct().from_(_read_parquet(list(snap.tombstones), filename=False))
    in_named = exp.In(this=exp.column("series_id"), query=exp.select("series_id").from_("d").subquery())
    points = exp.union(
        exp.select("series_id", "ts").from_(samples_relation(snap).subquery("p")).where(in_named),
        exp.select("series_id", "ts").from_(histograms_relation(snap).subquery("h")).where(in_named.copy()),
        distinct=False,
    )
    if extra is not None:
        points = exp.union(
            points,
            exp.select("series_id", "ts").from_(extra.subquery("x")).where(in_named.copy()),
            distinct=False,
        )
    live = (
        exp.select(
            "series_id",
            exp.Min(this=exp.column("ts")).as_("min_ts"),
            exp.Max(this=exp.column("ts")).as_("max_ts"),
        )
        .from_(points.subquery("v"))
        .group_by("series_id")
    )
    kept = (
        exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("g")))
        .from_(exp.to_table("g"))
        .join(exp.to_table("d"), using=["series_id"], join_type="anti")
    )
    rechecked = (
        exp.select(
            exp.column("series_id", "g"),
            exp.column("metric", "g"),
            exp.column("labels", "g"),
            exp.column("min_ts", "l"),
            exp.column("max_ts", "l"),
        )
        .from_(exp.to_table("g"))
        .join(exp.to_table("live").as_("l"), using=["series_id"])
    )
    return (
        exp.union(kept, rechecked, distinct=False)
        .with_("g", as_=grouped)
        .with_("d", as_=named)
        .with_("live", as_=live)
    )


def _metrics_query() -> exp.Expression:
    return (
        exp.select(
            exp.column("metric", "r"),
            exp.column("labels", "r"),
            exp.func("epoch_ms", exp.column("ts", "s")).as_("timestamp"),
            exp.column("value", "s"),
            exp.column("series_id", "s"),
            exp.column("ts", "s"),
            exp.column("st", "s"),
        )
        .from_(exp.to_table("samples").as_("s"))
        .join(exp.to_table("series").as_("r"), using=["series_id"])
    )
