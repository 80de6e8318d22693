"""The PromQL engine: parse, plan, compile to DuckDB SQL, run, return a columnar result.

``Engine(lake).instant(q, t)`` and ``.range(q, start, end, step)`` are the seam the HTTP API,
the rule evaluator, the CLI and the conformance runner use (Prometheus's ``QueryEngine``).
``translate`` returns the SQL text without running it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import duckdb
import numpy as np
import pyarrow as pa
import sqlglot.expressions as exp

from promlake.engine import Lake
from promlake.engine.catalog import Snapshot, connect, samples_relation
from promlake.engine.labels import labels_to_map
from promlake.engine.matchers import compile_matcher

from . import plan as p
from .ast import Matcher
from .duckdb import Compiler, Mat, Scal, Str, Timeline, Vec
from .duckdb.context import tmpl
from .duckdb.labels import natural_sort_key
from .errors import ExecutionError
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
            exp.column("series_id").as_("sk"), "ts", exp.column("value").as_("v"), "stale"
        ).from_(samples_relation(snap).subquery("lake"))


@dataclass
class Engine:
    lake: Lake
    lookback_delta_ms: int = 300_000
    # --query.timeout/max-samples/max-concurrency; run_limited applies them (limits.py).
    limits: QueryLimits = field(default_factory=QueryLimits)

    def instant(self, query: str, time_ms: int, token: CancelToken | None = None) -> QueryResult:
        tl = Timeline(time_ms, time_ms, 1)
        return run_limited(self.limits, token, lambda: self._run(query, tl, instant=True))

    def range(
        self, query: str, start_ms: int, end_ms: int, step_ms: int, token: CancelToken | None = None
    ) -> QueryResult:
        if step_ms <= 0:
            raise ExecutionError("zero or negative query resolution step widths are not accepted")
        tl = Timeline(start_ms, end_ms, step_ms)
        return run_limited(self.limits, token, lambda: self._run(query, tl, instant=False))

    def translate(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> str:
        """SQL that plain DuckDB runs over the lake's files (flushed data only) for this query."""
        tl = Timeline(start_ms, end_ms, max(step_ms, 1))
        compiled, _rel, _ = self._compile(query, tl, step_ms == 0, portable=True)
        return compiled.sql("duckdb", pretty=True)

    def explain(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> str:
        """The plan of a query, one operator per line (golden files, ``translate --plan``)."""
        return p.explain(plan_query(parse_expr(query), PlanContext(start_ms, end_ms, step_ms, self.lookback_delta_ms)))

    # --- internals ------------------------------------------------------------------------
    def _compile(self, query: str, tl: Timeline, instant: bool, portable: bool = False) -> tuple[exp.Select, object, tuple]:
        expr = parse_expr(query)
        ctx = PlanContext(tl.start, tl.end, 0 if instant else tl.step, self.lookback_delta_ms, query=query)
        node = plan_query(expr, ctx)
        if not instant and node.type not in (ValueType.SCALAR, ValueType.VECTOR):
            kind = node.type.documented
            raise ExecutionError(f"invalid expression type {kind!r} for range query, must be Scalar or instant Vector")
        snap = self.lake.snapshot()
        if portable:
            from .portable import PortableQuerier

            compiler = Compiler(PortableQuerier(self.lake.root, any(b.overlaps for b in snap.blocks)))
        else:
            compiler = Compiler(LakeQuerier(self.lake, snap))
        rel = compiler.compile(node, tl)
        final = _final_select(rel, compiler.ordering if instant else None)
        return compiler.query(final) if final is not None else final, rel, (snap, compiler, node)  # type: ignore[return-value]

    def _run(self, query: str, tl: Timeline, instant: bool) -> QueryResult:
        sql, rel, (snap, compiler, node) = self._compile(query, tl, instant)
        if isinstance(rel, Str):
            return QueryResult(ValueType.STRING, string=rel.value, points=_points([0], [tl.start], [0.0]))
        con = connect(snap, sandbox=False)
        try:
            attach_connection(con)  # limits: timeout/cancel interrupt this connection
            for name, data in compiler.tables.items():
                con.register(name, data)
            check_samples(con, compiler, snap)  # limits: --query.max-samples
            for check, message in compiler.assertions:
                row = con.execute(compiler.query(check).sql("duckdb")).fetchone()
                if row is not None:
                    raise ExecutionError(message(row) if callable(message) else message.format(row[0]))
            data = con.sql(sql.sql("duckdb")).to_arrow_table()
            warnings = _annotations(con, compiler, compiler.warnings)
            infos = _annotations(con, compiler, compiler.infos)
        except duckdb.Error as exc:
            raise ExecutionError(f"query failed in DuckDB: {exc}") from exc
        finally:
            detach_connection(con)  # limits: before the connection is closed or reused
            con.close()
        if isinstance(rel, Scal):
            t = data.column("t").to_numpy()
            result = QueryResult(
                ValueType.SCALAR,
                points=_points(np.zeros(len(t), np.int32), t, data.column("v").to_numpy()),
            )
        else:
            assert isinstance(rel, Vec | Mat)
            result = _vector_result(data, rel, instant, node)
        return replace(result, warnings=warnings, infos=infos)


def _annotations(con: duckdb.DuckDBPyConnection, compiler: Compiler, items: list[tuple[exp.Expression, str]]) -> tuple[str, ...]:
    """Messages of the annotation queries that returned rows (deduplicated, in order)."""
    out: dict[str, None] = {}
    for query, message in items:
        for row in con.sql(compiler.query(query).sql("duckdb")).fetchall():
            out[message.format(*row)] = None
    return tuple(out)


def _final_select(rel: object, ordering: p.Node | None = None) -> exp.Select | None:
    if isinstance(rel, Scal):
        return exp.select("t", exp.cast(exp.column("v"), "DOUBLE").as_("v")).from_(rel.points).order_by("t")
    if isinstance(rel, Vec | Mat):
        labels = tmpl(
            "CASE WHEN s.drop_name THEN map_from_entries(list_filter(map_entries(s.labels), "
            "lambda e: NOT list_contains(:drop, e.key))) ELSE s.labels END",
            drop=exp.Array(expressions=[exp.Literal.string(n) for n in _DROPPED_WITH_NAME]),
        )
        t = "x.ts" if isinstance(rel, Mat) else "x.t"
        return _numbered(
            exp.select(labels.as_("labels"), exp.column(t.split(".")[1], "x").as_("t"), exp.cast(exp.column("v", "x"), "DOUBLE").as_("v"))
            .from_(exp.to_table(rel.points).as_("x"))
            .join(exp.to_table(rel.series).as_("s"), on="s.sk = x.sk"),
            ordering,
        )
    return None


def _numbered(final: exp.Select, ordering: p.Node | None) -> exp.Select:
    """Adds a dense series number per label set; rows in result order (see QueryResult)."""
    rank = tmpl("dense_rank() OVER (ORDER BY labels) - 1")
    numbered = exp.select("*", rank.as_("series")).from_(final.subquery())
    if isinstance(ordering, p.Sort) and not ordering.by_labels:
        # sort/sort_desc: by value, NaN last either way (funcSort / funcSortDesc).
        return numbered.order_by("isnan(v)", "v DESC" if ordering.desc else "v", "labels")
    if isinstance(ordering, p.Sort):
        # sort_by_label*: natural order of each label's value (natsort), then the label set.
        keys = [natural_sort_key(tmpl("coalesce(labels[:n], '')", n=exp.Literal.string(n))) for n in ordering.by_labels]
        direction = " DESC" if ordering.desc else ""
        return numbered.order_by(*(exp.Ordered(this=k, desc=ordering.desc) for k in keys), "labels" + direction)
    return numbered.order_by("labels", "t")


def _points(series: object, t: object, v: object) -> pa.Table:
    return pa.table({"series": pa.array(series, pa.int32()), "t": pa.array(t, pa.int64()), "v": pa.array(v, pa.float64())}, schema=POINTS_SCHEMA)


def _vector_result(data: pa.Table, rel: Vec | Mat, instant: bool, node: p.Node) -> QueryResult:
    """Series numbered by label set in SQL; two series with one label set at one time is an error."""
    series = data.column("series").to_numpy().astype(np.int32)
    t = data.column("t").to_numpy()
    # A (series, t) pair seen twice means two series ended up with one label set.
    pair = series.astype(np.int64) * (1 << 20) + np.unique(t, return_inverse=True)[1] if len(t) else series
    if len(np.unique(pair)) != len(pair):
        raise ExecutionError("vector cannot contain metrics with the same labelset")
    _, first = np.unique(series, return_index=True)
    first = np.sort(first)  # series rows in result-row order (sort*, topk), not number order
    series_tbl = pa.table(
        {
            "series": pa.array(series[first], pa.int32()),
            "labels": data.column("labels").take(pa.array(first)).cast(SERIES_SCHEMA.field("labels").type),
        },
        schema=SERIES_SCHEMA,
    )
    points = _points(series, t, data.column("v").to_numpy())
    kind = ValueType.MATRIX if (isinstance(rel, Mat) or not instant) else ValueType.VECTOR
    return QueryResult(kind, series=series_tbl, points=points)
