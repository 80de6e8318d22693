"""AST -> plan: resolve what depends on the query (times, steps, durations) and name operators.

One ``PlanContext`` carries the query's start, end, step and lookback (GreptimeDB's
``PromPlannerContext``). Type and arity were already checked by the parser (``check.py``), so
the planner only decides *which* operator implements each node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import ast
from . import plan as p
from .errors import ExecutionError, position_label
from .functions import DATE_FUNCTIONS, ELEMENTWISE, RANGE_FUNCTIONS, SORT_FUNCTIONS
from .plan_info import plan_info

DEFAULT_SUBQUERY_STEP_MS = 60_000


@dataclass(frozen=True)
class PlanContext:
    start_ms: int
    end_ms: int
    step_ms: int  # 0 for an instant query
    lookback_ms: int = 300_000
    default_subquery_step_ms: int = DEFAULT_SUBQUERY_STEP_MS
    query: str = ""  # the query text, for the line:col positions annotations cite


def plan_query(expr: ast.Expr, ctx: PlanContext) -> p.Node:
    return _Planner(ctx).node(expr)


class _Planner:
    def __init__(self, ctx: PlanContext) -> None:
        self.ctx = ctx

    # --- durations and times -------------------------------------------------------------
    def duration(self, ms: int, expr: ast.DurationExpr | None) -> int:
        return ms if expr is None else round(self._dur_seconds(expr) * 1000)

    def _dur_seconds(self, e: ast.Expr) -> float:
        if isinstance(e, ast.NumberLiteral):
            return e.value
        if isinstance(e, ast.ParenExpr):
            return self._dur_seconds(e.expr)
        if not isinstance(e, ast.DurationExpr):
            raise ExecutionError(f"unexpected duration operand {type(e).__name__}")
        if e.op == "step":
            return self.ctx.step_ms / 1000
        if e.op == "range":
            return (self.ctx.end_ms - self.ctx.start_ms) / 1000
        lhs = self._dur_seconds(e.lhs) if e.lhs is not None else None
        rhs = self._dur_seconds(e.rhs) if e.rhs is not None else 0.0
        if lhs is None:
            return -rhs if e.op == "-" else rhs
        if e.op == "min_of":
            return min(lhs, rhs)
        if e.op == "max_of":
            return max(lhs, rhs)
        ops = {
            "+": lambda a, b: a + b,
            "-": lambda a, b: a - b,
            "*": lambda a, b: a * b,
            "/": lambda a, b: a / b if b else math.inf,
            "%": lambda a, b: math.fmod(a, b) if b else math.nan,
            "^": lambda a, b: a**b,
        }
        return float(ops[e.op](lhs, rhs))

    def at(self, timestamp_ms: int | None, at: str | None) -> int | None:
        if at == "start":
            return self.ctx.start_ms
        if at == "end":
            return self.ctx.end_ms
        return timestamp_ms

    # --- nodes ----------------------------------------------------------------------------
    def node(self, e: ast.Expr) -> p.Node:
        method = getattr(self, f"plan_{type(e).__name__}")
        return method(e)

    def plan_ParenExpr(self, e: ast.ParenExpr) -> p.Node:
        return self.node(e.expr)

    def plan_NumberLiteral(self, e: ast.NumberLiteral) -> p.Node:
        return p.Literal(e.value)

    def plan_StringLiteral(self, e: ast.StringLiteral) -> p.Node:
        return p.StringValue(e.value)

    def plan_DurationExpr(self, e: ast.DurationExpr) -> p.Node:
        return p.Literal(self._dur_seconds(e))

    def plan_UnaryExpr(self, e: ast.UnaryExpr) -> p.Node:
        inner = self.node(e.expr)
        if e.op == "+":
            return inner
        if isinstance(inner, p.Literal):
            return p.Literal(-inner.value)
        if inner.type is ast.ValueType.SCALAR:
            return p.Binary("*", p.Literal(-1.0), inner)
        return p.Elementwise("neg", inner)

    def plan_VectorSelector(self, e: ast.VectorSelector) -> p.Node:
        return p.InstantSelect(
            matchers=_matchers(e),
            offset_ms=self.duration(e.offset_ms, e.offset_expr),
            at_ms=self.at(e.timestamp_ms, e.at),
            lookback_ms=self.ctx.lookback_ms,
            smoothed=e.smoothed,
        )

    def plan_MatrixSelector(self, e: ast.MatrixSelector) -> p.Node:
        vs = e.vector_selector
        return p.RangeSelect(
            matchers=_matchers(vs),
            range_ms=self.duration(e.range_ms, e.range_expr),
            offset_ms=self.duration(vs.offset_ms, vs.offset_expr),
            at_ms=self.at(vs.timestamp_ms, vs.at),
            anchored=vs.anchored,
            smoothed=vs.smoothed,
            lookback_ms=self.ctx.lookback_ms if vs.anchored or vs.smoothed else 0,
        )

    def plan_SubqueryExpr(self, e: ast.SubqueryExpr) -> p.Node:
        step = self.duration(e.step_ms, e.step_expr) or self.ctx.default_subquery_step_ms
        return p.Subquery(
            inner=self.node(e.expr),
            range_ms=self.duration(e.range_ms, e.range_expr),
            step_ms=step,
            offset_ms=self.duration(e.offset_ms, e.offset_expr),
            at_ms=self.at(e.timestamp_ms, e.at),
        )

    def plan_AggregateExpr(self, e: ast.AggregateExpr) -> p.Node:
        param = self.node(e.param) if e.param is not None else None
        # Upstream unwraps the parameter's parentheses first (preprocessExprHelper), so
        # annotations cite the inner expression.
        inner = e.param
        while isinstance(inner, ast.ParenExpr):
            inner = inner.expr
        pos = self._pos(inner) if inner is not None else ""
        return p.Aggregate(e.op, self.node(e.expr), tuple(e.grouping), e.without, param, pos)

    def plan_BinaryExpr(self, e: ast.BinaryExpr) -> p.Node:
        return p.Binary(e.op, self.node(e.lhs), self.node(e.rhs), e.return_bool, e.matching)

    def plan_Call(self, e: ast.Call) -> p.Node:
        name = e.func.name
        args = [self.node(a) for a in e.args]
        if name in RANGE_FUNCTIONS:
            # The range vector is the first argument except for quantile_over_time(q, m).
            m_idx = next(i for i, a in enumerate(args) if isinstance(a, p.RangeSelect | p.Subquery))
            matrix = args[m_idx]
            assert isinstance(matrix, p.RangeSelect | p.Subquery)
            params = tuple(a for i, a in enumerate(args) if i != m_idx)
            if isinstance(matrix, p.RangeSelect):
                _check_extended(name, matrix)
            if name == "absent_over_time":
                return p.Absent(p.RangeFunction("count_over_time", matrix), _absent_labels(e.args[0]))
            return p.RangeFunction(name, matrix, params, tuple(self._pos(_unparen(a)) for a in e.args))
        if name in ELEMENTWISE:
            return p.Elementwise(name, args[0], tuple(args[1:]))
        if name in DATE_FUNCTIONS:
            arg = args[0] if args else p.VectorOf(p.StepTime())
            return p.Elementwise(name, arg)
        if name in SORT_FUNCTIONS:
            desc = name.endswith("_desc")
            labels = tuple(a.value for a in args[1:] if isinstance(a, p.StringValue))
            return p.Sort(args[0], desc, labels)
        if name == "absent":
            return p.Absent(args[0], _absent_labels(e.args[0]))
        if name in ("label_replace", "label_join"):
            strings = tuple(a.value for a in args[1:] if isinstance(a, p.StringValue))
            return p.LabelFunction(name, args[0], strings)
        if name == "vector":
            return p.VectorOf(args[0])
        if name == "time":
            return p.StepTime()
        if name in ("scalar", "pi"):
            return p.ScalarFunction(name, tuple(args))
        if name in ("start", "end", "range", "step"):
            return p.Literal(self._query_param(name))
        if name in ("min_of", "max_of"):
            return p.ScalarFunction(name, tuple(args))
        if name in ("histogram_quantile", "histogram_fraction", "histogram_quantiles"):
            return self._histogram_fold(e, args)
        if name == "info":
            return plan_info(args[0], e, self.at, self.duration, self.ctx.lookback_ms)
        raise ExecutionError(f"function {name!r} is not supported yet")

    def _histogram_fold(self, e: ast.Call, args: list[p.Node]) -> p.Node:
        # The vector is the last argument of histogram_quantile/_fraction, the first of
        # histogram_quantiles(v, label, q0, q1, ...).
        if e.func.name == "histogram_quantiles":
            label = args[1].value if isinstance(args[1], p.StringValue) else ""
            qs = tuple(args[2:])
            return p.HistogramFold("quantile", args[0], qs, label, self._pos(e.args[0]),
                                   tuple(self._pos(a) for a in e.args[2:]))  # fmt: skip
        func = "quantile" if e.func.name == "histogram_quantile" else "fraction"
        return p.HistogramFold(func, args[-1], tuple(args[:-1]), None, self._pos(e.args[-1]),
                               tuple(self._pos(a) for a in e.args[:-1]))  # fmt: skip

    def _pos(self, e: ast.Expr) -> str:
        """``line:col`` of a node, as annotations print it (PositionRange.StartPosInput)."""
        start = e.pos.start
        return position_label(self.ctx.query, start) if self.ctx.query else f"1:{start + 1}"

    def _query_param(self, name: str) -> float:
        c = self.ctx
        return {"start": c.start_ms, "end": c.end_ms, "range": c.end_ms - c.start_ms, "step": c.step_ms}[name] / 1000


# AnchoredSafeFunctions / SmoothedSafeFunctions (functions.go): the functions whose result
# stays meaningful on the samples an anchored / smoothed window adds outside its range.
ANCHORED_SAFE = ("changes", "delta", "increase", "rate", "resets")
SMOOTHED_SAFE = ("delta", "increase", "rate")


def _check_extended(name: str, m: p.RangeSelect) -> None:
    """The evaluation error upstream raises for other functions of such a window (engine.go)."""
    kind, safe = ("anchored", ANCHORED_SAFE) if m.anchored else ("smoothed", SMOOTHED_SAFE)
    if (m.anchored or m.smoothed) and name not in safe:
        allowed = ", ".join(safe)
        raise ExecutionError(f"{kind} modifier can only be used with: {allowed} - not with {name}")


def _unparen(e: ast.Expr) -> ast.Expr:
    while isinstance(e, ast.ParenExpr):
        e = e.expr
    return e


def _matchers(vs: ast.VectorSelector) -> tuple[ast.Matcher, ...]:
    ms = list(vs.matchers)
    if vs.name and not any(m.name == "__name__" for m in ms):
        ms.append(ast.Matcher("__name__", "=", vs.name))
    return tuple(ms)


def _absent_labels(e: ast.Expr) -> tuple[tuple[str, str], ...]:
    """Labels of absent()'s output: the equality matchers of a plain selector argument."""
    while isinstance(e, ast.ParenExpr):
        e = e.expr
    if isinstance(e, ast.MatrixSelector):
        e = e.vector_selector
    if not isinstance(e, ast.VectorSelector):
        return ()
    # createLabelsForAbsentFunction: the first '=' of a label sets it; any later matcher of
    # that label, and any other matcher type, removes it. Empty values are no label.
    has: set[str] = set()
    seen: dict[str, str] = {}
    for m in _matchers(e):
        if m.name == "__name__":
            continue
        if m.op == "=" and m.name not in has:
            seen[m.name] = m.value
            has.add(m.name)
        else:
            seen.pop(m.name, None)
    return tuple(sorted((k, v) for k, v in seen.items() if v != ""))
