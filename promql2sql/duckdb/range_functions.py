"""Functions of a range vector (``rate``, ``*_over_time``, ...): windows, then a final expression.

``range_catalog.py`` says what each function aggregates over a window ``(te - range, te]``
(Prometheus 3's left-open window) and how it computes its value from the aggregates. This
module picks how the windows are computed, from the function's aggregates and the query's
shape (which lowering is exact for it, and cheapest):

- ``range_groups.py``: windows that overlap little, as one GROUP BY (series, step);
- ``range_edges.py``: functions of a window's first and last samples, found per sample;
- here: window aggregates. The evaluation times are merged into each series' sample stream
  as marker rows; one window per series, ``RANGE BETWEEN range-1 PRECEDING AND CURRENT
  ROW`` over integer milliseconds, is exactly the left-open window. DuckDB evaluates such
  frames with segment trees (cost grows with samples + steps, not their product), but for
  every sample row, not only the step rows kept.

``anchored`` windows also look at the last sample before the range (within the lookback
delta), through each sample's predecessor (``lag``); ``smoothed`` ones also at the first
sample after it, through a second frame ``(te, te + lookback]``. Scalar parameters are
constants, or per-step columns carried by the marker rows. Annotations (``rate`` of a metric
not named like a counter, invalid quantiles) and evaluation errors (the smoothing factors of
``double_exponential_smoothing``) are queries over the windows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot.expressions as exp

from .. import plan as p
from ..errors import ExecutionError
from ..functions import KEEPS_NAME
from ..gostr import format_float_g
from .context import Compiler, Scal, Timeline, Vec, handles, num, parse_template, table, tmpl
from .histograms import go_g_sql, go_quote_sql
from .range_catalog import (
    DERIVED,
    DERIVED_ST,
    EXTENDED,
    PREV,
    PREV_ST,
    QUANTILE_LIST,
    RANGE_FUNCTIONS,
    ST_EXTENDED,
    ST_FUNCTIONS,
    RangeFn,
)
from .range_edges import ORDINALS, edge_computable, edge_windows, regular_edge_windows
from .range_groups import groupable, grouped_windows
from .selectors import WindowInput, window_input

# engine.go: of the range functions only first/last_over_time keep the metric name (the
# registry's KEEPS_NAME); an input that already drops it, e.g. from a subquery, still does.
_COUNTER_SUFFIXES = ("_total", "_sum", "_count", "_bucket")
_NOT_COUNTER = (
    "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {} ({})"
)
_BAD_QUANTILE = "PromQL warning: quantile value should be between 0 and 1, got {} ({})"
_ST_OVERLAP = (
    "PromQL warning: sample has start time that overlaps with previous sample timestamp for metric {} ({})"
)


@handles(p.RangeFunction)
def range_function(c: Compiler, node: p.RangeFunction, tl: Timeline) -> Vec:
    w = window_input(c, node.matrix, tl, want_st=_st_form(node) is not None)
    consts, dynamic = _params(c, node, tl)
    fn = _st_form(node) if w.has_st else _pick(node, consts)
    if fn is None:
        raise ExecutionError(f"function {node.func}() is not supported by the DuckDB backend yet")
    if node.func == "quantile_over_time" and "p0" in consts:
        q = _literal(node.params[0])
        consts["qc"] = num(1.0 - min(max(q, 0.0), 1.0) if not math.isnan(q) else 0.5)
    win, points = _lower(c, node, fn, w, tl, consts, dynamic)
    drop = exp.column("drop_name") if node.func in KEEPS_NAME else exp.true()
    series = c.cte(exp.select("sk", "labels", drop.as_("drop_name")).from_(w.series), "series")
    if node.func in ("rate", "increase") and isinstance(node.matrix, p.RangeSelect):
        _not_counter_info(c, node, fn, w, tl, consts, dynamic)
    if w.has_st and node.func in ("rate", "increase"):
        _st_overlap_warning(c, node, win, series)
    _annotate(c, node, consts, win, points)
    return Vec(points, series)


def _lower(
    c: Compiler, node: p.RangeFunction, fn: RangeFn, w: WindowInput, tl: Timeline,
    consts: dict[str, exp.Expression], dynamic: dict[str, str],
) -> tuple[str, str]:  # fmt: skip
    """The windows (CTE ``win``: one row per series and step) and the points of ``fn``."""
    params = {**consts, **{name: exp.column(name) for name in dynamic}}
    grid = c.cte(_with_param_columns(w.grid, dynamic), "pgrid") if dynamic else w.grid
    rng = node.matrix.range_ms
    lb = node.matrix.lookback_ms if isinstance(node.matrix, p.RangeSelect) else 0
    # 1. per-sample columns: previous sample, and what the function derives from it
    regular = node.matrix.at_ms is None and not dynamic
    grouped = groupable(node.func, fn, rng, tl, regular)
    edges = not grouped and edge_computable(fn)
    # One window pass (one sort) for the previous sample and, for edges, the sample numbers.
    prev, derived, base = (
        (PREV_ST, DERIVED_ST, ("sk", "ts", "v", "st")) if w.has_st else (PREV, DERIVED, ("sk", "ts", "v"))
    )
    per_sample = {**prev, **(ORDINALS if edges and regular else {})}
    enriched = exp.select(*base, *(_snippet(s).as_(n) for n, s in per_sample.items())).from_(w.samples)
    enriched = with_columns(enriched.subquery(), ((d, derived[d]) for d in fn.derived))
    if grouped:
        # 2-3. windows that overlap little: one GROUP BY (range_groups.py)
        windowed = grouped_windows(c, fn, enriched, tl, tl.start - node.matrix.offset_ms, rng, params)
    elif edges and regular:
        # 2-3. first/last sample of each window, found by the samples (range_edges.py)
        windowed = regular_edge_windows(c, fn, enriched, tl, tl.start - node.matrix.offset_ms, rng)
    elif edges:
        # 2-3. first/last sample of each window by ASOF joins (range_edges.py)
        windowed = edge_windows(c, fn, enriched, grid, rng, list(dynamic))
    else:
        extra = (*base[3:], *prev, *fn.derived)  # the columns marker rows leave NULL
        windowed = _marker_windows(c, fn, enriched, grid, rng, lb, dynamic, params, extra)
    win = c.cte(
        exp.select("*", num(rng).as_("rng"), num(lb).as_("lb"))
        .from_(windowed.subquery())
        .where(exp.and_("t IS NOT NULL", exp.GTE(this=exp.column("n"), expression=num(fn.min_samples)))),
        "win",
    )
    # 4. the function's value from the aggregates
    staged = with_columns(table(win), ((name, _sub(s, params)) for name, s in fn.lets), parsed=True)
    value = _sub(fn.final, params)
    final = exp.select("sk", "t", exp.paren(value).as_("v")).from_(staged.subquery())
    return win, c.cte(exp.select("*").from_(final.subquery()).where("v IS NOT NULL"), node.func)


def _marker_windows(
    c: Compiler, fn: RangeFn, enriched: exp.Select, grid: str, rng: int, lb: int,
    dynamic: dict[str, str], params: dict[str, exp.Expression], extra: tuple[str, ...],
) -> exp.Select:  # fmt: skip
    """Window aggregates of ``fn`` for every sample and marker row (filtered by the caller)."""
    # 2. the evaluation times as marker rows (t set, v NULL) in the same stream
    markers = exp.select(
        "sk", exp.column("te").as_("ts"), exp.null().as_("v"),
        *(exp.null().as_(col) for col in extra), "t", *dynamic,
    ).from_(grid)  # fmt: skip
    samples = exp.select(
        "*",
        exp.cast(exp.null(), "BIGINT").as_("t"),
        *(exp.cast(exp.null(), "DOUBLE").as_(d) for d in dynamic),
    ).from_(enriched.subquery())
    u = c.cte(exp.union(samples, markers, distinct=False), "marked")
    # 3. one window per marker row: (te - range, te], and for smoothed (te, te + lookback]
    aggs = [_over(_frame(max(rng - 1, 0), None), s, params).as_(name) for name, s in fn.aggs.items()]
    aggs += [_over(_frame(None, lb), s, params).as_(name) for name, s in fn.after.items()]
    # Filter marker rows only after the windows are computed (WHERE would run before them).
    return exp.select("sk", "t", exp.column("ts").as_("te"), *dynamic, *aggs).from_(u)


def _not_counter_info(
    c: Compiler, node: p.RangeFunction, fn: RangeFn, w: WindowInput, tl: Timeline,
    consts: dict[str, exp.Expression], dynamic: dict[str, str],
) -> None:  # fmt: skip
    """engine.go (rangeEval of a matrix selector): rate/increase of a named series with a
    result, whose name does not look like a counter's. Whether there is a result is worked
    out again for those series only (this query runs apart from the main one), which costs
    next to nothing when every name ends like a counter's."""
    known = c.index_series.get(w.series)
    if known is not None and not _any_non_counter_name(known):
        return
    name = tmpl("labels['__name__']")
    bad = c.cte(
        tmpl(
            "SELECT sk, labels FROM :series WHERE :name <> '' "
            "AND NOT list_bool_or(list_transform(:suffixes, lambda x: ends_with(:name, x)))",
            series=table(w.series), name=name,
            suffixes=exp.Array(expressions=[exp.Literal.string(s) for s in _COUNTER_SUFFIXES]),
        ),
        "noncounter",
    )  # fmt: skip
    only = exp.column("sk").isin(query=exp.select("sk").from_(bad))
    narrowed = WindowInput(
        c.cte(exp.select("*").from_(w.samples).where(only), "samples"),
        bad,
        c.cte(exp.select("*").from_(w.grid).where(only.copy()), "grid"),
        w.range_ms,
        w.has_st,
    )
    m = node.matrix
    if not (isinstance(m, p.RangeSelect) and (m.anchored or m.smoothed)) and not w.has_st:
        # extrapolatedRate has a result for every window with two samples: count them only
        # (with start timestamps one sample may be enough: then the whole function runs).
        fn = RangeFn({"n": "count(v)"}, "1.0", min_samples=2)
    _, points = _lower(c, node, fn, narrowed, tl, consts, dynamic)
    query = tmpl(
        "SELECT DISTINCT :q FROM :bad WHERE sk IN (SELECT sk FROM :points)",
        q=go_quote_sql(name), bad=table(bad), points=table(points),
    )  # fmt: skip
    pos = node.arg_pos[0] if node.arg_pos else ""
    c.infos.append((query, _NOT_COUNTER.replace("({})", f"({_escape(pos)})")))


def _st_overlap_warning(c: Compiler, node: p.RangeFunction, win: str, series: str) -> None:
    """extrapolatedRate (counters): once per series and window in which a sample after the
    first has a start timestamp overlapping its predecessor (checkStartTimeOverlap)."""
    query = tmpl(
        "SELECT DISTINCT :q FROM :win AS w JOIN :series AS s ON s.sk = w.sk WHERE w.ovl - w.ovl0 > 0",
        q=go_quote_sql(tmpl("coalesce(s.labels['__name__'], '')")), win=table(win), series=table(series),
    )  # fmt: skip
    pos = node.arg_pos[0] if node.arg_pos else ""
    c.warnings.append((query, _ST_OVERLAP.replace("({})", f"({_escape(pos)})")))


def _st_form(node: p.RangeFunction) -> RangeFn | None:
    """The start-timestamp-aware form of ``node``'s function, if it has one (then the selector
    is asked for its samples' start timestamps)."""
    m = node.matrix
    if not isinstance(m, p.RangeSelect) or m.smoothed:
        return None
    return ST_EXTENDED.get(("anchored", node.func)) if m.anchored else ST_FUNCTIONS.get(node.func)


def _any_non_counter_name(series: pa.Table) -> bool:
    """Whether some selected series has a name that does not end like a counter's."""
    names = pc.fill_null(pc.list_flatten(pc.map_lookup(series.column("labels"), "__name__", "all")), "")
    counter_like = pc.equal(names, "")
    for suffix in _COUNTER_SUFFIXES:
        counter_like = pc.or_(counter_like, pc.ends_with(names, suffix))
    return not pc.all(counter_like).as_py() if len(names) else False


def _pick(node: p.RangeFunction, consts: dict[str, exp.Expression]) -> RangeFn | None:
    m = node.matrix
    if isinstance(m, p.RangeSelect) and (m.anchored or m.smoothed):
        # The planner already refused functions these windows do not support.
        return EXTENDED.get(("anchored" if m.anchored else "smoothed", node.func))
    if node.func == "quantile_over_time" and "p0" not in consts:
        return QUANTILE_LIST
    return RANGE_FUNCTIONS.get(node.func)


def _params(
    c: Compiler, node: p.RangeFunction, tl: Timeline
) -> tuple[dict[str, exp.Expression], dict[str, str]]:
    """Constant parameters as literals; the others as (column name -> scalar points CTE)."""
    consts: dict[str, exp.Expression] = {}
    dynamic: dict[str, str] = {}
    for i, arg in enumerate(node.params):
        name = f"p{i}"
        if isinstance(arg, p.Literal):
            consts[name] = num(arg.value)
            continue
        rel = c.compile(arg, tl)
        if not isinstance(rel, Scal):
            raise ExecutionError("expected a scalar parameter")
        dynamic[name] = rel.points
    return consts, dynamic


def _with_param_columns(grid: str, dynamic: dict[str, str]) -> exp.Select:
    """The grid with each per-step parameter as a column (matched on the step time)."""
    query = exp.select("g.*", *(exp.column("v", name).as_(name) for name in dynamic)).from_(
        exp.to_table(grid).as_("g")
    )
    for name, rel in dynamic.items():
        query = query.join(
            exp.to_table(rel).as_(name), on=exp.column("t", name).eq(exp.column("t", "g")), join_type="left"
        )
    return query


def _literal(arg: p.Node) -> float:
    assert isinstance(arg, p.Literal)
    return arg.value


def _annotate(
    c: Compiler, node: p.RangeFunction, consts: dict[str, exp.Expression], win: str, points: str
) -> None:
    pos = node.arg_pos + ("",) * (len(node.params) + 1 - len(node.arg_pos))
    if node.func == "quantile_over_time":
        # funcQuantileOverTime: for every window with a sample, while q is outside [0, 1].
        if "p0" in consts:
            q = _literal(node.params[0])
            if math.isnan(q) or not 0 <= q <= 1:
                text = _BAD_QUANTILE.format(format_float_g(q), pos[0])
                c.warnings.append((tmpl("SELECT 1 FROM :p LIMIT 1", p=table(points)), _escape(text)))
        else:
            query = tmpl(
                "SELECT DISTINCT :g FROM :win WHERE n >= 1 AND (isnan(p0) OR p0 < 0 OR p0 > 1)",
                g=go_g_sql(exp.column("p0")), win=table(win),
            )  # fmt: skip
            c.warnings.append((query, _BAD_QUANTILE.replace("({})", f"({_escape(pos[0])})")))
    if node.func == "double_exponential_smoothing":
        # funcDoubleExponentialSmoothing fails for a window with samples when a factor is not
        # strictly between 0 and 1 (a NaN passes: Go's comparisons with it are false).
        for name, what, short in (("p0", "smoothing", "sf"), ("p1", "trend", "tf")):
            message = f"invalid {what} factor. Expected: 0 < {short} < 1, got: {{}}"
            if name in consts:
                f = _literal(node.params[int(name[1])])
                if f <= 0 or f >= 1:
                    text = message.format(_go_f(f))
                    c.assertions.append((tmpl("SELECT 1 FROM :win LIMIT 1", win=table(win)), _escape(text)))
                continue
            query = tmpl(
                "SELECT CASE WHEN isinf(:x) THEN CASE WHEN :x > 0 THEN '+Inf' ELSE '-Inf' END "
                "ELSE printf('%f', :x) END FROM :win WHERE n >= 1 AND NOT isnan(:x) AND (:x <= 0 OR :x >= 1) LIMIT 1",
                x=exp.column(name), win=table(win),
            )  # fmt: skip
            c.assertions.append((query, message))


def _go_f(x: float) -> str:
    """Go's ``%f``."""
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return "NaN" if math.isnan(x) else f"{x:f}"


def _escape(text: str) -> str:
    """A literal text for a message template (formatted with ``str.format``)."""
    return text.replace("{", "{{").replace("}", "}}")


def with_columns(
    source: exp.Expression, items: Iterable[tuple[str, object]], parsed: bool = False
) -> exp.Select:
    """``SELECT *, <snippet> AS name`` for each item in turn (later ones may use earlier ones)."""
    query = exp.select("*").from_(source.subquery() if isinstance(source, exp.Query) else source)
    for name, snippet in items:
        expr = snippet if parsed else _snippet(str(snippet))
        assert isinstance(expr, exp.Expression)
        query = exp.select("*", expr.as_(name)).from_(query.subquery())
    return query


def _snippet(text: str) -> exp.Expression:
    return parse_template(text).copy()


def _sub(text: str, params: dict[str, exp.Expression]) -> exp.Expression:
    expr = exp.replace_placeholders(_snippet(text), **params)
    assert isinstance(expr, exp.Expression)
    return expr


def _frame(preceding: int | None, following: int | None) -> exp.Window:
    """A window over each series' stream: ``preceding`` ms back to the current row, or from
    1 ms to ``following`` ms ahead of it."""
    if following is None:
        text = "count(x) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 1 PRECEDING AND CURRENT ROW)"
    else:
        text = "count(x) OVER (PARTITION BY sk ORDER BY ts RANGE BETWEEN 1 FOLLOWING AND 2 FOLLOWING)"
    window = parse_template(text).copy()
    spec = window.find(exp.WindowSpec)
    assert spec is not None
    if following is None:
        spec.set("start", num(preceding or 0))
    else:
        spec.set("end", num(following))
    assert isinstance(window, exp.Window)
    return window


def _over(frame: exp.Window, snippet: str, params: dict[str, exp.Expression]) -> exp.Expression:
    window = frame.copy()
    window.set("this", _sub(snippet, params))
    return window
