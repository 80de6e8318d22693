"""Binary operators: scalar/scalar, vector/scalar and vector/vector with matching.

Values follow Go's float rules, not SQL's: a comparison with NaN is false (``!=`` true), and
``%`` is Go's ``math.Mod`` (the sign of the dividend). Matching keys are computed once per
series (``on``/``ignoring`` projections of the label MAP); points then join on (key, t).
Vector matching errors (duplicate series in a match group) are checked by assertion
queries the engine runs with the main query (``Compiler.assertions``).
"""

from __future__ import annotations

import sqlglot.expressions as exp

from .. import plan as p
from ..ast import Cardinality, VectorMatching
from ..errors import ExecutionError
from .context import Compiler, Scal, Timeline, Vec, handles, table, tmpl
from .range_functions import _snippet

COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
SET_OPS = {"and", "or", "unless"}

_ARITH = {
    "+": "a + b",
    "-": "a - b",
    "*": "a * b",
    "/": "a / b",
    "%": "CASE WHEN b = 0 OR isinf(a) OR isnan(a) OR isnan(b) THEN 'nan'::DOUBLE "
    "WHEN isinf(b) THEN a ELSE a - b * trunc(a / b) END",
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


def _expr(op: str, a: exp.Expression, b: exp.Expression) -> exp.Expression:
    snippet = _ARITH.get(op) or _CMP[op]
    return _snippet(snippet).transform(
        lambda n: (a.copy() if n.name == "a" else b.copy()) if isinstance(n, exp.Column) and n.name in ("a", "b") else n
    )


@handles(p.Binary)
def binary(c: Compiler, node: p.Binary, tl: Timeline) -> Vec | Scal:
    lhs, rhs = c.compile(node.lhs, tl), c.compile(node.rhs, tl)
    if isinstance(lhs, Scal) and isinstance(rhs, Scal):
        return _scalar_scalar(c, node, lhs, rhs)
    if isinstance(lhs, Vec) and isinstance(rhs, Vec):
        if node.op in SET_OPS:
            return _set_op(c, node, lhs, rhs)
        return _vector_vector(c, node, lhs, rhs)
    if isinstance(lhs, Vec) and isinstance(rhs, Scal):
        return _vector_scalar(c, node, lhs, rhs, swapped=False)
    if isinstance(lhs, Scal) and isinstance(rhs, Vec):
        return _vector_scalar(c, node, rhs, lhs, swapped=True)
    raise ExecutionError(f"binary operator {node.op} is not defined for these operand types")


def _scalar_scalar(c: Compiler, node: p.Binary, lhs: Scal, rhs: Scal) -> Scal:
    a, b = exp.column("v", "l"), exp.column("v", "r")
    value = _expr(node.op, a, b)
    if node.op in COMPARISONS:
        value = exp.cast(value, "DOUBLE")  # scalar comparisons always use bool
    body = exp.select("l.t", value.as_("v")).from_(exp.to_table(lhs.points).as_("l")).join(
        exp.to_table(rhs.points).as_("r"), on="l.t = r.t"
    )
    return Scal(c.cte(body, "binop"))


def _vector_scalar(c: Compiler, node: p.Binary, vec: Vec, sc: Scal, swapped: bool) -> Vec:
    x, s = exp.column("v", "x"), exp.column("v", "s")
    a, b = (s, x) if swapped else (x, s)
    cond_or_value = _expr(node.op, a, b)
    source = exp.select("x.sk", "x.t").from_(exp.to_table(vec.points).as_("x")).join(
        exp.to_table(sc.points).as_("s"), on="x.t = s.t"
    )
    if node.op not in COMPARISONS:
        body = source.select(cond_or_value.as_("v"))
        drop = exp.true()
    elif node.return_bool:
        body = source.select(exp.cast(cond_or_value, "DOUBLE").as_("v"))
        drop = exp.true()
    else:
        # The vector element's value is kept, whichever side the scalar was on.
        body = source.select(x.as_("v")).where(cond_or_value)
        drop = exp.column("drop_name")
    series = c.cte(exp.select("sk", "labels", drop.as_("drop_name")).from_(vec.series), "series")
    return Vec(c.cte(body, "binop"), series)


def _key(labels: exp.Expression, m: VectorMatching | None) -> exp.Expression:
    """The matching signature of a series as a MAP (entries stay sorted by name)."""
    names = m.matching_labels if m is not None else ()
    on = m.on if m is not None else False
    if on:
        cond = tmpl("list_contains(:names, e.key)", names=exp.Array(expressions=[exp.Literal.string(n) for n in names]))
    else:
        dropped = [*names, "__name__"]
        cond = tmpl(
            "NOT list_contains(:names, e.key)", names=exp.Array(expressions=[exp.Literal.string(n) for n in dropped])
        )
    return tmpl(
        "map_from_entries(list_filter(map_entries(:labels), lambda e: :cond))", labels=labels, cond=cond
    )


def _keyed(c: Compiler, v: Vec, m: VectorMatching | None, side: str) -> str:
    """Points of one side with their series' matching key."""
    body = tmpl(
        "SELECT x.sk, x.t, x.v, :key AS key FROM :points AS x JOIN :series AS s ON s.sk = x.sk",
        key=_key(exp.column("labels", "s"), m), points=table(v.points), series=table(v.series),
    )  # fmt: skip
    return c.cte(body, f"keyed_{side}")


def _set_op(c: Compiler, node: p.Binary, lhs: Vec, rhs: Vec) -> Vec:
    lk, rk = _keyed(c, lhs, node.matching, "l"), _keyed(c, rhs, node.matching, "r")
    exists = tmpl("SELECT 1 FROM :r AS r WHERE r.key = l.key AND r.t = l.t", r=table(rk))
    if node.op in ("and", "unless"):
        cond = exp.Exists(this=exists)
        if node.op == "unless":
            cond = exp.Not(this=cond)
        body = exp.select("l.sk", "l.t", "l.v").from_(exp.to_table(lk).as_("l")).where(cond)
        return Vec(c.cte(body, node.op), lhs.series)
    # or: everything on the left, plus right-hand points whose match group is absent there.
    # Both sides are re-keyed by label set, so one series present on both sides stays one.
    rekey = "SELECT hash(labels, drop_name) AS sk, sk AS old, labels, drop_name FROM :s"
    ls = c.cte(tmpl(rekey, s=table(lhs.series)), "rekey_l")
    rs = c.cte(tmpl(rekey, s=table(rhs.series)), "rekey_r")
    left_absent = tmpl("SELECT 1 FROM :l AS l WHERE l.key = r.key AND l.t = r.t", l=table(lk))
    body = tmpl(
        "SELECT s.sk, l.t, l.v FROM :lk AS l JOIN :ls AS s ON s.old = l.sk "
        "UNION ALL SELECT s.sk, r.t, r.v FROM :rk AS r JOIN :rs AS s ON s.old = r.sk WHERE NOT EXISTS (:absent)",
        lk=table(lk), ls=table(ls), rk=table(rk), rs=table(rs), absent=left_absent,
    )  # fmt: skip
    series = tmpl(
        "SELECT DISTINCT sk, labels, drop_name FROM (SELECT sk, labels, drop_name FROM :ls "
        "UNION ALL SELECT sk, labels, drop_name FROM :rs)",
        ls=table(ls), rs=table(rs),
    )  # fmt: skip
    return Vec(c.cte(body, "or"), c.cte(series, "series"))


def _vector_vector(c: Compiler, node: p.Binary, lhs: Vec, rhs: Vec) -> Vec:
    m = node.matching or VectorMatching()
    if m.card is Cardinality.ONE_TO_MANY:
        # group_right: evaluate as group_left with the operands swapped, then swap back.
        return _matched(c, node, rhs, lhs, m, swapped=True)
    return _matched(c, node, lhs, rhs, m, swapped=False)


def _matched(c: Compiler, node: p.Binary, many: Vec, one: Vec, m: VectorMatching, swapped: bool) -> Vec:
    lk, rk = _keyed(c, many, m, "l"), _keyed(c, one, m, "r")
    grouped = m.card in (Cardinality.MANY_TO_ONE, Cardinality.ONE_TO_MANY)
    side_one = "left" if swapped else "right"
    side_many = "right" if swapped else "left"
    c.assertions.append((
        tmpl("SELECT key::VARCHAR FROM :r GROUP BY key, t HAVING count(*) > 1 LIMIT 1", r=table(rk)),
        f"found duplicate series for the match group {{}} on the {side_one} hand-side of the operation: "
        "many-to-many matching not allowed: matching labels must be unique on one side",
    ))  # fmt: skip
    if not grouped:
        c.assertions.append((
            tmpl("SELECT key::VARCHAR FROM :l GROUP BY key, t HAVING count(*) > 1 LIMIT 1", r=table(lk), l=table(lk)),
            f"found duplicate series for the match group {{}} on the {side_many} hand-side of the operation: "
            "many-to-many matching not allowed: matching labels must be unique on one side",
        ))  # fmt: skip
    a, b = exp.column("v", "l"), exp.column("v", "r")
    if swapped:
        a, b = b, a
    value = _expr(node.op, a, b)
    pairs = exp.select("l.sk AS lsk", "r.sk AS rsk", "l.t").from_(exp.to_table(lk).as_("l")).join(
        exp.to_table(rk).as_("r"), on="l.key = r.key AND l.t = r.t"
    )
    is_cmp = node.op in COMPARISONS
    keep_value = exp.column("v", "r" if swapped else "l")
    if not is_cmp:
        pairs = pairs.select(value.as_("v"))
    elif node.return_bool:
        pairs = pairs.select(exp.cast(value, "DOUBLE").as_("v"))
    else:
        pairs = pairs.select(keep_value.as_("v")).where(value)
    joined = c.cte(pairs, "matched")
    drop = "TRUE" if (not is_cmp or node.return_bool) else "ls.drop_name"
    if not grouped:
        series = c.cte(tmpl(f"SELECT sk, labels, {drop.replace('ls.', '')} AS drop_name FROM :s", s=table(many.series)), "series")
        return Vec(c.cte(tmpl("SELECT lsk AS sk, t, v FROM :j", j=table(joined)), "binop"), series)
    # group_left/right: the "many" side's labels plus the included labels of the "one" side.
    include = exp.Array(expressions=[exp.Literal.string(n) for n in m.include])
    labels = tmpl(
        "map_from_entries(list_sort(list_concat("
        "list_filter(map_entries(ls.labels), lambda e: NOT list_contains(:inc, e.key)), "
        "list_filter(map_entries(rs.labels), lambda e: list_contains(:inc, e.key)))))",
        inc=include,
    )
    pairs_series = tmpl(
        f"SELECT DISTINCT hash(j.lsk, j.rsk) AS sk, :labels AS labels, {drop} AS drop_name "
        "FROM :j AS j JOIN :ms AS ls ON ls.sk = j.lsk JOIN :os AS rs ON rs.sk = j.rsk",
        labels=labels, j=table(joined), ms=table(many.series), os=table(one.series),
    )  # fmt: skip
    series = c.cte(pairs_series, "series")
    return Vec(c.cte(tmpl("SELECT hash(lsk, rsk) AS sk, t, v FROM :j", j=table(joined)), "binop"), series)
