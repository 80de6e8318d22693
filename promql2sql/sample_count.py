"""``--query.max-samples``: what is counted, and the check that runs before the query does.

Prometheus counts the samples a query holds in memory at once (``currentSamples``, checked
against ``maxSamples`` as evaluation goes): the points of every intermediate vector or
matrix it has built so far, plus the samples in the range windows of the current step. Its
answer to a query over the limit is ``execution`` / "query processing would load too many
samples into memory in query execution". This engine compiles the whole query to one DuckDB
statement, so it cannot count the same thing as evaluation goes; it counts, before the
statement runs:

* **loaded samples**: for every selector (instant, range, or the selector inside a
  subquery), the stored samples of the series it matched whose timestamps fall in the span
  the selector reads (the lookback or range window before the first evaluation time, offset
  and ``@`` applied, up to the last one). These are the rows of the selector's ``samples``
  CTE, exactly: stale markers included where the instant selector loads them, duplicates
  across overlapping blocks already removed, head and blocks alike;
* **grid points**: for every selector, its matched series times its evaluation steps (the
  ``series x steps`` grid it aligns to; for a selector inside a subquery, the subquery's
  inner steps). This stands for the points the selector's vector holds for the whole range.

The sum over all selectors is compared with the limit. How that differs from Prometheus:

* it is a total over the whole range, not a peak per step: a range function in a range
  query counts every window's samples once plus ``series x steps`` output points, where
  Prometheus counts the output points plus one step's windows. With a step equal to the
  scrape interval that is about twice what Prometheus counts, so the limit bites earlier;
* intermediate results of operators (binary operations, aggregations, functions) are not
  counted: they rarely exceed their inputs, which are;
* a subquery's outer grid over computed series (e.g. ``max_over_time(rate(x[5m])[1h:1m])``:
  the grid of ``rate``'s series at the outer steps) is not counted; its inner selector is.

Enforcement is cheap first, exact when needed, never a per-sample Python loop:

1. grid points are exact arithmetic (matched series from the index x steps);
2. loaded samples get an upper bound from metadata: the row counts of the Parquet row groups
   of the overlapping blocks whose ``series_id`` statistics admit one of the matched series,
   plus the rows of the in-memory head. Under the limit, nothing more is done;
3. otherwise one DuckDB statement counts the selectors' ``samples`` CTEs exactly (on the
   query's own connection, so the timeout and cancellation apply), and the query is refused
   if the exact total is over the limit.

The selectors are found in the compiled CTEs by shape: a *load* is a CTE reading a
subquery (the lake's samples relation) filtered by ``ts BETWEEN lo AND hi`` and
``sk IN (SELECT sk FROM <series>)``; a *grid* is a CTE cross-joining a series CTE with a
``steps`` CTE (``range(start, stop, step)``); a series CTE is traced through plain
``SELECT ... FROM`` renames to the matched-series table the compiler registered.
``tests/unit/promql/test_limits.py`` pins these shapes, so a change to ``selectors.py``
that hides them fails a test instead of silently counting nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot.expressions as exp

from .errors import TooManySamplesError

if TYPE_CHECKING:
    import duckdb

    from promlake.engine.catalog import Snapshot

    from .duckdb import Compiler

__all__ = ["Grid", "Load", "SampleCounts", "count", "enforce", "measure", "selections"]

TOO_MANY_SAMPLES = "query processing would load too many samples into memory in query execution"


@dataclass(frozen=True)
class Load:
    """A selector's read of the lake: the samples of ``sids`` with ``mint <= ts <= maxt``."""

    cte: str
    mint: int
    maxt: int
    sids: np.ndarray | None  # sorted matched series ids; None when they could not be traced


@dataclass(frozen=True)
class SampleCounts:
    """What a query's ``stats`` report of samples.

    ``read``: stored samples the selectors load, each once (Prometheus's ``samplesRead``,
    storage I/O). ``peak``: the total ``--query.max-samples`` is compared with (loaded plus
    grid points), which stands where Prometheus reports the ``peakSamples`` it compares.
    """

    read: int
    peak: int


@dataclass(frozen=True)
class Grid:
    """A selector's ``series x steps`` grid."""

    cte: str
    series: int
    steps: int

    @property
    def points(self) -> int:
        return self.series * self.steps


def enforce(con: duckdb.DuckDBPyConnection, compiler: Compiler, snap: Snapshot, max_samples: int) -> None:
    """Raise ``TooManySamplesError`` if the compiled query would load more than ``max_samples``."""
    loads, grids = selections(compiler)
    points = sum(g.points for g in grids)
    if points > max_samples:
        raise TooManySamplesError(TOO_MANY_SAMPLES)
    if points + sum(load_bound(snap, ld) for ld in loads) <= max_samples:
        return
    if points + sum(exact_loads(con, compiler, loads)) > max_samples:
        raise TooManySamplesError(TOO_MANY_SAMPLES)


def count(con: duckdb.DuckDBPyConnection, compiler: Compiler) -> int:
    """The exact total ``enforce`` compares with the limit (for tests and statistics)."""
    return measure(con, compiler).peak


def measure(con: duckdb.DuckDBPyConnection, compiler: Compiler) -> SampleCounts:
    """The query's sample counts, exactly (one extra DuckDB statement: for ``stats`` only)."""
    loads, grids = selections(compiler)
    read = sum(exact_loads(con, compiler, loads))
    return SampleCounts(read=read, peak=read + sum(g.points for g in grids))


# --- finding the selectors in the compiled CTEs ---------------------------------------------
def selections(compiler: Compiler) -> tuple[list[Load], list[Grid]]:
    ctes = dict(compiler.ctes)
    loads: list[Load] = []
    grids: list[Grid] = []
    for name, body in compiler.ctes:
        if not isinstance(body, exp.Select):
            continue
        load = _load(name, body, ctes, compiler.tables)
        if load is not None:
            loads.append(load)
            continue
        grid = _grid(name, body, ctes, compiler.tables)
        if grid is not None:
            grids.append(grid)
    return loads, grids


def _load(
    name: str, body: exp.Select, ctes: dict[str, exp.Expression], tables: dict[str, pa.Table]
) -> Load | None:
    source = _from(body)
    if source is None or not isinstance(source.this, exp.Subquery) or body.args.get("joins"):
        return None
    where = body.args.get("where")
    if where is None:
        return None
    span = next(
        (
            (_int(b.args.get("low")), _int(b.args.get("high")))
            for b in where.find_all(exp.Between)
            if isinstance(b.this, exp.Column) and b.this.name == "ts"
        ),
        None,
    )
    if span is None or span[0] is None or span[1] is None:
        return None
    sids = None
    for member in where.find_all(exp.In):  # x.sk IN (SELECT sk FROM <series CTE>)
        series = next(
            (_registered(n, ctes, tables) for n in map(_name, member.find_all(exp.Table)) if n), None
        )
        if series is not None and "sk" in series.column_names:
            sids = np.sort(series.column("sk").to_numpy(zero_copy_only=False))
            break
    return Load(name, span[0], span[1], sids)


def _grid(
    name: str, body: exp.Select, ctes: dict[str, exp.Expression], tables: dict[str, pa.Table]
) -> Grid | None:
    source = _from(body)
    joins = body.args.get("joins") or []
    if source is None or len(joins) != 1 or str(joins[0].args.get("kind") or "").upper() != "CROSS":
        return None
    left, right = _name(source), _name(joins[0].this)
    if left is None or right is None:
        return None
    steps = _steps(ctes.get(right))
    series = _registered(left, ctes, tables)
    if steps is None or series is None:
        return None
    return Grid(name, series.num_rows, steps)


def _steps(body: exp.Expression | None) -> int | None:
    """The number of times of a steps CTE, ``SELECT range AS t FROM range(start, stop, step)``."""
    if not isinstance(body, exp.Select) or body.args.get("where") or body.args.get("joins"):
        return None
    source = _from(body)
    gen = source.this if source is not None else None
    if not isinstance(gen, exp.GenerateSeries):
        return None
    start, end, step = _int(gen.args.get("start")), _int(gen.args.get("end")), _int(gen.args.get("step"))
    if start is None or end is None or step is None or step == 0:
        return None
    stop = end if gen.args.get("is_end_exclusive") else end + (1 if step > 0 else -1)
    return len(range(start, stop, step))


def _registered(name: str, ctes: dict[str, exp.Expression], tables: dict[str, pa.Table]) -> pa.Table | None:
    """The registered table a series CTE renames (through plain ``SELECT ... FROM`` CTEs)."""
    for _ in range(16):
        if name in tables:
            return tables[name]
        body = ctes.get(name)
        if not isinstance(body, exp.Select) or any(
            body.args.get(k) for k in ("joins", "where", "group", "distinct", "having", "qualify", "limit")
        ):
            return None
        source = _from(body)
        next_name = _name(source) if source is not None else None
        if next_name is None:
            return None
        name = next_name
    return None


def _from(body: exp.Select) -> exp.Table | None:
    clause = body.args.get("from_") or body.args.get("from")
    source = clause.this if isinstance(clause, exp.From) else None
    return source if isinstance(source, exp.Table) else None


def _name(t: exp.Expression | None) -> str | None:
    """The name of a plain table reference (the compiler's tables nest as Table(Table(name)))."""
    while isinstance(t, exp.Table):
        if isinstance(t.this, exp.Identifier):
            return str(t.this.name)
        t = t.this
    return None


def _int(e: exp.Expression | None) -> int | None:
    sign = 1
    while isinstance(e, exp.Paren | exp.Neg):
        if isinstance(e, exp.Neg):
            sign = -sign
        e = e.this
    if isinstance(e, exp.Literal) and not e.is_string:
        try:
            return sign * int(e.this)
        except ValueError:
            return None
    return None


# --- counting ---------------------------------------------------------------------------------
def load_bound(snap: Snapshot, load: Load) -> int:
    """At least the rows ``load`` reads: matching row groups of overlapping blocks, the head."""
    total = sum(t.num_rows for _seq, t in snap.head_samples)
    for block in snap.overlapping(load.mint, load.maxt).blocks:
        mins, maxs, rows = _row_groups(str(block.path(snap.root, "samples")))
        if load.sids is None:
            total += int(rows.sum())
            continue
        first = np.searchsorted(load.sids, mins, side="left")
        past = np.searchsorted(load.sids, maxs, side="right")
        total += int(rows[past > first].sum())
    return total


@functools.lru_cache(maxsize=4096)
def _row_groups(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(series_id min, series_id max, rows) per row group of a samples file (files never change)."""
    meta = pq.read_metadata(path)
    col = meta.schema.to_arrow_schema().get_field_index("series_id")
    n = meta.num_row_groups
    mins = np.full(n, np.iinfo(np.int64).min, np.int64)
    maxs = np.full(n, np.iinfo(np.int64).max, np.int64)
    rows = np.zeros(n, np.int64)
    for i in range(n):
        rg = meta.row_group(i)
        rows[i] = rg.num_rows
        stats = rg.column(col).statistics if col >= 0 else None
        if stats is not None and stats.has_min_max:
            mins[i], maxs[i] = stats.min, stats.max
    return mins, maxs, rows


def exact_loads(con: duckdb.DuckDBPyConnection, compiler: Compiler, loads: list[Load]) -> list[int]:
    """Row counts of the loads' CTEs, in one statement with only the CTEs they depend on."""
    if not loads:
        return []
    ctes = dict(compiler.ctes)
    needed: set[str] = set()
    todo = [ld.cte for ld in loads]
    while todo:
        name = todo.pop()
        if name in needed or name not in ctes:
            continue
        needed.add(name)
        todo.extend(n for t in ctes[name].find_all(exp.Table) if (n := _name(t)) is not None)
    stmt = exp.select(
        *(exp.select("count(*)").from_(ld.cte).subquery().as_(f"c{i}") for i, ld in enumerate(loads))
    )
    for name, body in compiler.ctes:
        if name in needed:
            stmt = stmt.with_(name, as_=body.copy(), copy=False)
    rows = con.sql(stmt.sql("duckdb")).fetchall()
    return [int(c) for c in rows[0]]
