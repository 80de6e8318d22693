"""What each function of a range vector computes: window aggregates plus a final expression.

``range_functions.py`` runs one window per evaluation time over each series' samples (see its
docstring); a ``RangeFn`` here names the aggregates it needs over that window, optionally over
the lookback after it (``after``, for ``smoothed``), then named intermediate columns (``lets``,
in order) and the result (``final``, NULL for "no sample"). Snippets may use ``te`` (the
window's end, ms), ``t`` (the step's evaluation time), ``rng`` (range, ms), ``lb`` (lookback,
ms) and the parameters ``:p0``, ``:p1`` (constants, or per-step columns; aggregates only take
constants). The Go function each one follows is named beside it (``promql/functions.go``).

DuckDB orders NaN above every number while Go's comparisons with NaN are false, so every
comparison that must follow Go goes through ``go_lt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RangeFn:
    aggs: dict[str, str]  # name -> one aggregate over the window (te - rng, te]
    final: str
    min_samples: int = 1  # fewer samples in the window: no result
    derived: tuple[str, ...] = ()  # per-sample columns (DERIVED) the aggregates use
    lets: tuple[tuple[str, str], ...] = ()
    after: dict[str, str] = field(default_factory=dict)  # aggregates over (te, te + lb]


def go_lt(a: str, b: str) -> str:
    """Go's ``a < b``: false when either side is NaN."""
    return f"(NOT isnan({a}) AND NOT isnan({b}) AND {a} < {b})"


# Per-sample columns, computed over each series' samples before windowing.
PREV = {
    "pv": "lag(v) OVER (PARTITION BY sk ORDER BY ts)",
    "pts": "lag(ts) OVER (PARTITION BY sk ORDER BY ts)",
}
DERIVED = {
    # counter reset correction (extrapolatedRate): add the previous value on every drop
    "dropv": f"CASE WHEN {go_lt('v', 'pv')} THEN pv ELSE 0 END",
    "chg": "CASE WHEN pv IS NULL OR v = pv THEN 0 ELSE 1 END",  # DuckDB: NaN = NaN is true
    "rst": f"CASE WHEN {go_lt('v', 'pv')} THEN 1 ELSE 0 END",
}

# Start timestamps (``st``, ms; NULL = unknown, Go's 0), for rate/increase/irate/resets over a
# selector whose samples may carry them (engine.go passes StartTimestamps to those four only).
# The same names as DERIVED where the meaning is the same (a reset), so every lowering, and the
# edge sums of range_edges.py, work unchanged; ``strst`` must come first (the others use it).
PREV_ST = {**PREV, "pst": "lag(st) OVER (PARTITION BY sk ORDER BY ts)"}
_ST, _PST = "coalesce(st, 0)", "coalesce(pst, 0)"
DERIVED_ST = {
    **DERIVED,
    # isStartTimestampReset(prevST, prevT, currST, currT): the counter restarted after the
    # previous sample; ST == prevT is a reset only for a delta (previous ST known and valid).
    "strst": (
        f"coalesce({_ST} <> 0 AND {_ST} < ts AND {_ST} >= pts AND ({_ST} > pts "
        f"OR ({_PST} <= pts AND {_PST} <> 0 AND {_PST} <> pts)), FALSE)"
    ),
    "dropv": f"CASE WHEN {go_lt('v', 'pv')} OR strst THEN pv ELSE 0 END",
    "rst": f"CASE WHEN {go_lt('v', 'pv')} OR strst THEN 1 ELSE 0 END",
    # checkStartTimeOverlap(prevST, prevT, currST): currST != 0 && currST < prevT && currST != prevST
    "ovl": f"CASE WHEN {_ST} <> 0 AND {_ST} < pts AND {_ST} <> {_PST} THEN 1 ELSE 0 END",
}
FIRST_ST = f"arg_min({_ST}, ts) FILTER (WHERE v IS NOT NULL)"

_N = {"n": "count(v)"}
_FINITE = "bool_and(isfinite(v))"
_IF_FINITE = "CASE WHEN fin THEN {} ELSE 'nan'::DOUBLE END"
_NONNAN_MIN = "min(v) FILTER (WHERE NOT isnan(v))"
_NONNAN_MAX = "max(v) FILTER (WHERE NOT isnan(v))"
# Marker rows have v NULL but a ts: aggregates over ts must skip them explicitly.
MIN_TS = "min(ts) FILTER (WHERE v IS NOT NULL)"
MAX_TS = "max(ts) FILTER (WHERE v IS NOT NULL)"
_EDGES = {"fts": MIN_TS, "lts": MAX_TS, "fv": "arg_min(v, ts)", "lv": "arg_max(v, ts)"}
# The window's values in time order (list() over a window keeps the frame's order).
_LIST = {"l": "list(v) FILTER (WHERE v IS NOT NULL)"}
# The sample before the window's first one (the anchor); a first sample without one gets a
# timestamp no anchor can have, so arg_min does not skip to the second sample.
NO_TS = "-9223372036854775807"
ANCHOR = {
    "fpts": f"arg_min(coalesce(pts, {NO_TS}), ts) FILTER (WHERE v IS NOT NULL)",
    "fpv": "arg_min(pv, ts)",
}


# extrapolatedRate: extrapolate the observed change to the window edges, but by at most half
# an average sample interval past the first/last sample when they are far from the edges, and
# for counters never back past the point where it would have been zero.
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


def _st_rate(per_second: bool) -> RangeFn:
    """extrapolatedRate with start timestamps (counters only): resets also where a sample's
    ST says the counter restarted; when the window's first sample has an ST inside the window
    (after its start, before the sample), a zero-valued point at that ST replaces the
    extrapolation to the left, and one sample is then enough."""
    aggs = {**_N, **_EDGES, "drops": "sum(dropv)", "drop0": "arg_min(dropv, ts)", "fst": FIRST_ST,
            "ovl": "sum(ovl)", "ovl0": "arg_min(ovl, ts)"}  # fmt: skip
    res0 = "lv - fv + (drops - drop0)"
    lets = (
        ("stz", "fst <> 0 AND fst > te - rng AND fst < fts"),
        ("sampled0", "(lts - fts) / 1000.0"),
        # one sample: no average interval, so no extrapolation to the right either
        ("avgdur", "CASE WHEN n > 1 THEN sampled0 / (n - 1) ELSE 0.0 END"),
        ("ds0", "(fts - (te - rng)) / 1000.0"),
        ("de0", "(te - lts) / 1000.0"),
        (
            "zero",
            f"CASE WHEN ({res0}) > 0 AND fv >= 0 THEN sampled0 * (fv / ({res0})) ELSE 'inf'::DOUBLE END",
        ),
        (
            "ds",
            "CASE WHEN stz THEN 0.0 ELSE least(CASE WHEN ds0 >= avgdur * 1.1 THEN avgdur / 2 ELSE ds0 END, zero) END",
        ),
        ("de", "CASE WHEN de0 >= avgdur * 1.1 THEN avgdur / 2 ELSE de0 END"),
        ("sampled", "CASE WHEN stz THEN (lts - fst) / 1000.0 ELSE sampled0 END"),
        ("res", f"{res0} + CASE WHEN stz THEN fv ELSE 0 END"),
        ("factor", "CASE WHEN sampled <> 0 THEN (sampled + ds + de) / sampled ELSE 1.0 END"),
    )
    final = "CASE WHEN n > 1 OR stz THEN res * factor" + (" / (rng / 1000.0) END" if per_second else " END")
    return RangeFn(aggs, final, derived=("strst", "dropv", "ovl"), lets=lets)


def _interpolate(t1: str, v1: str, t2: str, v2: str, t: str, counter: bool) -> str:
    """interpolate: the straight line through two samples at t; a counter that dropped
    between them restarts from zero at the first one."""
    y1 = f"(CASE WHEN {go_lt(v2, v1)} THEN 0 ELSE {v1} END)" if counter else v1
    return f"({y1} + ({v2} - {y1}) * ({t} - {t1}) / ({t2} - {t1}))"


def _anchored_rate(counter: bool, per_second: bool) -> RangeFn:
    """extendedRate, anchored: from the last sample at or before the range start (within the
    lookback delta; else the window's first) to the window's last sample, no extrapolation."""
    aggs = {**_N, **_EDGES, **ANCHOR}
    value = "lv - left"
    if counter:
        aggs |= {"drops": "sum(dropv)", "drop0": "arg_min(dropv, ts)"}
        # correctForCounterResets over anchor + window: the window's own drops, and the step
        # from the anchor to the first sample (drop0 compared it with whatever came before).
        value = f"{value} + (CASE WHEN has_a AND {go_lt('fv', 'fpv')} THEN fpv ELSE 0 END + (drops - drop0))"
    lets = (
        ("has_a", "fpts > te - rng - lb"),
        ("left", "CASE WHEN has_a THEN fpv ELSE fv END"),
    )
    final = f"({value})" + (" / (rng / 1000.0)" if per_second else "")
    return RangeFn(aggs, final, derived=("dropv",) if counter else (), lets=lets)


def _smoothed_rate(counter: bool, per_second: bool) -> RangeFn:
    """extendedRate, smoothed: both range edges interpolated between the samples around them
    (the lookback delta on either side bounds the search); an edge with a sample on one side
    only takes that sample."""
    aggs = {**_N, **_EDGES, **ANCHOR}
    # The first sample after te, and the one before it (the last sample at or before te).
    after = {
        "bts": MIN_TS,
        "bv": "arg_min(v, ts)",
        "bpts": f"arg_min(coalesce(pts, {NO_TS}), ts) FILTER (WHERE v IS NOT NULL)",
        "bpv": "arg_min(pv, ts)",
    }
    lets = (
        # a: the last sample at or before the range start; s: the one after it.
        ("a_ts", f"nullif(CASE WHEN n > 0 THEN fpts ELSE bpts END, {NO_TS})"),
        ("b_pts", f"nullif(bpts, {NO_TS})"),
        ("a_v", "CASE WHEN n > 0 THEN fpv ELSE bpv END"),
        ("has_a", "coalesce(a_ts > te - rng - lb, FALSE)"),
        ("has_b", "bts IS NOT NULL"),
        ("s_ts", "CASE WHEN n > 0 THEN fts ELSE bts END"),
        ("s_v", "CASE WHEN n > 0 THEN fv ELSE bv END"),
        ("left", "CASE WHEN has_a AND a_ts < te - rng THEN "
                 f"{_interpolate('a_ts', 'a_v', 's_ts', 's_v', 'te - rng', counter)} "
                 "WHEN has_a THEN a_v ELSE s_v END"),
        ("right", "CASE WHEN n > 0 AND lts = te THEN lv WHEN has_b THEN "
                  f"{_interpolate('b_pts', 'bpv', 'bts', 'bv', 'te', counter)} "
                  "WHEN n > 0 THEN lv ELSE a_v END"),
    )  # fmt: skip
    value = "right - left"
    if counter:
        # correctForCounterResets over left, the samples strictly inside, right.
        inner = (
            f"CASE WHEN {go_lt('fv', 'left')} THEN left ELSE 0 END + (drops - drop0) "
            f"+ CASE WHEN {go_lt('right', 'lv')} THEN lv ELSE 0 END"
        )
        edge = f"CASE WHEN {go_lt('right', 'left')} THEN left ELSE 0 END"
        aggs |= {"drops": "sum(dropv)", "drop0": "arg_min(dropv, ts)"}
        value = f"{value} + (CASE WHEN n = 0 THEN {edge} ELSE {inner} END)"
    # No result without a sample on each side of the range start and the range end.
    final = f"CASE WHEN (has_a OR n > 0) AND (n > 0 OR has_b) THEN ({value})" + (
        " / (rng / 1000.0) END" if per_second else " END"
    )
    return RangeFn(aggs, final, min_samples=0, derived=("dropv",) if counter else (), lets=lets, after=after)


def _anchored_count(flag: str) -> RangeFn:
    """funcChanges / funcResets, anchored: the anchor (pickFirstSampleIndices) is the first
    sample compared; without one, the window's first sample is."""
    aggs = {**_N, "s": f"sum({flag})", "f": f"arg_min({flag}, ts)", **ANCHOR}
    return RangeFn(aggs, "(s - CASE WHEN has_a THEN 0 ELSE f END)::DOUBLE", derived=(flag,),
                   lets=(("has_a", "fpts > te - rng - lb"),))  # fmt: skip


EXTENDED: dict[tuple[str, str], RangeFn] = {
    ("anchored", "rate"): _anchored_rate(counter=True, per_second=True),
    ("anchored", "increase"): _anchored_rate(counter=True, per_second=False),
    ("anchored", "delta"): _anchored_rate(counter=False, per_second=False),
    ("anchored", "changes"): _anchored_count("chg"),
    ("anchored", "resets"): _anchored_count("rst"),
    ("smoothed", "rate"): _smoothed_rate(counter=True, per_second=True),
    ("smoothed", "increase"): _smoothed_rate(counter=True, per_second=False),
    ("smoothed", "delta"): _smoothed_rate(counter=False, per_second=False),
}

# quantile (quantile.go): Go sorts NaN first. Sorting -v ascending puts NaN last as DuckDB
# does and reverses the rest, so -quantile(-v, 1-q) interpolates between the same two
# samples as Go's quantile(v, q). ``:qc`` is 1 - q clamped to [0, 1] (a constant).
_Q_SPECIAL = (
    "CASE WHEN isnan(:p0) THEN 'nan'::DOUBLE WHEN :p0 < 0 THEN '-inf'::DOUBLE "
    "WHEN :p0 > 1 THEN 'inf'::DOUBLE ELSE {} END"
)
QUANTILE_CONST = RangeFn({**_N, "x": "quantile_cont(-v, :qc)"}, _Q_SPECIAL.format("-x"))
# A per-step quantile (any scalar expression): the same arithmetic on the sorted window.
QUANTILE_LIST = RangeFn(
    {**_N, **_LIST},
    _Q_SPECIAL.format("ls[lo + 1] * (1 - w) + ls[hi + 1] * w"),
    lets=(
        (
            "ls",
            "list_concat(list_filter(l, lambda x: isnan(x)), list_sort(list_filter(l, lambda x: NOT isnan(x))))",
        ),
        ("rank", "CASE WHEN :p0 >= 0 AND :p0 <= 1 THEN :p0 * (n - 1) ELSE 0 END"),
        ("lo", "greatest(0, floor(rank))::BIGINT"),
        ("hi", "least(n - 1, lo + 1)::BIGINT"),
        ("w", "rank - floor(rank)"),
    ),
)

# funcDoubleExponentialSmoothing: s1 starts at the first sample and the trend b at the
# difference of the first two; the first step keeps that trend (calcTrendValue(0) = b),
# every later one mixes in the last change of the smoothed value. Folded with list_reduce.
_DES_STEP = (
    "list_reduce(l[3:], lambda acc, x: {"
    "'s0': acc.s1, "
    "'s1': :p0 * x + (1 - :p0) * (acc.s1 + (:p1 * (acc.s1 - acc.s0) + (1 - :p1) * acc.b)), "
    "'b': :p1 * (acc.s1 - acc.s0) + (1 - :p1) * acc.b}, "
    "{'s0': l[1], 's1': :p0 * l[2] + (1 - :p0) * (l[1] + (l[2] - l[1])), 'b': l[2] - l[1]}).s1"
)

RANGE_FUNCTIONS: dict[str, RangeFn] = {
    "count_over_time": RangeFn(_N, "n"),
    "sum_over_time": RangeFn({**_N, "s": "fsum(v)"}, "s"),
    # funcAvgOverTime sums directly and switches to an incremental mean when the sum would
    # overflow. Summing v * 2^-64 is bit for bit the same sum, scaled, for any |v| above
    # 4e-289, and cannot overflow: dividing then scaling back gives the mean without overflow.
    "avg_over_time": RangeFn({**_N, "s": "fsum(v * 5.421010862427522e-20)"}, "s / n * 1.8446744073709552e19"),
    # compareOverTime: a NaN is only kept when every sample is NaN.
    "min_over_time": RangeFn({**_N, "m": _NONNAN_MIN}, "coalesce(m, 'nan'::DOUBLE)"),
    "max_over_time": RangeFn({**_N, "m": _NONNAN_MAX}, "coalesce(m, 'nan'::DOUBLE)"),
    # ...and on ties the later sample wins (>=, <=); all NaN: the last sample.
    "ts_of_max_over_time": RangeFn(
        {**_N, "m": "arg_max(ts, row(v, ts)) FILTER (WHERE NOT isnan(v))", "x": MAX_TS},
        "coalesce(m, x) / 1000.0",
    ),
    "ts_of_min_over_time": RangeFn(
        {**_N, "m": "arg_min(ts, row(v, -ts)) FILTER (WHERE NOT isnan(v))", "x": MAX_TS},
        "coalesce(m, x) / 1000.0",
    ),
    # funcStddevOverTime's running (Welford) update turns any NaN or Inf into NaN; DuckDB's
    # stddev_pop of a lone NaN or Inf is 0.
    "stddev_over_time": RangeFn({**_N, "x": "stddev_pop(v)", "fin": _FINITE}, _IF_FINITE.format("x")),
    "stdvar_over_time": RangeFn({**_N, "x": "var_pop(v)", "fin": _FINITE}, _IF_FINITE.format("x")),
    "last_over_time": RangeFn({**_N, "x": "arg_max(v, ts)"}, "x"),
    "first_over_time": RangeFn({**_N, "x": "arg_min(v, ts)"}, "x"),
    "ts_of_last_over_time": RangeFn({**_N, "x": MAX_TS}, "x / 1000.0"),
    "ts_of_first_over_time": RangeFn({**_N, "x": MIN_TS}, "x / 1000.0"),
    "present_over_time": RangeFn(_N, "1.0"),
    # funcMadOverTime: the median of the deviations from the median; a NaN makes it NaN.
    "mad_over_time": RangeFn(
        {**_N, **_LIST, "nans": "count(v) FILTER (WHERE isnan(v))"},
        "CASE WHEN nans > 0 THEN 'nan'::DOUBLE ELSE list_median(list_transform(l, lambda x: abs(x - med))) END",
        lets=(("med", "list_median(l)"),),
    ),
    "double_exponential_smoothing": RangeFn({**_N, **_LIST}, _DES_STEP, min_samples=2),
    # The first sample's flag compares it with a sample outside the window: subtract it.
    "changes": RangeFn({**_N, "s": "sum(chg)", "f": "arg_min(chg, ts)"}, "(s - f)::DOUBLE", derived=("chg",)),
    "resets": RangeFn({**_N, "s": "sum(rst)", "f": "arg_min(rst, ts)"}, "(s - f)::DOUBLE", derived=("rst",)),
    "rate": _rate(counter=True, per_second=True),
    "increase": _rate(counter=True, per_second=False),
    "delta": _rate(counter=False, per_second=False),
    # instantValue (irate/idelta): the last two samples of the window.
    "irate": RangeFn(
        {**_N, "lts": MAX_TS, "lv": "arg_max(v, ts)", "lpv": "arg_max(pv, ts)", "lpts": "arg_max(pts, ts)"},
        f"CASE WHEN lpts > te - rng THEN (CASE WHEN {go_lt('lv', 'lpv')} "
        "THEN lv ELSE lv - lpv END) / ((lts - lpts) / 1000.0) END",
        min_samples=2,
    ),
    "idelta": RangeFn(
        {**_N, "lv": "arg_max(v, ts)", "lpv": "arg_max(pv, ts)", "lpts": "arg_max(pts, ts)"},
        "CASE WHEN lpts > te - rng THEN lv - lpv END",
        min_samples=2,
    ),
    # linearRegression (deriv, predict_linear): least squares over (seconds, value);
    # predict_linear's intercept is at the step's evaluation time, not the @/offset time.
    "deriv": RangeFn({**_N, "b": "regr_slope(v, ts / 1000.0)"}, "b", min_samples=2),
    "predict_linear": RangeFn(
        {
            **_N,
            "b": "regr_slope(v, ts / 1000.0)",
            "my": "avg(v)",
            "mx": "avg(ts) FILTER (WHERE v IS NOT NULL)",
        },
        "my + b * ((t - mx) / 1000.0 + :p0)",
        min_samples=2,
    ),
    "quantile_over_time": QUANTILE_CONST,
}

# The functions that read start timestamps (engine.go: rate, irate, increase, resets; not
# their anchored/smoothed forms but anchored resets, funcResets), used when the selected
# samples may carry them: with none they give the same results as RANGE_FUNCTIONS.
ST_FUNCTIONS: dict[str, RangeFn] = {
    "rate": _st_rate(per_second=True),
    "increase": _st_rate(per_second=False),
    # instantValue: the last sample's reset flag (a drop or an ST reset) instead of lv < lpv.
    "irate": RangeFn(
        {**RANGE_FUNCTIONS["irate"].aggs, "lrst": "arg_max(rst, ts)"},
        "CASE WHEN lpts > te - rng THEN (CASE WHEN lrst = 1 THEN lv ELSE lv - lpv END) / ((lts - lpts) / 1000.0) END",
        min_samples=2,
        derived=("strst", "rst"),
    ),
    "resets": RangeFn(
        {**_N, "s": "sum(rst)", "f": "arg_min(rst, ts)"}, "(s - f)::DOUBLE", derived=("strst", "rst")
    ),
}
ST_EXTENDED: dict[tuple[str, str], RangeFn] = {
    ("anchored", "resets"): RangeFn(
        EXTENDED[("anchored", "resets")].aggs, EXTENDED[("anchored", "resets")].final,
        derived=("strst", "rst"), lets=EXTENDED[("anchored", "resets")].lets,
    ),
}  # fmt: skip
