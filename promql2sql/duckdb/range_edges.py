"""Range functions that only need a window's edges, computed by two ASOF joins.

Most of what dashboards ask of a range vector (``rate``, ``increase``, ``delta``, ``irate``,
``changes``, ``resets``, ``count_over_time``, ``last_over_time``, ...) needs only the first
and the last sample of each window, the number of samples between them and sums of per-sample
flags. Each series' samples are numbered and carry running sums of those flags; then for
every (series, step) one ASOF join finds the last sample at or before ``te`` and another the
first sample after ``te - range``. Differences of the running columns give the window's
count and sums. This reads each sample a constant number of times and computes one row per
(series, step), where the window operator (``range_functions.py``) computes an aggregate for
every sample row and keeps only the step rows: 5-6x faster on dashboard queries (measured
in benchmarks/README.md).

The aggregates are recognised by the very snippets ``range_catalog.py`` spells them with, so
that catalog stays the one description of what a function computes; a function whose
aggregates are not all listed here keeps the window operator.

Float sums (the counter-reset correction) are differences of running sums only when the
window holds a reset: a window without one takes its first sample's own term, exactly as the
window operator would. With resets, the difference of running sums can round differently
from Prometheus's in-window sum by a few ulps of the running total. ``+Inf`` terms are
counted apart, so one does not turn every later window into ``inf - inf``.
"""

from __future__ import annotations

import sqlglot.expressions as exp

from .context import Compiler, num, tmpl
from .range_catalog import ANCHOR, MAX_TS, MIN_TS, NO_TS, RangeFn

# aggregate snippet (as range_catalog spells it) -> the same value from the edge rows
# ``l`` (last sample at or before te) and ``f`` (first sample after te - range).
EDGE_AGGREGATES: dict[str, str] = {
    "count(v)": "l.rn - f.rn + 1",
    MIN_TS: "f.ts",
    MAX_TS: "l.ts",
    "arg_min(v, ts)": "f.v",
    "arg_max(v, ts)": "l.v",
    "arg_max(pv, ts)": "l.pv",
    "arg_max(pts, ts)": "l.pts",
    ANCHOR["fpv"]: "f.pv",
    ANCHOR["fpts"]: f"coalesce(f.pts, {NO_TS})",
    "arg_min(chg, ts)": "f.chg",
    "arg_min(rst, ts)": "f.rst",
    "arg_min(dropv, ts)": "f.dropv",
    "sum(chg)": "l.c_chg - f.c_chg + f.chg",
    "sum(rst)": "l.c_rst - f.c_rst + f.rst",
    "sum(dropv)": (
        "CASE WHEN l.nz_drop = f.nz_drop THEN f.dropv "
        "WHEN l.inf_drop - f.inf_drop + isinf(f.dropv)::INTEGER > 0 THEN 'inf'::DOUBLE "
        "ELSE l.c_drop - f.c_drop + f.dropv END"
    ),
}

# Running columns over each series' samples, by the derived column they sum.
_WINDOW = "OVER (PARTITION BY sk ORDER BY ts ROWS UNBOUNDED PRECEDING)"
RUNNING: dict[str, dict[str, str]] = {
    "chg": {"c_chg": f"sum(chg) {_WINDOW}"},
    "rst": {"c_rst": f"sum(rst) {_WINDOW}"},
    "dropv": {
        "nz_drop": f"count(*) FILTER (WHERE dropv <> 0) {_WINDOW}",
        "inf_drop": f"count(*) FILTER (WHERE isinf(dropv)) {_WINDOW}",
        "c_drop": f"sum(CASE WHEN isinf(dropv) THEN 0 ELSE dropv END) {_WINDOW}",
    },
}


def edge_computable(fn: RangeFn) -> bool:
    """Whether every aggregate of ``fn`` has an edge form (and it needs no look ahead)."""
    return not fn.after and fn.min_samples >= 1 and all(s in EDGE_AGGREGATES for s in fn.aggs.values())


def edge_windows(
    c: Compiler, fn: RangeFn, enriched: exp.Select, grid: str, rng: int, dynamic: list[str]
) -> exp.Select:
    """One row per (series, step) with ``fn``'s aggregates: ``sk, t, te, <params>, <aggs>``.

    ``enriched`` is each series' samples with their previous sample and derived columns.
    """
    running = {"rn": f"row_number() {_WINDOW}"}
    for derived in fn.derived:
        running.update(RUNNING.get(derived, {}))
    numbered = exp.select("*", *(tmpl(s).as_(name) for name, s in running.items())).from_(enriched.subquery())
    base = c.cte(numbered, "edges")
    aggs = [tmpl(EDGE_AGGREGATES[s]).as_(name) for name, s in fn.aggs.items()]
    joined = tmpl(
        "SELECT * FROM :grid AS g "
        "ASOF JOIN :base AS l ON g.sk = l.sk AND g.te >= l.ts "
        "ASOF JOIN :base AS f ON g.sk = f.sk AND g.te - :rng < f.ts",
        grid=exp.to_table(grid), base=exp.to_table(base), rng=num(rng),
    )  # fmt: skip
    columns = ["g.sk", "g.t", "g.te", *(f"g.{d}" for d in dynamic)]
    joined.set("expressions", [exp.column(*reversed(col.split("."))) for col in columns] + aggs)
    assert isinstance(joined, exp.Select)
    return joined
