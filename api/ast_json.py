"""``/api/v1/parse_query``: a PromQL tree as the JSON upstream's ``translateAST`` writes.

The shape is the one Prometheus's web UI tree view reads (``web/api/v1/translate_ast.go``):
one object per node with a ``type`` key; durations in milliseconds; ``matchers`` as
``{name, type, value}``; ``startOrEnd`` ``"start"``/``"end"``/null; ``timestamp`` ms or null.
Duration *expressions* (``[5m+step()]``) have no field upstream: their range reads 0 there too.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from promlake.promql2sql.ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    DurationExpr,
    Expr,
    Matcher,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
)
from promlake.promql2sql.gostr import format_float_f


@singledispatch
def translate(node: Expr) -> dict[str, Any]:
    raise TypeError(f"unsupported node type {type(node).__name__}")


def _matchers(matchers: tuple[Matcher, ...]) -> list[dict[str, str]]:
    return [{"name": m.name, "value": m.value, "type": m.op} for m in matchers]


@translate.register
def _(node: AggregateExpr) -> dict[str, Any]:
    return {
        "type": "aggregation",
        "op": node.op,
        "expr": translate(node.expr),
        "param": translate(node.param) if node.param is not None else None,
        "grouping": list(node.grouping),
        "without": node.without,
    }


@translate.register
def _(node: BinaryExpr) -> dict[str, Any]:
    # Chains like "a or b or ..." can be thousands deep: walk the left spine with a loop.
    spine: list[BinaryExpr] = []
    left: Expr = node
    while isinstance(left, BinaryExpr):
        spine.append(left)
        left = left.lhs
    out = translate(left)
    for link in reversed(spine):
        matching = None
        if link.matching is not None:
            m = link.matching
            matching = {
                "card": m.card.value,
                "labels": list(m.matching_labels),
                "on": m.on,
                "include": list(m.include),
                "fillValues": {"lhs": m.fill_lhs, "rhs": m.fill_rhs},
            }
        out = {
            "type": "binaryExpr",
            "op": link.op,
            "lhs": out,
            "rhs": translate(link.rhs),
            "matching": matching,
            "bool": link.return_bool,
        }
    return out


@translate.register
def _(node: Call) -> dict[str, Any]:
    f = node.func
    return {
        "type": "call",
        "func": {
            "name": f.name,
            "argTypes": [t.value for t in f.arg_types],
            "variadic": f.variadic,
            "returnType": f.return_type.value,
        },
        "args": [translate(a) for a in node.args],
    }


@translate.register
def _(node: MatrixSelector) -> dict[str, Any]:
    vs = node.vector_selector
    return {
        "type": "matrixSelector",
        "name": vs.name,
        "range": node.range_ms,
        "offset": vs.offset_ms,
        "matchers": _matchers(vs.matchers),
        "timestamp": vs.timestamp_ms,
        "startOrEnd": vs.at,
        "anchored": vs.anchored,
        "smoothed": vs.smoothed,
    }


@translate.register
def _(node: SubqueryExpr) -> dict[str, Any]:
    return {
        "type": "subquery",
        "expr": translate(node.expr),
        "range": node.range_ms,
        "offset": node.offset_ms,
        "step": node.step_ms,
        "timestamp": node.timestamp_ms,
        "startOrEnd": node.at,
        "alignEvalTime": False,
    }


@translate.register
def _(node: NumberLiteral) -> dict[str, Any]:
    return {"type": "numberLiteral", "val": format_float_f(node.value)}


@translate.register
def _(node: ParenExpr) -> dict[str, Any]:
    return {"type": "parenExpr", "expr": translate(node.expr)}


@translate.register
def _(node: StringLiteral) -> dict[str, Any]:
    return {"type": "stringLiteral", "val": node.value}


@translate.register
def _(node: UnaryExpr) -> dict[str, Any]:
    return {"type": "unaryExpr", "op": node.op, "expr": translate(node.expr)}


@translate.register
def _(node: VectorSelector) -> dict[str, Any]:
    return {
        "type": "vectorSelector",
        "name": node.name,
        "offset": node.offset_ms,
        "matchers": _matchers(node.matchers),
        "timestamp": node.timestamp_ms,
        "startOrEnd": node.at,
        "anchored": node.anchored,
        "smoothed": node.smoothed,
    }


@translate.register
def _(node: DurationExpr) -> dict[str, Any]:
    # Only reachable inside [..]/offset, which translateAST never visits.
    return {"type": "numberLiteral", "val": "0"}
