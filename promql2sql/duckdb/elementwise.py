"""Per-sample functions of an instant vector: math, clamping, rounding, dates, timestamp.

Each entry is a snippet over ``v`` (the value), ``t`` (the step, ms) and ``ts`` (the sample's
own timestamp), plus ``:p0``, ``:p1`` for scalar parameters (functions.go ``simpleFloatFunc``
and friends). Every function here drops the metric name (delayed: see ``drop_name``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import sqlglot.expressions as exp

from .. import plan as p
from ..errors import ExecutionError
from .context import Compiler, Scal, Timeline, Vec, handles, table, tmpl
from .range_functions import _snippet

# The value read as whole Unix seconds, UTC: Go's time.Unix(int64(v), 0) truncates toward zero.
_DT = "make_timestamp((trunc(v) * 1000000)::BIGINT)"
# Go's math.Min / math.Max: the infinity in the winning direction beats NaN, then NaN wins
# (DuckDB's least/greatest order NaN above every number).
_GO_MIN = (
    "CASE WHEN :x = '-inf'::DOUBLE OR :y = '-inf'::DOUBLE THEN '-inf'::DOUBLE "
    "WHEN isnan(:x) OR isnan(:y) THEN 'nan'::DOUBLE ELSE least(:x, :y) END"
)
_GO_MAX = (
    "CASE WHEN :x = 'inf'::DOUBLE OR :y = 'inf'::DOUBLE THEN 'inf'::DOUBLE "
    "WHEN isnan(:x) OR isnan(:y) THEN 'nan'::DOUBLE ELSE greatest(:x, :y) END"
)


def go_min(x: exp.Expression, y: exp.Expression) -> exp.Expression:
    return tmpl(_GO_MIN, x=x, y=y)


def go_max(x: exp.Expression, y: exp.Expression) -> exp.Expression:
    return tmpl(_GO_MAX, x=x, y=y)


def _clamp(v: exp.Expression, lo: exp.Expression, hi: exp.Expression) -> exp.Expression:
    # funcClamp: nothing when max < min (false for NaN bounds), else Max(min, Min(max, v)).
    return tmpl(
        "CASE WHEN NOT isnan(:lo) AND NOT isnan(:hi) AND :hi < :lo THEN NULL ELSE :value END",
        lo=lo, hi=hi, value=go_max(lo, go_min(hi, v)),
    )  # fmt: skip


# Functions whose value is built from Go's min/max rather than a snippet: (v, params) -> value.
_BUILT: dict[str, Callable[[exp.Expression, list[exp.Expression]], exp.Expression]] = {
    "clamp": lambda v, ps: _clamp(v, ps[0], ps[1]),
    "clamp_min": lambda v, ps: go_max(ps[0], v),
    "clamp_max": lambda v, ps: go_min(ps[0], v),
}

ELEMENTWISE: dict[str, str] = {
    "abs": "abs(v)",
    "ceil": "ceil(v)",
    "floor": "floor(v)",
    "exp": "exp(v)",
    "sqrt": "CASE WHEN v < 0 THEN 'nan'::DOUBLE ELSE sqrt(v) END",
    "ln": "CASE WHEN v < 0 THEN 'nan'::DOUBLE WHEN v = 0 THEN '-inf'::DOUBLE ELSE ln(v) END",
    "log2": "CASE WHEN v < 0 THEN 'nan'::DOUBLE WHEN v = 0 THEN '-inf'::DOUBLE ELSE log2(v) END",
    "log10": "CASE WHEN v < 0 THEN 'nan'::DOUBLE WHEN v = 0 THEN '-inf'::DOUBLE ELSE log10(v) END",
    "sin": "sin(v)", "cos": "cos(v)", "tan": "tan(v)",
    "asin": "CASE WHEN abs(v) > 1 THEN 'nan'::DOUBLE ELSE asin(v) END",
    "acos": "CASE WHEN abs(v) > 1 THEN 'nan'::DOUBLE ELSE acos(v) END",
    "atan": "atan(v)",
    "sinh": "sinh(v)", "cosh": "cosh(v)", "tanh": "tanh(v)",
    "asinh": "asinh(v)",
    "acosh": "CASE WHEN v < 1 THEN 'nan'::DOUBLE ELSE acosh(v) END",
    "atanh": "CASE WHEN abs(v) > 1 THEN 'nan'::DOUBLE ELSE atanh(v) END",
    "deg": "v * 180 / pi()", "rad": "v * pi() / 180",
    # DuckDB orders NaN above every number, so NaN > 0 would be true.
    "sgn": "CASE WHEN isnan(v) THEN v WHEN v > 0 THEN 1.0 WHEN v < 0 THEN -1.0 ELSE v END",
    "neg": "-v",
    "timestamp": "ts / 1000.0",
    # funcStartTimestamp: the start timestamp of the sample a selector picked (0 if unknown);
    # of any other expression nothing (engine.go propagates them from a selector only).
    "start_timestamp": "st / 1000.0",
    # Go's math.Floor(x*(1/to)+0.5)/(1/to): round half up to a multiple of `to`.
    "round": "floor(v * (1 / coalesce(:p0, 1.0)) + 0.5) / (1 / coalesce(:p0, 1.0))",
    "year": f"year({_DT})::DOUBLE", "month": f"month({_DT})::DOUBLE",
    "day_of_month": f"day({_DT})::DOUBLE", "day_of_week": f"dayofweek({_DT})::DOUBLE",
    "day_of_year": f"dayofyear({_DT})::DOUBLE", "hour": f"hour({_DT})::DOUBLE",
    "minute": f"minute({_DT})::DOUBLE",
    "days_in_month": f"day(last_day({_DT}))::DOUBLE",
}  # fmt: skip


@handles(p.Elementwise)
def elementwise(c: Compiler, node: p.Elementwise, tl: Timeline) -> Vec:
    snippet = ELEMENTWISE.get(node.func)
    if snippet is None and node.func not in _BUILT:
        raise ExecutionError(f"function {node.func}() is not supported by the DuckDB backend yet")
    selector = isinstance(node.arg, p.InstantSelect)
    src: p.Node = node.arg
    st_of = node.func == "start_timestamp" and isinstance(src, p.InstantSelect) and not src.smoothed
    if st_of and isinstance(src, p.InstantSelect):
        src = dataclasses.replace(src, with_st=True)
    arg = c.compile(src, tl)
    assert isinstance(arg, Vec)
    source: exp.Select = exp.select("x.sk", "x.t", "x.v").from_(exp.to_table(arg.points).as_("x"))
    ts = exp.column("ts", "x") if selector else exp.column("t", "x")
    source = source.select(ts.as_("ts"))
    if node.func == "start_timestamp":  # NULL (no result) unless the argument is a selector
        source = source.select((tmpl("coalesce(x.st, 0)") if st_of else exp.null()).as_("st"))
    subs: dict[str, exp.Expression] = {}
    for i, param in enumerate(node.params):
        rel = c.compile(param, tl)
        assert isinstance(rel, Scal)
        alias = f"p{i}"
        source = source.join(exp.to_table(rel.points).as_(alias), on=f"{alias}.t = x.t").select(
            exp.column("v", alias).as_(alias)
        )
        subs[alias] = exp.column(alias)
    if snippet is not None:
        if "p0" in _snippet(snippet).sql() and "p0" not in subs:
            subs["p0"] = exp.null()  # round(v) without `to`
        value = exp.replace_placeholders(_snippet(snippet), **subs)
    else:
        value = _BUILT[node.func](exp.column("v"), [subs[f"p{i}"] for i in range(len(node.params))])
    body = exp.select("sk", "t", value.as_("v")).from_(source.subquery())
    points = c.cte(exp.select("*").from_(body.subquery()).where("v IS NOT NULL"), node.func)
    series = c.cte(exp.select("sk", "labels", exp.true().as_("drop_name")).from_(table(arg.series)), "series")
    return Vec(points, series)
