"""Aggregation operators: group keys once per series, then one GROUP BY (group, step).

Grouping labels are a MAP projection of each series' labels (``by`` keeps the listed names,
``without`` drops them and ``__name__``), computed per series; groups get a dense key, and
points aggregate by (group, t). ``topk``/``bottomk``/``limitk`` keep input series instead.
NaN follows Go: min/max skip NaN unless every value is NaN (aggregation.go).
"""

from __future__ import annotations

import sqlglot.expressions as exp

from .. import plan as p
from ..errors import ExecutionError
from .context import Compiler, Scal, Timeline, Vec, handles, table, tmpl
from .range_functions import _snippet

SIMPLE = {
    "sum": "fsum(v)",
    "avg": "fsum(v) / count(v)",
    "count": "count(v)::DOUBLE",
    "group": "1.0",
    "min": "coalesce(min(v) FILTER (WHERE NOT isnan(v)), 'nan'::DOUBLE)",
    "max": "coalesce(max(v) FILTER (WHERE NOT isnan(v)), 'nan'::DOUBLE)",
    "stddev": "stddev_pop(v)",
    "stdvar": "var_pop(v)",
}


def group_labels(a: p.Aggregate) -> exp.Expression:
    names = exp.Array(expressions=[exp.Literal.string(n) for n in a.grouping])
    if a.without:
        names = exp.Array(expressions=[*names.expressions, exp.Literal.string("__name__")])
        return tmpl("map_from_entries(list_filter(map_entries(labels), lambda e: NOT list_contains(:n, e.key)))", n=names)
    return tmpl("map_from_entries(list_filter(map_entries(labels), lambda e: list_contains(:n, e.key)))", n=names)


@handles(p.Aggregate)
def aggregate(c: Compiler, node: p.Aggregate, tl: Timeline) -> Vec:
    arg = c.compile(node.arg, tl)
    assert isinstance(arg, Vec)
    groups = c.cte(
        tmpl("SELECT sk, :g AS glabels, hash(:g) AS gk FROM :s", g=group_labels(node), s=table(arg.series)),
        "groups",
    )
    if node.op in SIMPLE:
        value = _snippet(SIMPLE[node.op])
        body = tmpl(
            "SELECT g.gk AS sk, x.t, :value AS v FROM :points AS x JOIN :groups AS g ON g.sk = x.sk GROUP BY g.gk, x.t",
            value=value, points=table(arg.points), groups=table(groups),
        )  # fmt: skip
        series = c.cte(
            tmpl("SELECT DISTINCT gk AS sk, glabels AS labels, FALSE AS drop_name FROM :g", g=table(groups)), "series"
        )
        return Vec(c.cte(body, node.op), series)
    if node.op in ("topk", "bottomk", "limitk"):
        return _k_selection(c, node, arg, groups, tl)
    if node.op == "quantile":
        return _quantile(c, node, arg, groups, tl)
    raise ExecutionError(f"aggregation {node.op} is not supported by the DuckDB backend yet")


def _param(c: Compiler, node: p.Aggregate, tl: Timeline) -> str:
    assert node.param is not None
    rel = c.compile(node.param, tl)
    assert isinstance(rel, Scal)
    return rel.points


_K_ORDER = {
    # NaN sorts last for both topk and bottomk (Go's comparisons never prefer it).
    "topk": "isnan(x.v), x.v DESC",
    "bottomk": "isnan(x.v), x.v ASC",
    "limitk": "x.sk",
}


def _k_selection(c: Compiler, node: p.Aggregate, arg: Vec, groups: str, tl: Timeline) -> Vec:
    k = _param(c, node, tl)
    order = _snippet(f"SELECT 1 ORDER BY {_K_ORDER[node.op]}").args["order"]
    rank = exp.Window(
        this=exp.func("row_number"), partition_by=[exp.column("gk", "g"), exp.column("t", "x")], order=order
    )
    ranked = tmpl(
        "SELECT x.sk, x.t, x.v, k.v AS k FROM :points AS x JOIN :groups AS g ON g.sk = x.sk JOIN :k AS k ON k.t = x.t",
        points=table(arg.points), groups=table(groups), k=table(k),
    ).select(rank.as_("rn"))  # type: ignore[attr-defined]
    body = exp.select("sk", "t", "v").from_(ranked.subquery()).where("rn <= k")
    return Vec(c.cte(body, node.op), arg.series)


def _quantile(c: Compiler, node: p.Aggregate, arg: Vec, groups: str, tl: Timeline) -> Vec:
    q = _param(c, node, tl)
    body = tmpl(
        "SELECT g.gk AS sk, x.t, CASE WHEN isnan(any_value(q.v)) THEN 'nan'::DOUBLE "
        "WHEN any_value(q.v) < 0 THEN '-inf'::DOUBLE WHEN any_value(q.v) > 1 THEN 'inf'::DOUBLE "
        "ELSE quantile_cont(x.v, any_value(q.v)) END AS v "
        "FROM :points AS x JOIN :groups AS g ON g.sk = x.sk JOIN :q AS q ON q.t = x.t GROUP BY g.gk, x.t",
        points=table(arg.points), groups=table(groups), q=table(q),
    )  # fmt: skip
    series = c.cte(
        tmpl("SELECT DISTINCT gk AS sk, glabels AS labels, FALSE AS drop_name FROM :g", g=table(groups)), "series"
    )
    return Vec(c.cte(body, "quantile"), series)
