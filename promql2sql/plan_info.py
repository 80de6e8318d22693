"""Planning of ``info(v, {data-label selector})`` (upstream ``promql/info.go``).

What the planner decides statically: which ``__name__`` matchers select info metrics
(``effectiveInfoNameMatchers``), which data labels may be added, whether a sample no info
series matches is dropped, and at which time the info series are looked up: the @ and
offset of the first vector selector of the first argument, and of the subqueries around
it (``infoSelectTimestampAndOffset``). Matching by identifying labels happens in the
backend, per step.
"""

from __future__ import annotations

from collections.abc import Callable

from . import ast
from . import plan as p

TARGET_INFO = "target_info"


def effective_name_matchers(matchers: tuple[ast.Matcher, ...]) -> tuple[ast.Matcher, ...]:
    """The ``__name__`` matchers that select info series (effectiveInfoNameMatchers).

    Positive matchers are used as given; only negative ones get a synthetic ``.+_info``
    in front; none at all means ``target_info``.
    """
    if any(m.op in ("=", "=~") for m in matchers):
        return matchers
    if matchers:
        return (ast.Matcher("__name__", "=~", ".+_info"), *matchers)
    return (ast.Matcher("__name__", "=", TARGET_INFO),)


def _first_selector(
    e: ast.Expr, path: tuple[ast.Expr, ...] = ()
) -> tuple[ast.VectorSelector, tuple[ast.Expr, ...]] | None:
    """The first vector selector in upstream's Inspect order, with the nodes above it."""
    if isinstance(e, ast.VectorSelector):
        return e, path
    for child in ast.children(e):
        found = _first_selector(child, (*path, e))
        if found is not None:
            return found
    return None


def reference_time(
    e: ast.Expr,
    at: Callable[[int | None, ast.AtPreprocessor | None], int | None],
    duration: Callable[[int, ast.DurationExpr | None], int],
) -> tuple[int | None, int]:
    """(@ time or None, offset) at which info series are looked up for first argument ``e``.

    The innermost @ among the selector and its enclosing subqueries anchors the time;
    offsets add up from the selector outwards until that anchor (infoSelectTimestampAndOffset).
    """
    found = _first_selector(e)
    if found is None:
        return None, 0
    vs, path = found
    at_ms = at(vs.timestamp_ms, vs.at)
    offset = duration(vs.offset_ms, vs.offset_expr)
    for node in reversed(path):
        if at_ms is not None:
            break
        if isinstance(node, ast.SubqueryExpr):
            offset += duration(node.offset_ms, node.offset_expr)
            at_ms = at(node.timestamp_ms, node.at)
    return at_ms, offset


def plan_info(
    arg: p.Node,
    call: ast.Call,
    at: Callable[[int | None, ast.AtPreprocessor | None], int | None],
    duration: Callable[[int, ast.DurationExpr | None], int],
    lookback_ms: int,
) -> p.Info:
    selector = call.args[1] if len(call.args) > 1 else None
    while isinstance(selector, ast.ParenExpr):
        selector = selector.expr
    matchers: tuple[ast.Matcher, ...] = ()
    if isinstance(selector, ast.VectorSelector):
        matchers = tuple(selector.matchers)
        if selector.name and not any(m.name == "__name__" for m in matchers):
            matchers = (*matchers, ast.Matcher("__name__", "=", selector.name))
    names = effective_name_matchers(tuple(m for m in matchers if m.name == "__name__"))
    data = tuple(m for m in matchers if m.name != "__name__")
    at_ms, offset_ms = reference_time(call.args[0], at, duration)
    info_series = p.InstantSelect(
        matchers=(*data, *names), offset_ms=offset_ms, at_ms=at_ms, lookback_ms=lookback_ms
    )
    return p.Info(
        arg=arg,
        info_series=info_series,
        name_matchers=names,
        data_labels=tuple(sorted({m.name for m in data})),
        drop_unmatched=any(not m.matches("") for m in data),
    )
