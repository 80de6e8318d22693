"""Duration expressions: ``[5m+30s]``, ``[1h:step()*2]``, ``offset (2*1m)``, ``min_of(...)``.

Grammar and node shapes follow upstream's ``duration_expr`` rules.  Two
upstream quirks matter for what queries mean:

* After ``offset``, a literal, ``step()``, ``range()``, ``min_of(...)``/
  ``max_of(...)`` or a signed parenthesis ends the offset, so
  ``x offset 5m * 2`` is ``(x offset 5m) * 2`` and ``x offset -2 ^ 2`` is
  ``(x offset -2) ^ 2``.  Only an offset that *starts* with ``(`` (or with two
  signs) continues with arithmetic: ``x offset (1m) + 5`` offsets by 1m5s.
  That falls out of how goyacc resolved the grammar's conflicts.
* A sign folds into a number literal; on anything else it becomes a unary
  :class:`DurationExpr`, and a ``+`` on a non-literal is dropped.
"""

from __future__ import annotations

from .ast import DurationExpr, DurationOperand, NumberLiteral
from .errors import PositionRange
from .parse_base import ParserBase
from .tokens import Tok, Token

__all__ = ["parse_duration_expr", "parse_offset_duration", "parse_positive_duration"]

_BINARY = {Tok.ADD: "+", Tok.SUB: "-", Tok.MUL: "*", Tok.DIV: "/", Tok.MOD: "%", Tok.POW: "^"}
_PREC = {Tok.ADD: 1, Tok.SUB: 1, Tok.MUL: 2, Tok.DIV: 2, Tok.MOD: 2, Tok.POW: 3}
_POW_PREC = 3
_LITERALS = (Tok.NUMBER, Tok.DURATION)
_SIGNS = (Tok.ADD, Tok.SUB)
_NULLARY = {Tok.STEP: "step", Tok.RANGE: "range"}
_MIN_MAX = {Tok.MIN_OF: "min_of", Tok.MAX_OF: "max_of"}


def _span(
    op: str, lhs: DurationOperand | None, rhs: DurationOperand | None, start: int, end: int
) -> PositionRange:
    # Upstream's DurationExpr.PositionRange(): operands win over stored ends.
    if lhs is not None and rhs is not None:
        return PositionRange(lhs.pos.start, rhs.pos.end)
    if lhs is not None:
        return PositionRange(start, lhs.pos.end)
    if rhs is not None:
        return PositionRange(start, rhs.pos.end)
    return PositionRange(start, end)


def _node(
    op: str,
    lhs: DurationOperand | None,
    rhs: DurationOperand | None,
    start: int = 0,
    end: int = 0,
    *,
    wrapped: bool = False,
) -> DurationExpr:
    return DurationExpr(op=op, lhs=lhs, rhs=rhs, wrapped=wrapped, pos=_span(op, lhs, rhs, start, end))  # type: ignore[arg-type]


def _experimental(p: ParserBase, node: DurationOperand) -> None:
    if not p.options.duration_expr:
        p.error("experimental duration expression is not enabled", node.pos)


def _literal(p: ParserBase) -> NumberLiteral:
    lit = p.number_literal()
    return p.check_duration_range(lit, lit.pos)


def _wrap(node: DurationOperand, start: int, end: int) -> DurationExpr:
    """Mark parentheses; a bare literal gets a unary-plus node to carry the flag."""
    if isinstance(node, DurationExpr):
        return DurationExpr(op=node.op, lhs=node.lhs, rhs=node.rhs, wrapped=True, pos=node.pos)
    return _node("+", None, node, start, end, wrapped=True)


def _apply_sign(p: ParserBase, sign: Token, node: DurationOperand, *, wrapped: bool) -> DurationOperand:
    if wrapped:
        node = _wrap(node, node.pos.start, node.pos.end)
    if isinstance(node, DurationExpr):
        return _node("-", None, node, sign.pos) if sign.kind is Tok.SUB else node
    value = -node.value if sign.kind is Tok.SUB else node.value
    lit = NumberLiteral(value=value, duration=node.duration, pos=PositionRange(sign.pos, node.pos.end))
    return p.check_duration_range(lit, PositionRange(sign.pos, sign.end))


def _nullary(p: ParserBase) -> DurationExpr:
    tok = p.advance()
    p.expect(Tok.LEFT_PAREN)
    close = p.expect(Tok.RIGHT_PAREN)
    node = _node(_NULLARY[tok.kind], None, None, tok.pos, close.end)
    _experimental(p, node)
    return node


def _min_max_args(p: ParserBase) -> tuple[Token, DurationOperand, DurationOperand, Token]:
    tok = p.advance()
    p.expect(Tok.LEFT_PAREN)
    first = parse_duration_expr(p)
    p.expect(Tok.COMMA)
    second = parse_duration_expr(p)
    close = p.expect(Tok.RIGHT_PAREN)
    return tok, first, second, close


def _primary(p: ParserBase) -> DurationOperand:
    tok = p.peek()
    if tok.kind in _LITERALS:
        return _literal(p)
    if tok.kind in _NULLARY:
        return _nullary(p)
    if tok.kind in _MIN_MAX:
        name, first, second, close = _min_max_args(p)
        node = _node(_MIN_MAX[name.kind], first, second, name.pos, close.end)
        _experimental(p, node)
        return node
    if tok.kind is Tok.LEFT_PAREN:
        p.advance()
        inner = parse_duration_expr(p)
        close = p.expect(Tok.RIGHT_PAREN)
        _experimental(p, inner)
        return _wrap(inner, tok.pos, close.end)
    p.unexpected()
    raise AssertionError("unreachable")


def _unary(p: ParserBase) -> DurationOperand:
    tok = p.peek()
    if tok.kind in _SIGNS:
        p.advance()
        # A sign binds like "*": tighter than "+", looser than "^".
        return _apply_sign(p, tok, _binary(p, _POW_PREC), wrapped=False)
    return _primary(p)


def _binary(p: ParserBase, min_prec: int) -> DurationOperand:
    lhs = _unary(p)
    while True:
        tok = p.peek()
        prec = _PREC.get(tok.kind)
        if prec is None or prec < min_prec:
            return lhs
        p.advance()
        rhs = _binary(p, prec if tok.kind is Tok.POW else prec + 1)
        _experimental(p, lhs)
        if tok.kind in (Tok.DIV, Tok.MOD) and isinstance(rhs, NumberLiteral) and rhs.value == 0:
            p.error(
                "division by zero" if tok.kind is Tok.DIV else "modulo by zero",
                PositionRange(tok.pos, tok.end),
            )
            lhs = NumberLiteral(value=0.0)
            continue
        lhs = _node(_BINARY[tok.kind], lhs, rhs)


def parse_duration_expr(p: ParserBase) -> DurationOperand:
    """A full duration expression (``duration_expr``)."""
    return _binary(p, 0)


def parse_positive_duration(p: ParserBase) -> DurationOperand:
    """A range or step: a literal must be positive; expressions are checked at evaluation."""
    node = parse_duration_expr(p)
    if isinstance(node, NumberLiteral) and node.value <= 0:
        p.error("duration must be greater than 0", node.pos)
        return NumberLiteral(value=0.0)
    return node


def parse_offset_duration(p: ParserBase) -> DurationOperand:
    """The operand of ``offset`` (upstream's ``offset_duration_expr``; see module doc)."""
    tok, nxt = p.peek(), p.peek2()
    if tok.kind in _LITERALS:
        return _literal(p)
    if tok.kind in _NULLARY:
        return _nullary(p)
    if tok.kind in _MIN_MAX:
        name, first, second, close = _min_max_args(p)
        node = _node(_MIN_MAX[name.kind], first, second, name.pos, close.end)
        _experimental(p, node)
        return node
    if tok.kind in _SIGNS and nxt.kind in _LITERALS:
        p.advance()
        return _apply_sign(p, tok, p.number_literal(), wrapped=False)
    # For a signed step()/range()/min_of()/max_of() upstream also builds a
    # unary "+" node, which its printer then drops; we skip that node so that
    # printing and re-parsing give the same tree.
    if tok.kind in _SIGNS and nxt.kind in _NULLARY:
        p.advance()
        operand = _nullary(p)
        return _node("-", None, operand, tok.pos) if tok.kind is Tok.SUB else operand
    if tok.kind in _SIGNS and nxt.kind in _MIN_MAX:
        p.advance()
        name, first, second, _close = _min_max_args(p)
        # Upstream ends both nodes at the second argument, not at ")".
        inner = _node(_MIN_MAX[name.kind], first, second, name.pos, second.pos.end)
        _experimental(p, inner)
        return _node("-", None, inner, tok.pos, second.pos.end) if tok.kind is Tok.SUB else inner
    if tok.kind in _SIGNS and nxt.kind is Tok.LEFT_PAREN:
        p.advance()
        p.advance()
        parenthesised = parse_duration_expr(p)
        p.expect(Tok.RIGHT_PAREN)
        return _apply_sign(p, tok, parenthesised, wrapped=True)
    return parse_duration_expr(p)
