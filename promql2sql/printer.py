"""Canonical PromQL text for a tree, as Prometheus's ``Expr.String()`` writes it.

>>> from promlake.promql2sql.parser import parse_expr
>>> to_string(parse_expr('sum by(job)(rate(http_requests_total{code=~"5..", job="api"}[5m]))'))
'sum by (job) (rate(http_requests_total{code=~"5..",job="api"}[5m]))'

Parsing the output gives back an equal tree (positions aside).  Matchers are
sorted, grouping keywords and modifiers are normalised, and literals are
re-spelled (``+Inf``, durations in the largest exact units).
"""

from __future__ import annotations

import math
from functools import singledispatch

from .ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    Cardinality,
    DurationExpr,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
)
from .durations import format_duration
from .gostr import format_float_f, format_float_g, go_quote

__all__ = ["prettify", "to_string"]

_LEGACY_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_LEGACY_REST = _LEGACY_START | set("0123456789")


def _label(name: str) -> str:
    # Label names outside the legacy charset are quoted (UTF-8 label names).
    legacy = bool(name) and name[0] in _LEGACY_START and all(ch in _LEGACY_REST for ch in name)
    return name if legacy else go_quote(name)


def _labels(names: tuple[str, ...]) -> str:
    return ", ".join(_label(name) for name in names)


def _offset(offset_ms: int, offset_expr: DurationExpr | None) -> str:
    if offset_expr is not None:
        return " offset " + to_string(offset_expr)
    if offset_ms == 0:
        return ""
    return " offset " + format_duration(offset_ms)


def _at(timestamp_ms: int | None, at: str | None) -> str:
    if timestamp_ms is not None:
        return f" @ {timestamp_ms / 1000.0:.3f}"
    if at is not None:
        return f" @ {at}()"
    return ""


@singledispatch
def to_string(node: Expr) -> str:
    """The PromQL text of ``node``."""
    raise TypeError(f"cannot print {type(node).__name__}")


@to_string.register
def _(node: NumberLiteral) -> str:
    if node.duration and math.isfinite(node.value):
        # model.Duration(v*1e9).String(): nanoseconds truncated, printed in whole ms.
        text = format_duration(int(abs(node.value) * 1e9) // 1_000_000)
        return "-" + text if node.value < 0 else text
    return format_float_f(node.value)


@to_string.register
def _(node: StringLiteral) -> str:
    return go_quote(node.value)


@to_string.register
def _(node: ParenExpr) -> str:
    return f"({to_string(node.expr)})"


@to_string.register
def _(node: UnaryExpr) -> str:
    return node.op + to_string(node.expr)


@to_string.register
def _(node: Call) -> str:
    return f"{node.func.name}({', '.join(to_string(arg) for arg in node.args)})"


@to_string.register
def _(node: AggregateExpr) -> str:
    head = node.op
    if node.without:
        head += f" without ({_labels(node.grouping)}) "
    elif node.grouping:
        head += f" by ({_labels(node.grouping)}) "
    param = f"{to_string(node.param)}, " if node.param is not None else ""
    return f"{head}({param}{to_string(node.expr)})"


def _matching(vm: VectorMatching | None) -> str:
    if vm is None:
        return ""
    out = ""
    grouped = vm.card in (Cardinality.MANY_TO_ONE, Cardinality.ONE_TO_MANY)
    if vm.matching_labels or vm.on or grouped:
        out += f" {'on' if vm.on else 'ignoring'} ({_labels(vm.matching_labels)})"
    if grouped:
        side = "left" if vm.card is Cardinality.MANY_TO_ONE else "right"
        out += f" group_{side} ({_labels(vm.include)})"
    lhs, rhs = vm.fill_lhs, vm.fill_rhs
    # Go compares the two floats with ==, so fill(NaN) prints as fill_left/fill_right.
    if lhs is not None and rhs is not None and lhs == rhs:
        out += f" fill ({format_float_g(lhs)})"
    else:
        if lhs is not None:
            out += f" fill_left ({format_float_g(lhs)})"
        if rhs is not None:
            out += f" fill_right ({format_float_g(rhs)})"
    return out


def _operator(node: BinaryExpr) -> str:
    return node.op + (" bool" if node.return_bool else "") + _matching(node.matching)


def _left_spine(node: BinaryExpr) -> tuple[Expr, list[BinaryExpr]]:
    """The leftmost operand of a left-deep chain and its links, innermost first."""
    links: list[BinaryExpr] = []
    current: Expr = node
    while isinstance(current, BinaryExpr):
        links.append(current)
        current = current.lhs
    links.reverse()
    return current, links


@to_string.register
def _(node: BinaryExpr) -> str:
    # Iterative over the left spine: "a or b or ..." may have thousands of terms.
    leftmost, links = _left_spine(node)
    parts = [to_string(leftmost)]
    for link in links:
        parts.append(f" {_operator(link)} {to_string(link.rhs)}")
    return "".join(parts)


@to_string.register
def _(node: DurationExpr) -> str:
    if node.op in ("step", "range"):
        text = f"{node.op}()"
    elif node.op in ("min_of", "max_of"):
        assert node.lhs is not None and node.rhs is not None
        text = f"{node.op}({to_string(node.lhs)}, {to_string(node.rhs)})"
    elif node.lhs is None:
        assert node.rhs is not None
        # Unary: "-x"; a unary "+" only exists to carry parentheses.
        text = ("-" if node.op == "-" else "") + to_string(node.rhs)
    else:
        assert node.rhs is not None
        text = f"{to_string(node.lhs)} {node.op} {to_string(node.rhs)}"
    return f"({text})" if node.wrapped else text


def _selector_body(node: VectorSelector) -> str:
    parts = sorted(
        str(m)
        for m in node.matchers
        # The name matcher implied by the metric name is not repeated in braces.
        if not (m.name == "__name__" and m.op == "=" and m.value == node.name and m.value != "")
    )
    return node.name + ("{" + ",".join(parts) + "}" if parts else "")


def _extended(node: VectorSelector) -> str:
    if node.anchored:
        return " anchored"
    if node.smoothed:
        return " smoothed"
    return ""


@to_string.register
def _(node: VectorSelector) -> str:
    return (
        _selector_body(node)
        + _at(node.timestamp_ms, node.at)
        + _extended(node)
        + _offset(node.offset_ms, node.offset_expr)
    )


def _range(range_ms: int, range_expr: DurationExpr | None) -> str:
    return to_string(range_expr) if range_expr is not None else format_duration(range_ms)


@to_string.register
def _(node: MatrixSelector) -> str:
    vs = node.vector_selector
    return (
        f"{_selector_body(vs)}[{_range(node.range_ms, node.range_expr)}]"
        + _extended(vs)
        + _at(vs.timestamp_ms, vs.at)
        + _offset(vs.offset_ms, vs.offset_expr)
    )


@to_string.register
def _(node: SubqueryExpr) -> str:
    step = ""
    if node.step_ms != 0:
        step = format_duration(node.step_ms)
    elif node.step_expr is not None:
        step = to_string(node.step_expr)
    return (
        f"{to_string(node.expr)}[{_range(node.range_ms, node.range_expr)}:{step}]"
        + _at(node.timestamp_ms, node.at)
        + _offset(node.offset_ms, node.offset_expr)
    )


# --- format_query ------------------------------------------------------------------

_MAX_LINE = 100  # upstream's maxCharactersPerLine


def _needs_split(node: Expr, width: int) -> bool:
    # Upstream measures the one-line form in bytes.
    return len(to_string(node).encode("utf-8", "surrogateescape")) > width


def _group_head(node: AggregateExpr) -> str:
    if node.without:
        return f"{node.op} without ({_labels(node.grouping)}) "
    if node.grouping:
        return f"{node.op} by ({_labels(node.grouping)}) "
    return node.op


def _pretty(node: Expr, level: int, width: int) -> str:
    pad = "  " * level
    if isinstance(node, SubqueryExpr):
        # Upstream does not indent a subquery that fits on one line.
        if not _needs_split(node, width):
            return to_string(node)
        suffix = to_string(node)[len(to_string(node.expr)) :]
        return _pretty(node.expr, level, width) + suffix
    if isinstance(node, UnaryExpr):
        return pad + node.op + _pretty(node.expr, level, width).strip()
    if not isinstance(node, AggregateExpr | BinaryExpr | Call | ParenExpr) or not _needs_split(node, width):
        return pad + to_string(node)
    if isinstance(node, AggregateExpr):
        param = _pretty(node.param, level + 1, width) + ",\n" if node.param is not None else ""
        return f"{pad}{_group_head(node)}(\n{param}{_pretty(node.expr, level + 1, width)}\n{pad})"
    if isinstance(node, BinaryExpr):
        return _pretty_chain(node, level, width)
    if isinstance(node, Call):
        args = ",\n".join(_pretty(arg, level + 1, width) for arg in node.args)
        return f"{pad}{node.func.name}(\n{args}\n{pad})"
    return f"{pad}(\n{_pretty(node.expr, level + 1, width)}\n{pad})"


def _pretty_chain(node: BinaryExpr, level: int, width: int) -> str:
    """A split binary expression, walking its left spine with a loop.

    Upstream re-prints every sub-chain to measure it, which is quadratic; the
    one-line length of each prefix of the chain is summed up here instead.
    """
    leftmost, links = _left_spine(node)  # innermost link first
    leaf = to_string(leftmost)
    suffixes = [f" {_operator(link)} {to_string(link.rhs)}" for link in links]
    lengths: list[int] = []
    total = len(leaf.encode("utf-8", "surrogateescape"))
    for suffix in suffixes:
        total += len(suffix.encode("utf-8", "surrogateescape"))
        lengths.append(total)
    # Links that are split, from the outside in; the outermost always is.
    split = len(links) - 1
    while split > 0 and lengths[split - 1] > width:
        split -= 1
    inner_level = level + len(links) - split
    if split == 0:
        parts = [_pretty(leftmost, inner_level, width)]
    else:
        parts = ["  " * inner_level, leaf, *suffixes[:split]]
    for index in range(split, len(links)):
        link_level = level + len(links) - 1 - index
        rhs = _pretty(links[index].rhs, link_level + 1, width)
        parts.extend(("\n", "  " * link_level, _operator(links[index]), "\n", rhs))
    return "".join(parts)


def prettify(node: Expr, width: int = _MAX_LINE) -> str:
    """Multi-line layout of ``/api/v1/format_query`` (upstream's ``Prettify``).

    A node whose one-line form exceeds ``width`` (100) characters is split,
    its children indented two spaces per level.
    """
    return _pretty(node, 0, width)
