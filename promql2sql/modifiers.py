"""Postfix modifiers: ``[range]``, ``[range:step]``, ``offset``, ``@`` and ``anchored``/``smoothed``.

Each returns a new node (upstream mutates the selector in place).  Like
upstream, the modifier of a range selector is stored on its inner vector
selector, and ``offset``/``@`` stretch the node's position to the end of the
modifier.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

from .ast import (
    DurationExpr,
    DurationOperand,
    Expr,
    MatrixSelector,
    NumberLiteral,
    SubqueryExpr,
    VectorSelector,
)
from .durations import ms_of_ns, ns_of_seconds
from .errors import PositionRange
from .gostr import format_float_pct_f
from .parse_base import ParserBase
from .parse_durations import parse_positive_duration
from .tokens import Tok

__all__ = ["apply_at", "apply_extended", "apply_offset", "apply_range"]

_MODIFIABLE = "an instant vector selector or range vector selector or a subquery"


def _duration_fields(node: DurationOperand) -> tuple[int, DurationExpr | None]:
    """A literal becomes whole milliseconds; an expression is kept for evaluation time."""
    if isinstance(node, NumberLiteral):
        return ms_of_ns(ns_of_seconds(node.value)), None
    return 0, node


def _with_end(node: Expr, end: int) -> PositionRange:
    return PositionRange(node.pos.start, end)


def apply_range(p: ParserBase, expr: Expr) -> Expr:
    """``expr[range]`` or ``expr[range:step]``; the "[" is the next token."""
    open_bracket = p.advance()
    with p.context("subquery or range selector", "number, duration, step(), or range()"):
        rng = parse_positive_duration(p)
    range_ms, range_expr = _duration_fields(rng)
    if p.at(Tok.RIGHT_BRACKET):
        close = p.advance()
        message = ""
        if not isinstance(expr, VectorSelector):
            message = "ranges only allowed for vector selectors"
        elif expr.offset_ms != 0 or expr.offset_expr is not None:
            message = "no offset modifiers allowed before range"
        elif expr.timestamp_ms is not None or expr.at is not None:
            message = "no @ modifiers allowed before range"
        if message:
            p.error(message, PositionRange(open_bracket.pos, close.end))
            return expr
        assert isinstance(expr, VectorSelector)
        return MatrixSelector(
            vector_selector=expr,
            range_ms=range_ms,
            range_expr=range_expr,
            pos=_with_end(expr, p.last_closing),
        )
    if not p.at(Tok.COLON):
        p.unexpected("subquery or range", '":" or "]"')
    p.advance()
    step_ms, step_expr = 0, None
    if not p.at(Tok.RIGHT_BRACKET):
        with p.context("subquery selector", 'number, duration, step(), range(), or "]"'):
            step = parse_positive_duration(p)
        step_ms, step_expr = _duration_fields(step)
        if not p.at(Tok.RIGHT_BRACKET):
            p.unexpected("subquery selector", '"]"')
    close = p.advance()
    return SubqueryExpr(
        expr=expr,
        range_ms=range_ms,
        range_expr=range_expr,
        step_ms=step_ms,
        step_expr=step_expr,
        pos=_with_end(expr, close.end),
    )


def _modifier_target(p: ParserBase, expr: Expr, what: str) -> VectorSelector | SubqueryExpr | None:
    """The node holding offset/@ for ``expr``, or None after reporting why there is none."""
    if isinstance(expr, MatrixSelector):
        return expr.vector_selector
    if isinstance(expr, VectorSelector | SubqueryExpr):
        return expr
    p.error(f"{what} modifier must be preceded by {_MODIFIABLE}", expr.pos)
    return None


def _rebuild(expr: Expr, target: VectorSelector | SubqueryExpr, end: int) -> Expr:
    if isinstance(expr, MatrixSelector):
        assert isinstance(target, VectorSelector)
        return replace(expr, vector_selector=target, pos=_with_end(expr, end))
    return replace(target, pos=_with_end(target, end))


def apply_offset(p: ParserBase, expr: Expr, duration: DurationOperand) -> Expr:
    target = _modifier_target(p, expr, "offset")
    if target is None:
        return expr
    if target.offset_ms != 0 or target.offset_expr is not None:
        p.error("offset may not be set multiple times", expr.pos)
    else:
        offset_ms, offset_expr = _duration_fields(duration)
        target = replace(target, offset_ms=offset_ms, offset_expr=offset_expr)
    return _rebuild(expr, target, p.last_closing)


def apply_at(p: ParserBase, expr: Expr) -> Expr:
    """``expr @ <timestamp>`` or ``expr @ start()``/``end()``; the "@" is the next token."""
    p.advance()
    with p.context("@", "timestamp"):
        tok = p.peek()
        preprocessor: Literal["start", "end"] | None = None
        timestamp = 0.0
        if tok.kind in (Tok.START, Tok.END):
            p.advance()
            p.expect(Tok.LEFT_PAREN)
            p.expect(Tok.RIGHT_PAREN)
            preprocessor = "start" if tok.kind is Tok.START else "end"
        else:
            sign = p.advance() if tok.kind in (Tok.ADD, Tok.SUB) else None
            if not p.at(Tok.NUMBER, Tok.DURATION):
                p.unexpected()
            timestamp = p.number()
            if sign is not None and sign.kind is Tok.SUB:
                timestamp = -timestamp
    if preprocessor is None and (
        math.isinf(timestamp) or math.isnan(timestamp) or not -(2.0**63) < timestamp < 2.0**63
    ):
        p.error(f"timestamp out of bounds for @ modifier: {format_float_pct_f(timestamp)}", expr.pos)
    target = _modifier_target(p, expr, "@")
    if target is None:
        return expr
    if target.timestamp_ms is not None or target.at is not None:
        p.error("@ <timestamp> may not be set multiple times", expr.pos)
        return expr
    if preprocessor is not None:
        target = replace(target, at=preprocessor)
    elif math.isfinite(timestamp):
        # timestamp.FromFloatSeconds: milliseconds, rounded half away from zero.
        target = replace(target, timestamp_ms=_round_half_away(timestamp * 1000.0))
    return _rebuild(expr, target, p.last_closing)


def _round_half_away(value: float) -> int:
    whole = math.floor(abs(value))
    if abs(value) - whole >= 0.5:
        whole += 1
    return int(whole) if value >= 0 else -int(whole)


def apply_extended(p: ParserBase, expr: Expr, modifier: Literal["anchored", "smoothed"]) -> Expr:
    """``anchored`` / ``smoothed`` (experimental extended range selectors)."""
    if not p.options.extended_range_selectors:
        p.error(f"{modifier} modifier is experimental and not enabled", expr.pos)
        return expr
    other = "smoothed" if modifier == "anchored" else "anchored"
    if isinstance(expr, SubqueryExpr):
        p.error(f"{modifier} modifier is not supported for subqueries", expr.pos)
        return expr
    if not isinstance(expr, VectorSelector | MatrixSelector):
        p.error(f"{modifier} modifier not implemented", expr.pos)
        return expr
    selector = expr if isinstance(expr, VectorSelector) else expr.vector_selector
    if modifier == "anchored":
        selector = replace(selector, anchored=True)
    else:
        selector = replace(selector, smoothed=True)
    if getattr(selector, other):
        p.error("anchored and smoothed modifiers cannot be used together", expr.pos)
    if isinstance(expr, MatrixSelector):
        return replace(expr, vector_selector=selector)
    return selector
