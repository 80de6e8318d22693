"""``x smoothed``: an instant selector interpolated between the samples around each step.

Upstream's smoothSeries (engine.go) looks one lookback delta back and ahead of each
evaluation time: a sample exactly at it is taken as is; otherwise the previous and the next
sample are joined by a straight line (no counter handling); without a next sample the
previous one is carried forward, and without a previous one there is no value. Stale
markers are not samples here (matrixIterSlice skips them). Two ASOF joins find both
neighbours for every (series, step) at once.
"""

from __future__ import annotations

from .. import plan as p
from .context import Compiler, Timeline, Vec, num, table, tmpl
from .selectors import eval_bounds, grid, samples_for, selected_series


def smoothed_select(c: Compiler, node: p.InstantSelect, tl: Timeline) -> Vec:
    series = selected_series(c, node.matchers)
    lo, hi = eval_bounds(tl, node.offset_ms, node.at_ms)
    lb = node.lookback_ms
    src = samples_for(c, series, lo - lb + 1, hi + lb, keep_stale=False)
    g = grid(c, series, tl, node.offset_ms, node.at_ms)
    body = tmpl(
        "SELECT g.sk, g.t, CASE WHEN x.ts = g.te OR y.ts IS NULL OR y.ts > g.te + :lb THEN x.v "
        "ELSE x.v + (y.v - x.v) * (g.te - x.ts) / (y.ts - x.ts) END AS v, g.te AS ts "
        "FROM :grid AS g "
        "ASOF JOIN :src AS x ON g.sk = x.sk AND x.ts <= g.te "
        "ASOF LEFT JOIN :src AS y ON g.sk = y.sk AND y.ts > g.te "
        "WHERE x.ts > g.te - :lb",
        grid=table(g), src=table(src), lb=num(lb),
    )  # fmt: skip
    return Vec(c.cte(body, "smoothed"), series)
