"""Aggregations that select input series: topk, bottomk, limitk, limit_ratio.

Output series are input series, labels untouched (their ``drop_name`` flag too), so only
points are filtered: per (group, step) a window ranks the members and keeps the first k
(aggregationK in engine.go). Go's heaps translate to orderings:

- ``topk``/``bottomk``: largest/smallest values first, NaN after every number (the heap
  replaces a NaN by any number, never the reverse); equal values keep the series met first;
- ``limitk``: the first k series in input order (Go iterates the input vector, which for a
  selector is label order);
- ``limit_ratio(r)``: a series is kept when its offset, the hash of its label set scaled to
  [0, 1), is below r (r >= 0) or at least 1 + r (r < 0), so r and r - 1 select complementary
  subsets and a series' membership is stable across steps. Prometheus hashes with xxhash, we
  with DuckDB's ``hash()``: the semantics are the same, the subset picked for r ∉ {-1, 0, 1}
  is not Prometheus's.

k is truncated to an integer per step (``int64(fParam)``); a step with k < 1 (or r = 0)
has no output. The checks of rangeEvalAgg run over all steps before evaluation: a NaN
parameter fails the query (unless every k is below 1, or every r is 0), k beyond int64 fails,
|r| > 1 warns and is capped.
"""

from __future__ import annotations

import sqlglot.expressions as exp

from .. import plan as p
from .aggregate import groups_cte, param_points, warn
from .context import Compiler, Timeline, Vec, num, table, tmpl
from .gofloat import go_format_g
from .range_functions import _snippet

_ORDER = {
    "topk": "isnan(x.v), x.v DESC, g.ord",
    "bottomk": "isnan(x.v), x.v ASC, g.ord",
    "limitk": "g.ord",
}
# engine.go's bounds: float64 conversions of the int64 limits.
_MAX_INT64 = 9223372036854774784.0
_MIN_INT64 = -9223372036854775808.0
_MAX_UINT64 = 18446744073709551615.0


def k_selection(c: Compiler, node: p.Aggregate, tl: Timeline) -> Vec:
    param = param_points(c, node, tl)
    _check_param(c, node, param)
    arg = c.compile(node.arg, tl)
    assert isinstance(arg, Vec)
    if node.op == "limit_ratio":
        # SampleOffset per series (label work once), AddRatioSampleWithOffset per point
        # with r capped to [-1, 1].
        offsets = c.cte(
            tmpl(
                "SELECT sk, hash(labels)::DOUBLE / :max AS off FROM :s",
                s=table(arg.series),
                max=num(_MAX_UINT64),
            ),
            "ratio_offsets",
        )
        body = tmpl(
            "SELECT x.sk, x.t, x.v FROM :points AS x JOIN :o AS o ON o.sk = x.sk JOIN :r AS r ON r.t = x.t "
            "WHERE CASE WHEN r.v >= 0 THEN o.off < least(r.v, 1.0) ELSE o.off >= 1.0 + greatest(r.v, -1.0) END",
            points=table(arg.points), o=table(offsets), r=table(param),
        )  # fmt: skip
        return Vec(c.cte(body, "limit_ratio"), arg.series)
    groups = groups_cte(c, node, arg, ordered=True)
    order = _snippet(f"SELECT 1 ORDER BY {_ORDER[node.op]}").args["order"]
    rank = exp.Window(
        this=exp.func("row_number"), partition_by=[exp.column("gk", "g"), exp.column("t", "x")], order=order
    )
    ranked = tmpl(
        "SELECT x.sk, x.t, x.v, trunc(k.v) AS k FROM :points AS x JOIN :groups AS g ON g.sk = x.sk "
        "JOIN :k AS k ON k.t = x.t WHERE k.v >= 1",
        points=table(arg.points),
        groups=table(groups),
        k=table(param),
    ).select(rank.as_("rn"))
    body = exp.select("sk", "t", "v").from_(ranked.subquery()).where("rn <= k")
    if node.op in ("topk", "bottomk"):
        # An instant query returns each group's heap sorted: topk descending, bottomk
        # ascending, NaN last (the Sort ordering of the final result does the same).
        c.ordering = p.Sort(node, desc=node.op == "topk")
    return Vec(c.cte(body, node.op), arg.series)


def _check_param(c: Compiler, node: p.Aggregate, param: str) -> None:
    """rangeEvalAgg's checks of the parameter over every step (Go's Max/Min are NaN if any is)."""
    src = table(param)
    if node.op == "limit_ratio":
        # All-zero ratios return early, before any check.
        c.assertions.append((tmpl("SELECT 1 FROM :p HAVING bool_or(isnan(v))", p=src), "Ratio value is NaN"))
        text = "ratio value should be between -1 and 1, got {}, capping to {}"
        high = tmpl(
            "SELECT :f, '1' FROM :p HAVING NOT bool_or(isnan(v)) AND max(v) > 1",
            f=go_format_g(tmpl("max(v)")),
            p=src,
        )
        low = tmpl(
            "SELECT :f, '-1' FROM :p HAVING NOT bool_or(isnan(v)) AND min(v) < -1",
            f=go_format_g(tmpl("min(v)")),
            p=src,
        )
        warn(c, node, high, text)
        warn(c, node, low, text)
        return
    # Every k below 1 returns early, before any check; a NaN makes Go's Max NaN, so not early.
    c.assertions.append((tmpl("SELECT 1 FROM :p HAVING bool_or(isnan(v))", p=src), "Parameter value is NaN"))
    under = tmpl(
        "SELECT :f FROM :p HAVING NOT bool_or(isnan(v)) AND max(v) >= 1 AND min(v) <= :lo",
        f=go_format_g(tmpl("min(v)")), p=src, lo=exp.Literal.number(_MIN_INT64),
    )  # fmt: skip
    over = tmpl(
        "SELECT :f FROM :p HAVING NOT bool_or(isnan(v)) AND max(v) >= :hi",
        f=go_format_g(tmpl("max(v)")), p=src, hi=exp.Literal.number(_MAX_INT64),
    )  # fmt: skip
    c.assertions.append((under, "Scalar value {} underflows int64"))
    c.assertions.append((over, "Scalar value {} overflows int64"))
