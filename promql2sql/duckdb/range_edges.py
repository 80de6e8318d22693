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

from .context import Compiler, Timeline, num, tmpl
from .range_catalog import ANCHOR, FIRST_ST, MAX_TS, MIN_TS, NO_TS, RangeFn

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
    "arg_max(rst, ts)": "l.rst",
    # start timestamps (range_catalog.ST_FUNCTIONS)
    FIRST_ST: "coalesce(f.st, 0)",
    "arg_min(ovl, ts)": "f.ovl",
    "sum(ovl)": "l.c_ovl - f.c_ovl + f.ovl",
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
    "ovl": {"c_ovl": f"sum(ovl) {_WINDOW}"},
    "dropv": {
        "nz_drop": f"sum((dropv <> 0)::INTEGER) {_WINDOW}",
        "inf_drop": f"sum(isinf(dropv)::INTEGER) {_WINDOW}",
        "c_drop": f"sum(CASE WHEN isinf(dropv) THEN 0 ELSE dropv END) {_WINDOW}",
    },
}


def edge_computable(fn: RangeFn) -> bool:
    """Whether every aggregate of ``fn`` has an edge form (and it needs no look ahead)."""
    return not fn.after and fn.min_samples >= 1 and all(s in EDGE_AGGREGATES for s in fn.aggs.values())


# Per-sample columns the regular path adds in the same window pass as ``pv``/``pts`` (one sort).
ORDINALS = {
    "rn": f"row_number() {_WINDOW}",
    "nts": "lead(ts) OVER (PARTITION BY sk ORDER BY ts)",
}


def _numbered(c: Compiler, fn: RangeFn, enriched: exp.Select, regular: bool) -> str:
    """Each series' samples with the running sums ``fn`` needs, numbered.

    The regular path numbers the samples in the first window pass (``ORDINALS``) and adds
    counter-reset corrections by a join, so it needs neither ``rn`` nor the ``dropv`` sums.
    """
    running = {} if regular else {"rn": f"row_number() {_WINDOW}"}
    for derived in fn.derived:
        if not (regular and derived == "dropv"):
            running.update(RUNNING.get(derived, {}))
    if not running:
        return c.cte(enriched, "edges")
    numbered = exp.select("*", *(tmpl(s).as_(name) for name, s in running.items())).from_(enriched.subquery())
    return c.cte(numbered, "edges")


def regular_edge_windows(
    c: Compiler, fn: RangeFn, enriched: exp.Select, tl: Timeline, first_te: int, rng: int
) -> exp.Select:
    """``edge_windows`` for evaluation times ``first_te + k * step``, without the grid.

    ``enriched`` must carry ``ORDINALS``. A sample is the last one of the windows ending
    from its own time up to just before the next sample, and the first one of the windows
    starting from its predecessor's time up to just before its own: each sample says for
    which steps ``k`` it is an edge (mostly none or one), and the two edges of a window meet
    in an equi-join on (series, k). No (series x steps) grid, no ASOF join sorting it.

    Counter resets are rare, so the reset correction is not a running sum (a second sort of
    every sample): the windows that hold one find its samples by a join with the few
    samples that dropped, and add their terms exactly.
    """
    base = _numbered(c, fn, enriched, regular=True)
    holes = {
        "te0": num(first_te),
        "step": num(float(tl.step)),
        "last": num(len(tl.times()) - 1),
        "rng": num(rng),
    }
    last_of = tmpl(
        "SELECT *, unnest(range(greatest(ceil((ts - :te0) / :step)::BIGINT, 0), "
        "least(coalesce(ceil((nts - :te0) / :step)::BIGINT - 1, :last), :last) + 1)) AS k FROM :base",
        base=exp.to_table(base), **holes,
    )  # fmt: skip
    first_of = tmpl(
        "SELECT *, unnest(range(greatest(coalesce(ceil((pts + :rng - :te0) / :step)::BIGINT, 0), 0), "
        "least(ceil((ts + :rng - :te0) / :step)::BIGINT - 1, :last) + 1)) AS k FROM :base",
        base=exp.to_table(base), **holes,
    )  # fmt: skip
    lasts, firsts = c.cte(last_of, "lasts"), c.cte(first_of, "firsts")
    drop_sums = [name for name, s in fn.aggs.items() if s == "sum(dropv)"]
    aggs = [
        tmpl("f.dropv" if name in drop_sums else EDGE_AGGREGATES[s]).as_(name) for name, s in fn.aggs.items()
    ]
    windows = (
        exp.select(
            "l.sk",
            tmpl(":t0 + l.k * :step", t0=num(tl.start), step=num(tl.step)).as_("t"),
            tmpl(":te0 + l.k * :step", te0=num(first_te), step=num(tl.step)).as_("te"),
            *aggs,
            *([exp.column("rn", "f").as_("__frn"), exp.column("rn", "l").as_("__lrn")] if drop_sums else []),
        )
        .from_(exp.to_table(lasts).as_("l"))
        .join(exp.to_table(firsts).as_("f"), on="l.sk = f.sk AND l.k = f.k")
    )
    if not drop_sums:
        return windows
    wins = c.cte(windows, "edgewins")
    corrections = c.cte(
        tmpl(
            "SELECT w.sk, w.t, fsum(r.dropv) AS corr FROM :wins AS w "
            "JOIN (SELECT sk, rn, dropv FROM :base WHERE dropv <> 0) AS r "
            "ON r.sk = w.sk AND r.rn > w.__frn AND r.rn <= w.__lrn GROUP BY ALL",
            wins=exp.to_table(wins), base=exp.to_table(base),
        ),
        "resets",
    )  # fmt: skip
    columns: list[exp.Expression] = [
        exp.column(n, "w") for n in ("sk", "t", "te", *fn.aggs) if n not in drop_sums
    ]
    columns += [tmpl("w.:n + coalesce(x.corr, 0)", n=exp.to_identifier(n)).as_(n) for n in drop_sums]
    return (
        exp.select(*columns)
        .from_(exp.to_table(wins).as_("w"))
        .join(exp.to_table(corrections).as_("x"), on="x.sk = w.sk AND x.t = w.t", join_type="left")
    )


def edge_windows(
    c: Compiler, fn: RangeFn, enriched: exp.Select, grid: str, rng: int, dynamic: list[str]
) -> exp.Select:
    """One row per (series, step) with ``fn``'s aggregates: ``sk, t, te, <params>, <aggs>``.

    ``enriched`` is each series' samples with their previous sample and derived columns.
    """
    base = _numbered(c, fn, enriched, regular=False)
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
