"""Functions of a range vector (``rate``, ``*_over_time``, ...), as windowed aggregates.

The grid's evaluation times are merged into each series' sample stream as marker rows; one
window per series, ``RANGE BETWEEN range-1 PRECEDING AND CURRENT ROW`` over integer
milliseconds, is exactly Prometheus 3's left-open window ``(te - range, te]``. DuckDB
evaluates such frames with segment trees, so the cost grows with samples + steps, not with
their product. Each function declares the aggregates it needs and a final expression over
them (Prometheus: ``promql/functions.go``; names in comments point at the Go function).

DuckDB orders NaN above every number, unlike Go's comparisons, so comparisons that must
follow Go (resets, counter corrections, min/max) exclude NaN explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlglot.expressions as exp

from .. import plan as p
from ..errors import ExecutionError
from ..functions import KEEPS_NAME
from .context import Compiler, Scal, Timeline, Vec, handles, num, parse_template, table, tmpl
from .selectors import window_input

# Per-sample columns computed over each series' samples before windowing.
PREV = {
    "pv": "lag(v) OVER (PARTITION BY sk ORDER BY ts)",
    "pts": "lag(ts) OVER (PARTITION BY sk ORDER BY ts)",
}
# Go semantics: a NaN never compares smaller or larger.
GO_LT_PREV = "(NOT isnan(v) AND NOT isnan(pv) AND v < pv)"
DERIVED = {
    # counter reset correction (extrapolatedRate): add the previous value on every drop
    "dropv": f"CASE WHEN {GO_LT_PREV} THEN pv ELSE 0 END",
    "chg": "CASE WHEN pv IS NULL OR v = pv THEN 0 ELSE 1 END",  # DuckDB: NaN = NaN is true
    "rst": f"CASE WHEN {GO_LT_PREV} THEN 1 ELSE 0 END",
}


@dataclass(frozen=True)
class RangeFn:
    aggs: dict[str, str]  # name -> one aggregate call, evaluated over each window
    final: str  # over the aggregates, plus te (ms), rng (ms)
    min_samples: int = 1
    derived: tuple[str, ...] = ()
    params: tuple[str, ...] = field(default=())
    lets: tuple[tuple[str, str], ...] = ()  # named intermediate columns, in order


_N = {"n": "count(v)"}
_NONNAN_MIN = "min(v) FILTER (WHERE NOT isnan(v))"
_NONNAN_MAX = "max(v) FILTER (WHERE NOT isnan(v))"
# Marker rows have v NULL but a ts: aggregates over ts must skip them explicitly.
_MIN_TS = "min(ts) FILTER (WHERE v IS NOT NULL)"
_MAX_TS = "max(ts) FILTER (WHERE v IS NOT NULL)"
_EDGES = {"fts": _MIN_TS, "lts": _MAX_TS, "fv": "arg_min(v, ts)", "lv": "arg_max(v, ts)"}

# extrapolatedRate (functions.go): extrapolate the observed change to the window edges, but
# by at most half an average sample interval past the first/last sample when they are far
# from the edges, and for counters never back past the point where it would have been zero.
def _rate(counter: bool, per_second: bool) -> RangeFn:
    aggs = {**_N, **_EDGES}
    if counter:
        aggs["drops"] = "sum(dropv)"
        aggs["drop0"] = "arg_min(dropv, ts)"
    res = "lv - fv + (drops - drop0)" if counter else "lv - fv"
    zero = (
        f"CASE WHEN ({res}) > 0 AND fv >= 0 THEN sampled * (fv / ({res})) ELSE 'inf'::DOUBLE END"
        if counter
        else "'inf'::DOUBLE"
    )
    lets = (
        ("sampled", "(lts - fts) / 1000.0"),
        ("avgdur", "sampled / (n - 1)"),
        ("ds0", "(fts - (te - rng)) / 1000.0"),
        ("de0", "(te - lts) / 1000.0"),
        ("ds", f"least(CASE WHEN ds0 >= avgdur * 1.1 THEN avgdur / 2 ELSE ds0 END, {zero})"),
        ("de", "CASE WHEN de0 >= avgdur * 1.1 THEN avgdur / 2 ELSE de0 END"),
        ("factor", "CASE WHEN sampled <> 0 THEN (sampled + ds + de) / sampled ELSE 1.0 END"),
    )
    final = f"({res}) * factor" + (" / (rng / 1000.0)" if per_second else "")
    return RangeFn(aggs, final, min_samples=2, derived=("dropv",) if counter else (), lets=lets)


RANGE_FUNCTIONS: dict[str, RangeFn] = {
    "count_over_time": RangeFn(_N, "n"),
    "sum_over_time": RangeFn({**_N, "s": "fsum(v)"}, "s"),
    "avg_over_time": RangeFn({**_N, "s": "fsum(v)"}, "s / n"),
    "min_over_time": RangeFn({**_N, "m": _NONNAN_MIN}, "coalesce(m, 'nan'::DOUBLE)"),
    "max_over_time": RangeFn({**_N, "m": _NONNAN_MAX}, "coalesce(m, 'nan'::DOUBLE)"),
    "stddev_over_time": RangeFn({**_N, "x": "stddev_pop(v)"}, "x"),
    "stdvar_over_time": RangeFn({**_N, "x": "var_pop(v)"}, "x"),
    "last_over_time": RangeFn({**_N, "x": "arg_max(v, ts)"}, "x"),
    "first_over_time": RangeFn({**_N, "x": "arg_min(v, ts)"}, "x"),
    "ts_of_last_over_time": RangeFn({**_N, "x": _MAX_TS}, "x / 1000.0"),
    "ts_of_first_over_time": RangeFn({**_N, "x": _MIN_TS}, "x / 1000.0"),
    "present_over_time": RangeFn(_N, "1.0"),
    # The first sample's flag compares it with a sample outside the window: subtract it.
    "changes": RangeFn({**_N, "s": "sum(chg)", "f": "arg_min(chg, ts)"}, "(s - f)::DOUBLE", derived=("chg",)),
    "resets": RangeFn({**_N, "s": "sum(rst)", "f": "arg_min(rst, ts)"}, "(s - f)::DOUBLE", derived=("rst",)),
    "rate": _rate(counter=True, per_second=True),
    "increase": _rate(counter=True, per_second=False),
    "delta": _rate(counter=False, per_second=False),
    # instantValue (irate/idelta): the last two samples of the window.
    "irate": RangeFn(
        {**_N, "lts": _MAX_TS, "lv": "arg_max(v, ts)", "lpv": "arg_max(pv, ts)", "lpts": "arg_max(pts, ts)"},
        "CASE WHEN lpts > te - rng THEN (CASE WHEN NOT isnan(lv) AND NOT isnan(lpv) AND lv < lpv "
        "THEN lv ELSE lv - lpv END) / ((lts - lpts) / 1000.0) END",
        min_samples=2,
    ),
    "idelta": RangeFn(
        {**_N, "lv": "arg_max(v, ts)", "lpv": "arg_max(pv, ts)", "lpts": "arg_max(pts, ts)"},
        "CASE WHEN lpts > te - rng THEN lv - lpv END",
        min_samples=2,
    ),
    # linearRegression (deriv, predict_linear): least squares over (seconds, value).
    "deriv": RangeFn({**_N, "b": "regr_slope(v, ts / 1000.0)"}, "b", min_samples=2),
    "predict_linear": RangeFn(
        {**_N, "b": "regr_slope(v, ts / 1000.0)", "my": "avg(v)", "mx": "avg(ts) FILTER (WHERE v IS NOT NULL)"},
        "my + b * ((te - mx) / 1000.0 + :p0)",
        min_samples=2,
        params=("p0",),
    ),
    "quantile_over_time": RangeFn(
        {**_N, "x": "quantile_cont(v, greatest(0, least(1, :p0)))"},
        "CASE WHEN isnan(:p0) THEN 'nan'::DOUBLE WHEN :p0 < 0 THEN '-inf'::DOUBLE "
        "WHEN :p0 > 1 THEN 'inf'::DOUBLE ELSE x END",
        params=("p0",),
    ),
}


@handles(p.RangeFunction)
def range_function(c: Compiler, node: p.RangeFunction, tl: Timeline) -> Vec:
    fn = RANGE_FUNCTIONS.get(node.func)
    if fn is None:
        raise ExecutionError(f"function {node.func}() is not supported by the DuckDB backend yet")
    params = {name: _constant(c, arg, tl) for name, arg in zip(fn.params, node.params, strict=True)}
    w = window_input(c, node.matrix, tl)
    # 1. per-sample columns: previous sample, and what the function derives from it
    enriched = with_columns(exp.select("sk", "ts", "v").from_(w.samples), PREV.items())
    enriched = with_columns(enriched.subquery(), ((d, DERIVED[d]) for d in fn.derived))
    # 2. the evaluation times as marker rows (t set, v NULL) in the same stream
    markers = exp.select(
        "sk", exp.column("te").as_("ts"), exp.null().as_("v"),
        *(exp.null().as_(col) for col in (*PREV, *fn.derived)), "t",
    ).from_(w.grid)  # fmt: skip
    samples = exp.select("*", exp.cast(exp.null(), "BIGINT").as_("t")).from_(enriched.subquery())
    u = c.cte(exp.union(samples, markers, distinct=False), "marked")
    # 3. one window per marker row: (te - range, te]
    frame = tmpl("SELECT count(x) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 1 PRECEDING AND CURRENT ROW)").selects[0]
    frame.find(exp.WindowSpec).set("start", num(max(w.range_ms - 1, 0)))
    aggs = [_over(frame, snippet, params).as_(name) for name, snippet in fn.aggs.items()]
    # Filter marker rows only after the windows are computed (WHERE would run before them).
    windowed = exp.select("sk", "t", exp.column("ts").as_("te"), *aggs).from_(u)
    # 4. the function's value from the aggregates
    staged = exp.select("*", num(w.range_ms).as_("rng")).from_(windowed.subquery()).where(
        exp.and_("t IS NOT NULL", exp.GTE(this=exp.column("n"), expression=num(fn.min_samples)))
    )
    staged = with_columns(staged.subquery(), fn.lets)
    value = exp.replace_placeholders(_snippet(fn.final), **params)
    final = exp.select("sk", "t", exp.paren(value).as_("v")).from_(staged.subquery())
    points = c.cte(exp.select("*").from_(final.subquery()).where("v IS NOT NULL"), node.func)
    drop = exp.column("drop_name") if node.func in KEEPS_NAME else exp.true()
    series = c.cte(exp.select("sk", "labels", drop.as_("drop_name")).from_(w.series), "series")
    return Vec(points, series)


def with_columns(source: exp.Expression, items: Iterable[tuple[str, str]]) -> exp.Select:
    """``SELECT *, <snippet> AS name`` for each item in turn (later ones may use earlier ones)."""
    query = exp.select("*").from_(source.subquery() if isinstance(source, exp.Query) else source)
    for name, snippet in items:
        query = exp.select("*", _snippet(snippet).as_(name)).from_(query.subquery())
    return query


def _snippet(text: str) -> exp.Expression:
    return parse_template(text).copy()


def _over(frame: exp.Expression, snippet: str, params: dict[str, exp.Expression]) -> exp.Expression:
    window = frame.copy()
    window.set("this", exp.replace_placeholders(_snippet(snippet), **params))
    return window


def _constant(c: Compiler, arg: p.Node, tl: Timeline) -> exp.Expression:
    """A scalar parameter; only constants are supported for now (upstream allows any scalar)."""
    if isinstance(arg, p.Literal):
        return num(arg.value)
    rel = c.compile(arg, tl)
    if isinstance(rel, Scal):
        return exp.paren(tmpl("SELECT any_value(v) FROM :p", p=table(rel.points)))  # type: ignore[arg-type]
    raise ExecutionError("expected a scalar parameter")
