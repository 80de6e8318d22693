"""Binary operators: scalar/scalar, vector/scalar, set operators; vector matching in ``matching``.

Values follow Go's float rules, not SQL's: a comparison with NaN is false (``!=`` true; DuckDB
orders NaN above everything and calls NaN = NaN true), ``%`` is Go's ``math.Mod`` (DuckDB's
``%`` on DOUBLE is C's fmod: the sign of the dividend, NaN for a zero divisor), ``^`` is
``math.Pow`` and ``/`` gives ±Inf or NaN for a zero divisor.

Names (``VectorscalarBinop``): arithmetic and ``bool`` mark the name for delayed removal; a
filtering comparison keeps the vector's element, value and pending drop as they are. The set
operators (``VectorAnd``/``VectorOr``/``VectorUnless``) compare signatures per step and pass
samples through unchanged.
"""

from __future__ import annotations

import sqlglot.expressions as exp

from .. import plan as p
from ..ast import VectorMatching
from ..errors import ExecutionError
from .context import Compiler, Scal, Timeline, Vec, handles, table, tmpl
from .matching import ARITHMETIC, keyed_points, keyed_series, vector_binop
from .range_functions import _snippet

COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
SET_OPS = {"and", "or", "unless"}

_ARITH = {
    "+": "a + b",
    "-": "a - b",
    "*": "a * b",
    "/": "a / b",
    "%": "a % b",
    "^": "pow(a, b)",
    "atan2": "atan2(a, b)",
}
_CMP = {
    "==": "NOT isnan(a) AND NOT isnan(b) AND a = b",
    "!=": "isnan(a) OR isnan(b) OR a <> b",
    ">": "NOT isnan(a) AND NOT isnan(b) AND a > b",
    "<": "NOT isnan(a) AND NOT isnan(b) AND a < b",
    ">=": "NOT isnan(a) AND NOT isnan(b) AND a >= b",
    "<=": "NOT isnan(a) AND NOT isnan(b) AND a <= b",
}
assert set(_ARITH) == ARITHMETIC


def op_expr(op: str, a: exp.Expression, b: exp.Expression) -> exp.Expression:
    """The value of an arithmetic operator, or the condition of a comparison, over a and b."""
    snippet = _ARITH.get(op) or _CMP[op]
    return _snippet(snippet).transform(
        lambda n: (
            (a.copy() if n.name == "a" else b.copy())
            if isinstance(n, exp.Column) and n.name in ("a", "b")
            else n
        )
    )


@handles(p.Binary)
def binary(c: Compiler, node: p.Binary, tl: Timeline) -> Vec | Scal:
    lhs, rhs = c.compile(node.lhs, tl), c.compile(node.rhs, tl)
    if isinstance(lhs, Scal) and isinstance(rhs, Scal):
        return _scalar_scalar(c, node, lhs, rhs)
    if isinstance(lhs, Vec) and isinstance(rhs, Vec):
        if node.op in SET_OPS:
            return _set_op(c, node, lhs, rhs)
        return vector_binop(c, node, lhs, rhs, lambda a, b: op_expr(node.op, a, b))
    if isinstance(lhs, Vec) and isinstance(rhs, Scal):
        return _vector_scalar(c, node, lhs, rhs, swapped=False)
    if isinstance(lhs, Scal) and isinstance(rhs, Vec):
        return _vector_scalar(c, node, rhs, lhs, swapped=True)
    raise ExecutionError(f"binary operator {node.op} is not defined for these operand types")


def _scalar_scalar(c: Compiler, node: p.Binary, lhs: Scal, rhs: Scal) -> Scal:
    a, b = exp.column("v", "l"), exp.column("v", "r")
    value = op_expr(node.op, a, b)
    if node.op in COMPARISONS:
        value = exp.cast(value, "DOUBLE")  # scalar comparisons always use bool (scalarBinop)
    body = (
        exp.select("l.t", value.as_("v"))
        .from_(exp.to_table(lhs.points).as_("l"))
        .join(exp.to_table(rhs.points).as_("r"), on="l.t = r.t")
    )
    return Scal(c.cte(body, "binop"))


def _vector_scalar(c: Compiler, node: p.Binary, vec: Vec, sc: Scal, swapped: bool) -> Vec:
    x, s = exp.column("v", "x"), exp.column("v", "s")
    a, b = (s, x) if swapped else (x, s)
    cond_or_value = op_expr(node.op, a, b)
    source = (
        exp.select("x.sk", "x.t")
        .from_(exp.to_table(vec.points).as_("x"))
        .join(exp.to_table(sc.points).as_("s"), on="x.t = s.t")
    )
    if node.op not in COMPARISONS:
        body = source.select(cond_or_value.as_("v"))
        drop: exp.Expression = exp.true()
    elif node.return_bool:
        body = source.select(exp.cast(cond_or_value, "DOUBLE").as_("v"))
        drop = exp.true()
    else:
        # The vector element's value is kept, whichever side the scalar was on.
        body = source.select(x.as_("v")).where(cond_or_value)
        return Vec(c.cte(body, "binop"), vec.series)
    series = c.cte(exp.select("sk", "labels", drop.as_("drop_name")).from_(vec.series), "series")
    return Vec(c.cte(body, "binop"), series)


def _set_op(c: Compiler, node: p.Binary, lhs: Vec, rhs: Vec) -> Vec:
    m = node.matching or VectorMatching()
    kl = keyed_points(c, lhs, keyed_series(c, lhs, m, "l"), "l")
    kr = keyed_points(c, rhs, keyed_series(c, rhs, m, "r"), "r")
    if node.op in ("and", "unless"):
        # VectorAnd / VectorUnless: left samples whose signature is (not) on the right at t.
        exists = tmpl("EXISTS (SELECT 1 FROM :r AS r WHERE r.kh = l.kh AND r.t = l.t)", r=table(kr))
        cond = exists if node.op == "and" else exp.Not(this=exists)
        body = exp.select("l.sk", "l.t", "l.v").from_(exp.to_table(kl).as_("l")).where(cond)
        return Vec(c.cte(body, node.op), lhs.series)
    # VectorOr: every left sample, plus right samples whose signature is absent on the left.
    # Series are re-keyed by label set (one label set is one series, as in rangeEval); a
    # label set on both sides keeps the left side's pending name drop.
    rekey = "SELECT hash(labels) AS sk, sk AS old, labels, drop_name FROM :s"
    ls = c.cte(tmpl(rekey, s=table(lhs.series)), "rekey_l")
    rs = c.cte(tmpl(rekey, s=table(rhs.series)), "rekey_r")
    body = tmpl(
        "SELECT s.sk, l.t, l.v FROM :kl AS l JOIN :ls AS s ON s.old = l.sk "
        "UNION ALL SELECT s.sk, r.t, r.v FROM :kr AS r JOIN :rs AS s ON s.old = r.sk "
        "WHERE NOT EXISTS (SELECT 1 FROM :kl AS l WHERE l.kh = r.kh AND l.t = r.t)",
        kl=table(kl), ls=table(ls), kr=table(kr), rs=table(rs),
    )  # fmt: skip
    series = tmpl(
        "SELECT sk, any_value(labels) AS labels, arg_min(drop_name, side) AS drop_name FROM ("
        "SELECT sk, labels, drop_name, 0 AS side FROM :ls UNION ALL "
        "SELECT sk, labels, drop_name, 1 AS side FROM :rs) GROUP BY sk",
        ls=table(ls), rs=table(rs),
    )  # fmt: skip
    return Vec(c.cte(body, "or"), c.cte(series, "series"))
