"""The two extra checks upstream's harness makes on every instant eval (FORMAT.md section 8).

8.1 (step invariance): every selector and subquery without ``@`` gets ``@ <eval time>``, and
the rewritten query must give the same result at several other evaluation times. 8.2 (range
mode): the query is re-run as a range query around the eval time, and the middle step must
equal the instant result.

Upstream rewrites its AST and prints it with ``String()``; we do the same with our AST and
printer, so the text our engine sees is the text Prometheus's engine would see.
"""

from __future__ import annotations

import dataclasses
import re

from promlake.promql2sql import parse_expr, to_string
from promlake.promql2sql.ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    Expr,
    MatrixSelector,
    ParenExpr,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
    walk,
)

__all__ = [
    "AT_MODIFIER_UNSAFE_FUNCTIONS",
    "at_modifier_unsafe",
    "pin_at",
    "pinned_variants",
    "range_mode_allowed",
]

# promql.AtModifierUnsafeFunctions: results vary with the evaluation time even when every
# argument is pinned with @, so step invariance cannot be checked.
AT_MODIFIER_UNSAFE_FUNCTIONS = frozenset({
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year",
    "predict_linear", "time", "timestamp", "start", "end", "range", "step",
})  # fmt: skip

# Queries that read the range query's own parameters answer differently in range mode.
_QUERY_CONTEXT_CALL = re.compile(r"(start|end|range|step)\(\)")


def at_modifier_unsafe(expr: Expr) -> bool:
    """Whether any call in ``expr`` (subqueries included) is in the unsafe list."""
    return any(
        isinstance(node, Call) and node.func.name in AT_MODIFIER_UNSAFE_FUNCTIONS for node in walk(expr)
    )


def pin_at(expr: Expr, time_ms: int) -> Expr:
    """``expr`` with ``@ time_ms`` on every selector and subquery that has none.

    A subquery is pinned as a whole and nothing inside it is touched, whether its ``@`` was
    written or just added (upstream's ``hasAtModifier`` looks at the path above a node).
    ``@ start()``/``@ end()`` count as "no @" there: upstream's parser leaves the timestamp
    unset for them, so its harness overwrites them, and its printer then shows the number.
    """
    if isinstance(expr, VectorSelector):
        if expr.timestamp_ms is None:
            return dataclasses.replace(expr, timestamp_ms=time_ms, at=None)
        return expr
    if isinstance(expr, MatrixSelector):
        return dataclasses.replace(expr, vector_selector=pin_at(expr.vector_selector, time_ms))
    if isinstance(expr, SubqueryExpr):
        if expr.timestamp_ms is None:
            return dataclasses.replace(expr, timestamp_ms=time_ms, at=None)
        return expr
    if isinstance(expr, AggregateExpr):
        param = None if expr.param is None else pin_at(expr.param, time_ms)
        return dataclasses.replace(expr, expr=pin_at(expr.expr, time_ms), param=param)
    if isinstance(expr, BinaryExpr):
        return dataclasses.replace(expr, lhs=pin_at(expr.lhs, time_ms), rhs=pin_at(expr.rhs, time_ms))
    if isinstance(expr, Call):
        return dataclasses.replace(expr, args=tuple(pin_at(arg, time_ms) for arg in expr.args))
    if isinstance(expr, ParenExpr | UnaryExpr):
        return dataclasses.replace(expr, expr=pin_at(expr.expr, time_ms))
    return expr  # literals and duration expressions hold no selector


def _go_div(a: int, b: int) -> int:
    # Go's integer division truncates toward zero; Python's // floors.
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def pinned_variants(query: str, time_ms: int) -> list[tuple[str, int]]:
    """The (query, eval time) pairs of check 8.1, or [] when the query is at-modifier unsafe.

    Raises the parser's ``ParseError`` when ``query`` does not parse.
    """
    expr = parse_expr(query)
    if at_modifier_unsafe(expr):
        return []
    text = to_string(pin_at(expr, time_ms))
    times = (
        [-1000, 0, 1000] if time_ms == 0 else [-10 * time_ms, 0, _go_div(time_ms, 5), time_ms, 10 * time_ms]
    )
    return [(text, t) for t in times]


def range_mode_allowed(query: str) -> bool:
    """Check 8.2 skips queries whose text calls start(), end(), range() or step()."""
    return _QUERY_CONTEXT_CALL.search(query) is None
