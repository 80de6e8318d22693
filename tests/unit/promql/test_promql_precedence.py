"""Operator precedence and associativity, shown by fully parenthesising the tree."""

from __future__ import annotations

import pytest

from promlake.promql2sql import ParseError, parse_expr
from promlake.promql2sql.ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    DurationExpr,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
)
from promlake.promql2sql.printer import to_string


def shape(node: Expr) -> str:
    """Every binary and unary node in parentheses; modifiers shown compactly."""
    if isinstance(node, BinaryExpr):
        return f"({shape(node.lhs)} {node.op} {shape(node.rhs)})"
    if isinstance(node, UnaryExpr):
        return f"({node.op}{shape(node.expr)})"
    if isinstance(node, ParenExpr):
        return shape(node.expr)
    if isinstance(node, NumberLiteral):
        return to_string(node)
    if isinstance(node, VectorSelector):
        mods = f" offset {node.offset_ms}" if node.offset_ms else ""
        mods += f" offset[{dshape(node.offset_expr)}]" if node.offset_expr else ""
        mods += f" @{node.timestamp_ms}" if node.timestamp_ms is not None else ""
        return f"{node.name}{mods}" if mods else node.name
    if isinstance(node, MatrixSelector):
        return f"{shape(node.vector_selector)}[{node.range_ms}]"
    if isinstance(node, SubqueryExpr):
        return f"{shape(node.expr)}[{node.range_ms}:{node.step_ms}]"
    if isinstance(node, Call):
        return f"{node.func.name}({', '.join(shape(a) for a in node.args)})"
    if isinstance(node, AggregateExpr):
        return f"{node.op}({shape(node.expr)})"
    return to_string(node)


def dshape(node: NumberLiteral | DurationExpr) -> str:
    if isinstance(node, NumberLiteral):
        return to_string(node)
    if node.lhs is None and node.rhs is None:
        return f"{node.op}()"
    if node.lhs is None:
        assert node.rhs is not None
        return f"({node.op}{dshape(node.rhs)})" if node.op == "-" else dshape(node.rhs)
    assert node.rhs is not None
    if node.op in ("min_of", "max_of"):
        return f"{node.op}({dshape(node.lhs)}, {dshape(node.rhs)})"
    return f"({dshape(node.lhs)} {node.op} {dshape(node.rhs)})"


CASES = [
    # precedence levels: or < and/unless < comparisons < +- < */%atan2 < ^
    ("a or b and c", "(a or (b and c))"),
    ("a and b or c", "((a and b) or c)"),
    ("a unless b and c", "((a unless b) and c)"),
    ("a and b == c", "(a and (b == c))"),
    ("a == b + c", "(a == (b + c))"),
    ("a + b * c", "(a + (b * c))"),
    ("a * b + c", "((a * b) + c)"),
    ("a % b atan2 c", "((a % b) atan2 c)"),
    ("a + b atan2 c", "(a + (b atan2 c))"),
    ("a * b ^ c", "(a * (b ^ c))"),
    ("a </ b + c", "(a </ (b + c))"),
    ("a >/ b == c", "((a >/ b) == c)"),
    # associativity: left everywhere except ^
    ("a - b - c", "((a - b) - c)"),
    ("a / b / c", "((a / b) / c)"),
    ("a == b != c", "((a == b) != c)"),
    ("a ^ b ^ c", "(a ^ (b ^ c))"),
    ("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))"),
    # unary minus binds like "*": looser than "^", tighter than "+"
    ("-a ^ b", "(-(a ^ b))"),
    ("-a * b", "((-a) * b)"),
    ("-a + b", "((-a) + b)"),
    ("a ^ -b", "(a ^ (-b))"),
    ("a ^ -b ^ c", "(a ^ (-(b ^ c)))"),
    ("a * -b + c", "((a * (-b)) + c)"),
    ("- - a", "(-(-a))"),
    ("-1 ^ 2", "(-(1 ^ 2))"),
    ("-2", "-2"),
    ("- -2", "2"),
    ("+-+1", "-1"),
    # postfix modifiers bind tightest
    ("-a offset 5m", "(-a offset 300000)"),
    ("a + b offset 5m", "(a + b offset 300000)"),
    ("a + sum_over_time(b[5m:1m])", "(a + sum_over_time(b[300000:60000]))"),
    ("a + b @ 10", "(a + b @10000)"),
    ("rate(a[5m])[10m:1m]", "rate(a[300000])[600000:60000]"),
    # offset takes a single duration operand unless it starts with "("
    ("a offset 5m * 2", "(a offset 300000 * 2)"),
    ("a offset 100 + 2", "(a offset 100000 + 2)"),
    ("a offset -2 ^ 2", "(a offset -2000 ^ 2)"),
    ("a offset step() * 0", "(a offset[step()] * 0)"),
    ("a offset -step() * 2", "(a offset[(-step())] * 2)"),
    ("a offset (1m) + 5", "a offset[(1m + 5)]"),
    ("a offset -(1m) + 5", "(a offset[(-1m)] + 5)"),
    ("a offset min_of(step(), 1s) + 8000", "(a offset[min_of(step(), 1s)] + 8000)"),
    ("a offset (2 ^ 2)", "a offset[(2 ^ 2)]"),
    # bool and grouping modifiers belong to the operator, not the operand
    ("a > bool b + c", "(a > (b + c))"),
    ("a + on(x) group_left (y) b", "(a + b)"),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[c[0] for c in CASES])
def test_shape(query: str, expected: str) -> None:
    assert shape(parse_expr(query)) == expected


def test_duration_arithmetic_precedence() -> None:
    tree = parse_expr("x[1m + 2m * 3 ^ 2 ^ 1 - -1m]")
    assert isinstance(tree, MatrixSelector) and tree.range_expr is not None
    assert dshape(tree.range_expr) == "((1m + (2m * (3 ^ (2 ^ 1)))) - -1m)"
    tree = parse_expr("x[-(1m + 2m) * 2]")
    assert isinstance(tree, MatrixSelector) and tree.range_expr is not None
    assert dshape(tree.range_expr) == "((-(1m + 2m)) * 2)"


def test_postfix_binds_to_the_closest_operand() -> None:
    # "-a[5m]" negates the range selector, which the type check then rejects.
    with pytest.raises(ParseError, match='got "range vector"'):
        parse_expr("-a[5m]")


def test_group_left_labels_then_parenthesised_operand() -> None:
    tree = parse_expr("a - on(b) group_left (c) (d)")
    assert isinstance(tree, BinaryExpr) and tree.matching is not None
    assert tree.matching.include == ("c",)
    assert isinstance(tree.rhs, ParenExpr)
