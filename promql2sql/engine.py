"""The PromQL engine: parse, plan, compile to DuckDB SQL, run, return a columnar result.

``Engine(lake).instant(q, t)`` and ``.range(q, start, end, step)`` are the seam the HTTP API,
the rule evaluator, the CLI and the conformance runner use (Prometheus's ``QueryEngine``).
``translate`` returns the SQL text without running it.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import duckdb
import numpy as np
import pyarrow as pa
import sqlglot.expressions as exp

from promlake.engine import Lake
from promlake.engine.catalog import Snapshot, samples_relation
from promlake.engine.labels import labels_to_map
from promlake.engine.matchers import compile_matcher

from . import plan as p
from . import sample_count
from .ast import Call, Expr, Matcher, walk
from .duckdb import Compiler, Mat, Scal, Str, Timeline, Vec
from .duckdb.context import table, tmpl
from .duckdb.labels import natural_sort_key
from .duckdb.labelset import drop_labels
from .duckdb.shared import SharedStatements
from .errors import ExecutionError, position_label
from .limits import CancelToken, QueryLimits, attach_connection, check_samples, detach_connection, run_limited
from .parser import parse_expr
from .planner import PlanContext, plan_query
from .result import POINTS_SCHEMA, SERIES_SCHEMA, QueryResult
from .signatures import ValueType

_DROPPED_WITH_NAME = ["__name__", "__type__", "__unit__"]


class LakeQuerier:
    """The storage side of a query: one snapshot of the lake, series from its index."""

    def __init__(self, lake: Lake, snap: Snapshot) -> None:
        self.lake = lake
        self.snap = snap

    def series(self, matchers: Sequence[Matcher]) -> pa.Table:
        ms = [compile_matcher(m.name, m.op, m.value) for m in matchers]
        ids = self.lake.index.select(ms)
        sids, maps = labels_to_map(self.lake.index.labels_of(ids))
        return pa.table({"sk": pa.array(sids, pa.int64()), "labels": maps})

    def samples(self, mint: int, maxt: int) -> exp.Query:
        snap = self.snap.overlapping(mint, maxt)
        return exp.select(
            exp.column("series_id").as_("sk"), "ts", exp.column("value").as_("v"), "stale", "st"
        ).from_(samples_relation(snap).subquery("lake"))

    def has_start_timestamps(self, mint: int, maxt: int) -> bool:
        # What the snapshot's structure tells without reading data: a block file with the st
        # column, or a head table that has it (the head leaves it out while all are unknown).
        snap = self.snap.overlapping(mint, maxt)
        with_st, _ = snap.samples_files()
        return bool(with_st) or any("st" in data.column_names for _, data in snap.head_samples)


@dataclass
class Engine:
    lake: Lake
    lookback_delta_ms: int = 300_000
    # --query.timeout/max-samples/max-concurrency; run_limited applies them (limits.py).
    limits: QueryLimits = field(default_factory=QueryLimits)
    # One in-memory DuckDB database for all queries; each query runs on its own cursor (a
    # connection of its own: registered head tables and temporary tables stay private to
    # it, and an interrupt stops only it). A new database per query cost 10-40 ms.
    _database: duckdb.DuckDBPyConnection | None = field(default=None, init=False, repr=False)
    _database_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def instant(
        self, query: str, time_ms: int, token: CancelToken | None = None, stats: bool = False
    ) -> QueryResult:
        """``stats``: also count the samples the query reads (``QueryResult.samples``)."""
        tl = Timeline(time_ms, time_ms, 1)
        return run_limited(self.limits, token, lambda: self._run(query, tl, instant=True, stats=stats))

    def range(
        self,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        token: CancelToken | None = None,
        stats: bool = False,
    ) -> QueryResult:
        if step_ms <= 0:
            raise ExecutionError("zero or negative query resolution step widths are not accepted")
        tl = Timeline(start_ms, end_ms, step_ms)
        return run_limited(self.limits, token, lambda: self._run(query, tl, instant=False, stats=stats))

    def translate(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> str:
        """SQL that plain DuckDB runs over the lake's files (flushed data only) for this query."""
        tl = Timeline(start_ms, end_ms, max(step_ms, 1))
        compiled, _rel, _ = self._compile(query, tl, step_ms == 0, portable=True)
        return compiled.sql("duckdb", pretty=True)

    def explain(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> str:
        """The plan of a query, one operator per line (golden files, ``translate --plan``)."""
        return p.explain(
            plan_query(parse_expr(query), PlanContext(start_ms, end_ms, step_ms, self.lookback_delta_ms))
        )

    # --- internals ------------------------------------------------------------------------
    def _connection(self, snap: Snapshot) -> duckdb.DuckDBPyConnection:
        """A fresh connection to the engine's database that sees ``snap``'s head tables."""
        with self._database_lock:
            if self._database is None:
                self._database = duckdb.connect(":memory:")
            con = self._database.cursor()
        for i, (_seq, data) in enumerate(snap.head_samples):
            con.register(f"__head_samples_{i}", data)
        return con

    def _compile(
        self, query: str, tl: Timeline, instant: bool, portable: bool = False
    ) -> tuple[exp.Select, object, tuple]:
        expr = parse_expr(query)
        ctx = PlanContext(tl.start, tl.end, 0 if instant else tl.step, self.lookback_delta_ms, query=query)
        node = plan_query(expr, ctx)
        if not instant and node.type not in (ValueType.SCALAR, ValueType.VECTOR):
            kind = node.type.documented
            raise ExecutionError(
                f"invalid expression type {kind!r} for range query, must be Scalar or instant Vector"
            )
        snap = self.lake.snapshot()
        if portable:
            from .portable import PortableQuerier

            compiler = Compiler(PortableQuerier(self.lake.root, any(b.overlaps for b in snap.blocks)))
        else:
            compiler = Compiler(LakeQuerier(self.lake, snap))
        rel = compiler.compile(node, tl)
        final = _final_select(rel, compiler.ordering if instant else None)
        return compiler.query(final), rel, (snap, compiler, node)

    def _run(self, query: str, tl: Timeline, instant: bool, stats: bool = False) -> QueryResult:
        expr = parse_expr(query)
        ctx = PlanContext(tl.start, tl.end, 0 if instant else tl.step, self.lookback_delta_ms, query=query)
        node = plan_query(expr, ctx)
        if not instant and node.type not in (ValueType.SCALAR, ValueType.VECTOR):
            kind = node.type.documented
            raise ExecutionError(
                f"invalid expression type {kind!r} for range query, must be Scalar or instant Vector"
            )
        snap = self.lake.snapshot()
        compiler = Compiler(LakeQuerier(self.lake, snap))
        rel = compiler.compile(node, tl)
        if isinstance(rel, Str):
            return QueryResult(ValueType.STRING, string=rel.value, points=_points([0], [tl.start], [0.0]))
        outputs = _outputs(compiler, rel, compiler.ordering if instant else None)
        static_warnings = () if instant else _sort_in_range_query(expr, query)
        checks = [q for q, _ in compiler.assertions]
        notes = [q for q, _ in compiler.warnings + compiler.infos]
        con = self._connection(snap)
        try:
            attach_connection(con)  # limits: timeout/cancel interrupt this connection
            for name, data in compiler.tables.items():
                con.register(name, data)
            check_samples(con, compiler, snap)  # limits: --query.max-samples
            counted = sample_count.measure(con, compiler) if stats else None
            # After check_samples, which reads the CTEs' shapes: planning attaches them.
            plan = SharedStatements(compiler.ctes, [*checks, *notes, *outputs])
            sql = (plan.statement_sql(con, i) for i in range(len(plan.statements)))
            for (_, message), text in zip(compiler.assertions, sql, strict=False):
                row = con.execute(text).fetchone()
                if row is not None:
                    raise ExecutionError(message(row) if callable(message) else message.format(row[0]))
            warnings = _annotations(con, compiler.warnings, sql)
            infos = _annotations(con, compiler.infos, sql)
            data = [_arrow(con, text) for text in sql]
        except duckdb.Error as exc:
            raise ExecutionError(f"query failed in DuckDB: {exc}") from exc
        finally:
            detach_connection(con)  # limits: before the connection is closed or reused
            con.close()
        if isinstance(rel, Scal):
            t = data[0].column("t").to_numpy()
            result = QueryResult(
                ValueType.SCALAR,
                points=_points(np.zeros(len(t), np.int32), t, data[0].column("v").to_numpy()),
            )
        else:
            assert isinstance(rel, Vec | Mat)
            ordered = instant and compiler.ordering is not None
            result = _vector_result(data[0], data[1], rel, instant, ordered)
        return replace(
            result, warnings=tuple(dict.fromkeys(static_warnings + warnings)), infos=infos, samples=counted
        )


_SORT_FUNCTIONS = frozenset({"sort", "sort_desc", "sort_by_label", "sort_by_label_desc"})


def _sort_in_range_query(expr: Expr, query: str) -> tuple[str, ...]:
    """A range query's result is ordered by labels whatever sort*() asks: say so, once per
    call, at the call's position (as Prometheus 3 does)."""
    return tuple(
        "PromQL warning: sort is ineffective for range queries since results are always ordered "
        f"by labels ({position_label(query, node.pos.start)})"
        for node in walk(expr)
        if isinstance(node, Call) and node.func.name in _SORT_FUNCTIONS
    )


def _arrow(con: duckdb.DuckDBPyConnection, text: str) -> pa.Table:
    """The rows of one statement. Through ``execute``: ``con.sql`` tokenizes the text in
    Python first (10-40 ms for a large plan), while the extra copy DuckDB warns about here
    costs nothing measurable."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)
        return con.execute(text).to_arrow_table()


def _annotations(
    con: duckdb.DuckDBPyConnection, items: list[tuple[exp.Expression, str]], sql: Iterator[str]
) -> tuple[str, ...]:
    """Messages of the annotation queries that returned rows (deduplicated, in order)."""
    out: dict[str, None] = {}
    for (_, message), text in zip(items, sql, strict=False):
        for row in con.execute(text).fetchall():
            out[message.format(*row)] = None
    return tuple(out)


def _outputs(c: Compiler, rel: Vec | Mat | Scal, ordering: p.Node | None) -> list[exp.Expr]:
    """The statements that fetch a result: scalar points; or points and series of a vector.

    Label work runs once per output series (names dropped, series numbered in label order),
    never once per point; points come back as (series number, t, v).
    """
    if isinstance(rel, Scal):
        return [_scalar_points(rel)]
    t = "ts" if isinstance(rel, Mat) else "t"
    numbered = c.cte(
        tmpl(
            "SELECT sk, labels, (dense_rank() OVER (ORDER BY labels) - 1)::INTEGER AS series FROM ("
            "SELECT s.sk, :labels AS labels FROM :series AS s WHERE s.sk IN (SELECT sk FROM :points))",
            labels=_result_labels(), series=table(rel.series), points=table(rel.points),
        ),
        "result_series",
    )  # fmt: skip
    points = tmpl(
        "SELECT n.series, x.:t AS t, x.v::DOUBLE AS v FROM :points AS x JOIN :numbered AS n ON n.sk = x.sk",
        t=exp.to_identifier(t), points=table(rel.points), numbered=table(numbered),
    )  # fmt: skip
    if isinstance(ordering, p.Sort):
        points = _ordered_points(points, numbered, ordering)
    series = tmpl("SELECT DISTINCT series, labels FROM :numbered", numbered=table(numbered))
    return [points, series]


def _ordered_points(points: exp.Select, numbered: str, ordering: p.Sort) -> exp.Select:
    """An instant query's points in the order sort()/sort_desc()/sort_by_label*() ask for."""
    if not ordering.by_labels:
        # sort/sort_desc: by value, NaN last either way (funcSort / funcSortDesc).
        return points.order_by("isnan(v)", "v DESC" if ordering.desc else "v", "series")
    # sort_by_label*: natural order of each label's value (natsort), then the label set.
    by_labels = tmpl(
        "SELECT x.series, x.t, x.v FROM :points AS x JOIN (SELECT DISTINCT series, labels FROM :numbered) AS n "
        "ON n.series = x.series",
        points=points.subquery(), numbered=table(numbered),
    )  # fmt: skip
    return by_labels.order_by(*_label_sort_keys(ordering), "x.series" + (" DESC" if ordering.desc else ""))


def _label_sort_keys(ordering: p.Sort) -> list[exp.Ordered]:
    """sort_by_label*: the natural order (natsort) of each named label's value."""
    keys = [
        natural_sort_key(tmpl("coalesce(labels[:n], '')", n=exp.Literal.string(n)))
        for n in ordering.by_labels
    ]
    return [exp.Ordered(this=k, desc=ordering.desc) for k in keys]


def _result_labels() -> exp.Expression:
    """A result series' labels (``s``): without the name (and type/unit) when dropped."""
    dropped = drop_labels(exp.column("labels", "s"), _DROPPED_WITH_NAME)
    return tmpl("CASE WHEN s.drop_name THEN :dropped ELSE s.labels END", dropped=dropped)


def _scalar_points(rel: Scal) -> exp.Select:
    return exp.select("t", exp.cast(exp.column("v"), "DOUBLE").as_("v")).from_(rel.points).order_by("t")


def _final_select(rel: object, ordering: p.Node | None = None) -> exp.Select:
    if isinstance(rel, Str):
        return exp.select(exp.Literal.string(rel.value).as_("v"))
    if isinstance(rel, Scal):
        return _scalar_points(rel)
    if isinstance(rel, Vec | Mat):
        t = "x.ts" if isinstance(rel, Mat) else "x.t"
        return _numbered(
            exp.select(
                _result_labels().as_("labels"),
                exp.column(t.split(".")[1], "x").as_("t"),
                exp.cast(exp.column("v", "x"), "DOUBLE").as_("v"),
            )
            .from_(exp.to_table(rel.points).as_("x"))
            .join(exp.to_table(rel.series).as_("s"), on="s.sk = x.sk"),
            ordering,
        )
    raise ExecutionError(f"no SQL for a {type(rel).__name__} result")


def _numbered(final: exp.Select, ordering: p.Node | None) -> exp.Select:
    """Adds a dense series number per label set; rows in result order (see QueryResult)."""
    rank = tmpl("dense_rank() OVER (ORDER BY labels) - 1")
    numbered = exp.select("*", rank.as_("series")).from_(final.subquery())
    if isinstance(ordering, p.Sort) and not ordering.by_labels:
        # sort/sort_desc: by value, NaN last either way (funcSort / funcSortDesc).
        return numbered.order_by("isnan(v)", "v DESC" if ordering.desc else "v", "labels")
    if isinstance(ordering, p.Sort):
        # sort_by_label*: natural order of each label's value (natsort), then the label set.
        return numbered.order_by(*_label_sort_keys(ordering), "labels" + (" DESC" if ordering.desc else ""))
    return numbered.order_by("labels", "t")


def _points(series: object, t: object, v: object) -> pa.Table:
    return pa.table(
        {
            "series": pa.array(series, pa.int32()),
            "t": pa.array(t, pa.int64()),
            "v": pa.array(v, pa.float64()),
        },
        schema=POINTS_SCHEMA,
    )


def _vector_result(
    points: pa.Table, series: pa.Table, rel: Vec | Mat, instant: bool, ordered: bool
) -> QueryResult:
    """Points by (series, t) unless the query ordered them; series in first-appearance order.

    Series are numbered by label set in SQL, so two series that ended up with one label set
    share a number: the same number twice at one time is Prometheus's duplicate error.
    """
    num = points.column("series").to_numpy().astype(np.int32)
    t = points.column("t").to_numpy()
    v = points.column("v").to_numpy()
    by_series = np.lexsort((t, num))
    if not ordered:
        num, t, v = num[by_series], t[by_series], v[by_series]
        by_series = np.arange(len(num))
    sn, st = num[by_series], t[by_series]
    if len(sn) > 1 and np.any((sn[1:] == sn[:-1]) & (st[1:] == st[:-1])):
        raise ExecutionError("vector cannot contain metrics with the same labelset")
    _, first = np.unique(num, return_index=True)
    order = num[np.sort(first)]  # series in result-row order (sort*), not number order
    known = series.column("series").to_numpy()
    rows = np.argsort(known)[np.searchsorted(np.sort(known), order)]
    series_tbl = pa.table(
        {
            "series": pa.array(order, pa.int32()),
            "labels": series.column("labels").take(pa.array(rows)).cast(SERIES_SCHEMA.field("labels").type),
        },
        schema=SERIES_SCHEMA,
    )
    kind = ValueType.MATRIX if (isinstance(rel, Mat) or not instant) else ValueType.VECTOR
    return QueryResult(kind, series=series_tbl, points=_points(num, t, v))
