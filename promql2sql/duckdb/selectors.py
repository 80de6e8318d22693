"""Selectors: instant alignment with lookback and staleness, range windows, subqueries.

Instant alignment is an ASOF join from the (series x steps) grid to the samples: the newest
sample at or before each evaluation time, kept only if it is inside the lookback window and
not a stale marker (Prometheus drops a series from the moment its stale marker is newest).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import sqlglot.expressions as exp

from .. import plan as p
from .context import Compiler, Mat, Timeline, Vec, handles, num, table, tmpl


def eval_bounds(tl: Timeline, offset_ms: int, at_ms: int | None) -> tuple[int, int]:
    """The range of evaluation times (t - offset, or the pinned @ time) over a timeline."""
    if at_ms is not None:
        return at_ms - offset_ms, at_ms - offset_ms
    return tl.start - offset_ms, tl.end - offset_ms


def selected_series(c: Compiler, matchers: tuple) -> str:
    data = c.querier.series(matchers)
    if isinstance(data, pa.Table):  # from the series index: registered, not copied
        source: exp.Expression = table(c.register(data, "sel"))
    else:  # SQL over the lake's series files (portable SQL for `promlake translate`)
        source = data.subquery()
    name = c.cte(tmpl("SELECT sk, labels, FALSE AS drop_name FROM :t", t=source), "series")
    if isinstance(data, pa.Table):
        c.index_series[name] = data
    return name


def samples_for(
    c: Compiler, series: str, mint: int, maxt: int, keep_stale: bool, with_st: bool = False
) -> str:
    """Samples of the selected series with mint <= ts <= maxt (and their start timestamps)."""
    body = tmpl(
        "SELECT x.sk, x.ts, x.v, x.stale FROM :src AS x "
        "WHERE x.ts BETWEEN :lo AND :hi AND x.sk IN (SELECT sk FROM :series)",
        src=c.querier.samples(mint, maxt).subquery(), lo=num(mint), hi=num(maxt), series=table(series),
    )  # fmt: skip
    if with_st:
        body = body.select("x.st")
    if not keep_stale:
        body = body.where("NOT x.stale", append=True)
    return c.cte(body, "samples")


def grid(c: Compiler, series: str, tl: Timeline, offset_ms: int, at_ms: int | None) -> str:
    """(sk, t, te): every series at every step, with its evaluation time te."""
    te = num(at_ms - offset_ms) if at_ms is not None else tmpl("st.t - :o", o=num(offset_ms))
    body = tmpl(
        "SELECT s.sk, st.t, :te AS te FROM :series AS s CROSS JOIN :steps AS st",
        te=te, series=table(series), steps=table(c.steps(tl)),
    )  # fmt: skip
    return c.cte(body, "grid")


@handles(p.InstantSelect)
def instant_select(c: Compiler, node: p.InstantSelect, tl: Timeline) -> Vec:
    if node.smoothed:
        from .smoothing import smoothed_select  # it builds on this module

        return smoothed_select(c, node, tl)
    series = selected_series(c, node.matchers)
    lo, hi = eval_bounds(tl, node.offset_ms, node.at_ms)
    mint = lo - node.lookback_ms + 1
    st = bool(node.with_st) and c.querier.has_start_timestamps(mint, hi)
    src = samples_for(c, series, mint, hi, keep_stale=True, with_st=st)
    g = grid(c, series, tl, node.offset_ms, node.at_ms)
    body = tmpl(
        "SELECT g.sk, g.t, x.v, x.ts FROM :grid AS g ASOF JOIN :src AS x ON g.sk = x.sk AND x.ts <= g.te "
        "WHERE x.ts > g.te - :lookback AND NOT x.stale",
        grid=table(g), src=table(src), lookback=num(node.lookback_ms),
    )  # fmt: skip
    if node.with_st:
        body = body.select(exp.column("st", "x") if st else exp.cast(exp.null(), "BIGINT").as_("st"))
    return Vec(c.cte(body, "instant"), series)


@dataclass(frozen=True)
class WindowInput:
    """What a range function needs: samples (sk, ts, v), series, and the (sk, t, te) grid."""

    samples: str
    series: str
    grid: str
    range_ms: int
    # samples has a column st (start timestamps, ms, NULL = unknown) that may hold some
    has_st: bool = False


def window_input(
    c: Compiler, m: p.RangeSelect | p.Subquery, tl: Timeline, want_st: bool = False
) -> WindowInput:
    """``want_st``: the samples' start timestamps, when storage may hold any in the span (a
    subquery's points never have one: engine.go passes them from selectors only)."""
    lo, hi = eval_bounds(tl, m.offset_ms, m.at_ms)
    if isinstance(m, p.RangeSelect):
        series = selected_series(c, m.matchers)
        # anchored/smoothed windows also see one lookback delta before (and, smoothed, after)
        # the range (engine.go getTimeRangesForSelector); m.lookback_ms is 0 otherwise.
        after = m.lookback_ms if m.smoothed else 0
        mint, maxt = lo - m.range_ms - m.lookback_ms + 1, hi + after
        st = want_st and c.querier.has_start_timestamps(mint, maxt)
        samples = samples_for(c, series, mint, maxt, keep_stale=False, with_st=st)
        return WindowInput(samples, series, grid(c, series, tl, m.offset_ms, m.at_ms), m.range_ms, st)
    inner_tl = subquery_timeline(lo, hi, m.range_ms, m.step_ms)
    inner = c.compile(m.inner, inner_tl)
    assert isinstance(inner, Vec), "a subquery's inner expression is an instant vector"
    series = inner.series
    samples = c.cte(tmpl("SELECT sk, t AS ts, v FROM :p", p=table(inner.points)), "subq")
    return WindowInput(samples, series, grid(c, series, tl, m.offset_ms, m.at_ms), m.range_ms)


def subquery_timeline(lo: int, hi: int, range_ms: int, step_ms: int) -> Timeline:
    """Inner evaluation times of a subquery: multiples of its step in (lo - range, hi]."""
    first = (lo - range_ms) // step_ms * step_ms
    if first <= lo - range_ms:
        first += step_ms
    last = hi // step_ms * step_ms
    return (
        Timeline(first, max(first, last), step_ms)
        if last >= first
        else Timeline(first, first - step_ms, step_ms)
    )


@handles(p.RangeSelect)
@handles(p.Subquery)
def range_vector(c: Compiler, node: p.RangeSelect | p.Subquery, tl: Timeline) -> Mat:
    """A range vector (selector or subquery) as a query result (only valid for an instant query)."""
    w = window_input(c, node, tl)
    body = tmpl(
        "SELECT g.sk, g.t, x.ts, x.v FROM :grid AS g JOIN :src AS x ON g.sk = x.sk "
        "AND x.ts > g.te - :r AND x.ts <= g.te",
        grid=table(w.grid), src=table(w.samples), r=num(w.range_ms),
    )  # fmt: skip
    return Mat(c.cte(body, "matrix"), w.series)
