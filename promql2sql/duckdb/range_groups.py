"""Range functions over windows that overlap little, as one GROUP BY (series, step).

When the steps are at least as long as the range, say ``avg_over_time(x[1h])`` every hour over
30 days, each sample falls in at most one window: the windows are plain groups and every
aggregate of ``range_catalog.py`` is an ordinary aggregate over its group. When windows
overlap a little (range up to ``MAX_COPIES`` steps), each sample is copied into each window
it belongs to (``unnest(range(first, last + 1))``) and grouped the same way. Either way one
row is computed per (series, step) instead of one per sample, which is what the window
operator of ``range_functions.py`` does before keeping the step rows: on 30 days of data at
1h steps that is ~60 samples computed per row kept.

This needs the evaluation times to be regular, ``te = first_te + k * step``: not with ``@``
(every step has the same window), nor with per-step parameters. Functions that depend on
the order of a window's samples in a list (``double_exponential_smoothing``) keep the window
operator, since a group's ``list()`` has no order.
"""

from __future__ import annotations

import sqlglot.expressions as exp

from .context import Compiler, Timeline, num, parse_template, tmpl
from .range_catalog import RangeFn

MAX_COPIES = 3  # most windows one sample may be copied into (range / step, rounded up)
_ORDER_SENSITIVE = ("double_exponential_smoothing",)


def groupable(func: str, fn: RangeFn, rng: int, tl: Timeline, regular: bool) -> bool:
    """Whether ``fn`` over ``rng`` at ``tl``'s steps can run as a GROUP BY."""
    if not regular or fn.after or func in _ORDER_SENSITIVE or tl.step <= 0:
        return False
    # An instant query has one step: any range is one group per series.
    return min(-(-rng // tl.step), len(tl.times())) <= MAX_COPIES


def grouped_windows(
    c: Compiler, fn: RangeFn, enriched: exp.Select, tl: Timeline, first_te: int, rng: int,
    params: dict[str, exp.Expression],
) -> exp.Select:  # fmt: skip
    """``sk, t, te, <aggs>``: one row per (series, step) whose window holds a sample.

    ``first_te`` is the first step's window end (its time minus the offset); step ``k``'s
    window is ``(first_te + k*step - rng, first_te + k*step]``.
    """
    steps = len(tl.times())
    # The steps whose window holds ts: te_k >= ts and te_k - rng < ts.
    copies = tmpl(
        "SELECT *, unnest(range(greatest(ceil((ts - :te0) / :step)::BIGINT, 0), "
        "least(floor((ts + :rng - 1 - :te0) / :step)::BIGINT, :last) + 1)) AS k FROM :src",
        te0=num(first_te), step=num(float(tl.step)), rng=num(rng), last=num(steps - 1),
        src=enriched.subquery(),
    )  # fmt: skip
    stream = c.cte(copies, "copies")
    aggs = [exp.replace_placeholders(parse_template(s).copy(), **params).as_(name) for name, s in fn.aggs.items()]
    grouped = exp.select(
        "sk",
        tmpl(":t0 + k * :step", t0=num(tl.start), step=num(tl.step)).as_("t"),
        tmpl(":te0 + k * :step", te0=num(first_te), step=num(tl.step)).as_("te"),
        *aggs,
    ).from_(stream).group_by("sk", "k")
    return grouped
