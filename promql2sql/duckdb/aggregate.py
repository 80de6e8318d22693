"""Aggregation operators: group keys once per series, then one GROUP BY (group, step).

Grouping labels are a MAP projection of each series' labels (``by`` keeps the listed names,
``without`` drops them and ``__name__``: generateGroupingLabels in engine.go), computed per
series; groups get a key (the hash of that MAP) and points aggregate by (group, t).
``topk``/``bottomk``/``limitk``/``limit_ratio`` keep input series instead
(``aggregate_select.py``). Float semantics follow ``aggregation()`` in engine.go:

- ``sum``: compensated summation (DuckDB's ``fsum``, like Go's Kahan-Neumaier ``kahansum``:
  an infinite partial sum stays infinite, Inf + -Inf is NaN);
- ``avg``: the direct mean sum/count while the sum stays finite; when it would overflow
  with finite inputs, Go switches to an incremental mean, here the sum is taken over
  values scaled by 2^-64 (exact for doubles) and scaled back, which cannot overflow;
- ``min``/``max`` skip NaN unless every value is NaN;
- ``stddev``/``stdvar``: population variance; Go's Welford recurrence turns any NaN or
  ±Inf input into NaN;
- ``quantile``: Go sorts NaN below every number and interpolates between the two
  neighbouring ranks (``quantile()`` in quantile.go), reproduced on a sorted list.

The parameter (``quantile``'s q, ``topk``'s k, ...) is a scalar expression evaluated per step;
its out-of-range values raise the warnings of rangeEvalAgg once per query.
"""

from __future__ import annotations

import sqlglot.expressions as exp

from .. import plan as p
from ..errors import ExecutionError
from ..gostr import go_quote
from .context import Compiler, Scal, Timeline, Vec, handles, table, tmpl
from .gofloat import go_format_f, go_format_g
from .range_functions import _snippet

# Per (group, step) aggregate of the points ``v`` of its member series.
SIMPLE = {
    "sum": "fsum(v)",
    "avg": "CASE WHEN isfinite(fsum(v)) OR NOT bool_and(isfinite(v)) THEN fsum(v) / count(v) "
    "ELSE fsum(v * 5.421010862427522e-20) / count(v) * 18446744073709551616.0 END",
    "count": "count(v)::DOUBLE",
    "group": "1.0",
    "min": "coalesce(min(v) FILTER (WHERE NOT isnan(v)), 'nan'::DOUBLE)",
    "max": "coalesce(max(v) FILTER (WHERE NOT isnan(v)), 'nan'::DOUBLE)",
    "stddev": "CASE WHEN bool_and(isfinite(v)) THEN stddev_pop(v) ELSE 'nan'::DOUBLE END",
    "stdvar": "CASE WHEN bool_and(isfinite(v)) THEN var_pop(v) ELSE 'nan'::DOUBLE END",
}

# Labels that Prometheus drops at the end when a series is marked to lose its name
# (Labels.DropReserved of metadata labels): only these make ``drop_name`` matter.
_NAME_LABELS = ("__name__", "__type__", "__unit__")


def group_labels(a: p.Aggregate, exclude: tuple[str, ...] = ()) -> exp.Expression:
    """The grouping labels of a series' ``labels`` (generateGroupingLabels)."""
    if a.without:
        names = [*a.grouping, "__name__"]
        keep = False
    else:
        names = [n for n in a.grouping if n not in exclude]
        keep = True
    arr = exp.Array(expressions=[exp.Literal.string(n) for n in names])
    cond = "list_contains(:n, e.key)" if keep else "NOT list_contains(:n, e.key)"
    return tmpl(f"map_from_entries(list_filter(map_entries(labels), lambda e: {cond}))", n=arr)


def keeps_name_labels(a: p.Aggregate) -> bool:
    """Whether the output labels can hold ``__name__``, ``__type__`` or ``__unit__``."""
    return a.without or any(n in _NAME_LABELS for n in a.grouping)


def groups_cte(
    c: Compiler, node: p.Aggregate, arg: Vec, glabels: exp.Expression | None = None, ordered: bool = False
) -> str:
    """(sk, glabels, gk, dn[, ord]): each input series' group and its drop_name flag; with
    ``ordered``, its rank in label order (Go iterates an input vector in that order: ties of
    topk/bottomk and the subset of limitk follow it)."""
    g = glabels if glabels is not None else group_labels(node)
    ord_ = "row_number() OVER (ORDER BY map_entries(labels))" if ordered else "0"
    body = tmpl(
        f"SELECT sk, :g AS glabels, hash(:g) AS gk, drop_name AS dn, {ord_} AS ord FROM :s",
        g=g, s=table(arg.series),
    )  # fmt: skip
    return c.cte(body, "groups")


def grouped_series(c: Compiler, node: p.Aggregate, groups: str, agg: str) -> str:
    """The output series of a grouping aggregation (``agg`` has sk = gk, t, dn per step).

    Go marks an output series to lose its name when any member sample at the step does, the
    last step winning (``ss.DropName = aggr.dropName`` in aggregation()).
    """
    if not keeps_name_labels(node):
        body = tmpl(
            "SELECT DISTINCT gk AS sk, glabels AS labels, FALSE AS drop_name FROM :g", g=table(groups)
        )
        return c.cte(body, "series")
    body = tmpl(
        "SELECT gl.sk, gl.labels, coalesce(d.dn, FALSE) AS drop_name "
        "FROM (SELECT DISTINCT gk AS sk, glabels AS labels FROM :g) AS gl "
        "LEFT JOIN (SELECT sk, arg_max(dn, t) AS dn FROM :a GROUP BY sk) AS d ON d.sk = gl.sk",
        g=table(groups), a=table(agg),
    )  # fmt: skip
    return c.cte(body, "series")


@handles(p.Aggregate)
def aggregate(c: Compiler, node: p.Aggregate, tl: Timeline) -> Vec:
    if node.op == "count_values":
        return _count_values(c, node, tl)
    if node.op in ("topk", "bottomk", "limitk", "limit_ratio"):
        from .aggregate_select import k_selection  # it imports this module's helpers

        return k_selection(c, node, tl)
    arg = c.compile(node.arg, tl)
    assert isinstance(arg, Vec)
    groups = groups_cte(c, node, arg)
    if node.op in SIMPLE:
        value = _snippet(SIMPLE[node.op])
        body = tmpl(
            "SELECT g.gk AS sk, x.t, :value AS v, bool_or(g.dn) AS dn "
            "FROM :points AS x JOIN :groups AS g ON g.sk = x.sk GROUP BY g.gk, x.t",
            value=value, points=table(arg.points), groups=table(groups),
        )  # fmt: skip
        agg = c.cte(body, node.op)
    elif node.op == "quantile":
        agg = _quantile(c, node, arg, groups, tl)
    else:
        raise ExecutionError(f"aggregation {node.op} is not supported by the DuckDB backend yet")
    series = grouped_series(c, node, groups, agg)
    return Vec(c.cte(tmpl("SELECT sk, t, v FROM :a", a=table(agg)), "agg"), series)


def param_points(c: Compiler, node: p.Aggregate, tl: Timeline) -> str:
    """The parameter's (t, v) per step: Go evaluates it as a scalar series (newFParams)."""
    assert node.param is not None
    rel = c.compile(node.param, tl)
    assert isinstance(rel, Scal), "an aggregation parameter is a scalar"
    return rel.points


def warn(c: Compiler, node: p.Aggregate, query: exp.Expression, text: str) -> None:
    """A warning per row of ``query`` (its columns fill ``{}``), cited at the parameter."""
    c.warnings.append((query, f"PromQL warning: {text} ({node.param_pos})"))


def _quantile(c: Compiler, node: p.Aggregate, arg: Vec, groups: str, tl: Timeline) -> str:
    q = param_points(c, node, tl)
    # rangeEvalAgg: one warning for any NaN, else one each for the largest q > 1 and the
    # smallest q < 0 (Go's math.Max/Min over the steps turn any NaN into NaN).
    text = "quantile value should be between 0 and 1, got {}"
    warn(c, node, tmpl("SELECT 'NaN' FROM :q HAVING bool_or(isnan(v))", q=table(q)), text)
    fmt_max, fmt_min = go_format_g(tmpl("max(v)")), go_format_g(tmpl("min(v)"))
    warn(
        c,
        node,
        tmpl("SELECT :f FROM :q HAVING NOT bool_or(isnan(v)) AND max(v) > 1", f=fmt_max, q=table(q)),
        text,
    )
    warn(
        c,
        node,
        tmpl("SELECT :f FROM :q HAVING NOT bool_or(isnan(v)) AND min(v) < 0", f=fmt_min, q=table(q)),
        text,
    )
    # NaN sorts first (vectorByValueHeap.Less), then Go interpolates values[lo] and
    # values[hi] with the same arithmetic (so a NaN or Inf neighbour poisons the result).
    lists = tmpl(
        "SELECT g.gk AS sk, x.t, list(x.v ORDER BY NOT isnan(x.v), x.v) AS vs, bool_or(g.dn) AS dn "
        "FROM :points AS x JOIN :groups AS g ON g.sk = x.sk GROUP BY g.gk, x.t",
        points=table(arg.points), groups=table(groups),
    )  # fmt: skip
    ranked = tmpl(
        "SELECT l.sk, l.t, l.vs, l.dn, q.v AS q, q.v * (len(l.vs) - 1) AS rank FROM :l AS l JOIN :q AS q ON q.t = l.t",
        l=lists.subquery(), q=table(q),
    )  # fmt: skip
    bounds = tmpl(
        "SELECT *, CASE WHEN q BETWEEN 0 AND 1 THEN greatest(0, floor(rank))::BIGINT END AS lo, "
        "rank - floor(rank) AS w FROM :r",
        r=ranked.subquery(),
    )
    body = tmpl(
        "SELECT sk, t, CASE WHEN isnan(q) THEN 'nan'::DOUBLE WHEN q < 0 THEN '-inf'::DOUBLE "
        "WHEN q > 1 THEN 'inf'::DOUBLE "
        "ELSE vs[lo + 1] * (1 - w) + vs[least(len(vs) - 1, lo + 1) + 1] * w END AS v, dn FROM :b",
        b=bounds.subquery(),
    )  # fmt: skip
    return c.cte(body, "quantile")


def _count_values(c: Compiler, node: p.Aggregate, tl: Timeline) -> Vec:
    """count_values: one output series per group and distinct value (aggregationCountValues).

    The value label is set on each sample's labels, overwriting one of the same name, before
    grouping; ``by`` keeps it, ``without`` drops it only if it is listed (or is __name__).
    Only (group, value) pairs, not points, get their label MAP built.
    """
    assert isinstance(node.param, p.StringValue)
    label = node.param.value
    if label == "" or any("\ud800" <= ch <= "\udfff" for ch in label):
        # UTF8Validation.IsValidLabelName; Go prints the string literal quoted.
        raise ExecutionError(f"invalid label name {go_quote(label)}")
    arg = c.compile(node.arg, tl)
    assert isinstance(arg, Vec)
    groups = groups_cte(c, node, arg, group_labels(node, exclude=(label,)))
    add_label = not (node.without and (label in node.grouping or label == "__name__"))
    counts = tmpl(
        "SELECT g.gk, :f AS value, x.t, count(*)::DOUBLE AS v FROM :points AS x JOIN :groups AS g ON g.sk = x.sk "
        "GROUP BY g.gk, value, x.t",
        f=go_format_f(exp.column("v", "x")), points=table(arg.points), groups=table(groups),
    )  # fmt: skip
    counted = c.cte(counts, "count_values")
    if add_label:
        new_labels = tmpl(
            "map_from_entries(list_sort(list_concat(list_filter(map_entries(gl.glabels), lambda e: e.key <> :l), "
            "[{'key': :l, 'value': k.value}])))",
            l=exp.Literal.string(label),
        )  # fmt: skip
    else:
        new_labels = exp.column("glabels", "gl")
    labelled = c.cte(
        tmpl(
            "SELECT k.gk, k.value, :nl AS labels FROM (SELECT DISTINCT gk, value FROM :k) AS k "
            "JOIN (SELECT DISTINCT gk, glabels FROM :g) AS gl ON gl.gk = k.gk",
            nl=new_labels,
            k=table(counted),
            g=table(groups),
        ),
        "cv_labels",
    )
    series = c.cte(
        tmpl("SELECT DISTINCT hash(labels) AS sk, labels, FALSE AS drop_name FROM :l", l=table(labelled)),
        "series",
    )
    # Without the value label, distinct values of a group collapse into one output series.
    points = tmpl(
        "SELECT hash(l.labels) AS sk, k.t, sum(k.v) AS v FROM :k AS k "
        "JOIN :l AS l ON l.gk = k.gk AND l.value = k.value GROUP BY hash(l.labels), k.t",
        k=table(counted), l=table(labelled),
    )  # fmt: skip
    return Vec(c.cte(points, "count_values"), series)
