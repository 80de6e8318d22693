"""One case per query of ``queries.yml``: Prometheus 2.42 and promlake must give the same answer.

A case runs its query as an instant query at each of ``INSTANT_TIMES`` and as a range query
over each of ``RANGES`` (unless the query is a range vector) and fails with every difference
found, each under the evaluation it came from. Queries listed in ``known_differences.yml`` run
as strict xfail: a listed difference that no longer shows fails its case.
"""

from __future__ import annotations

from typing import Any

import pytest

from .cases import INSTANT_TIMES, RANGES, Query, load_known, load_queries
from .conftest import Sides
from .data import START_MS
from .sides import Outcome, differences

QUERIES = load_queries()
KNOWN = load_known(queries=QUERIES)


def _param(q: Query) -> Any:
    known = KNOWN.get(q.id)
    marks = [pytest.mark.xfail(strict=True, reason=f"{known.category}: {known.reason}")] if known else []
    return pytest.param(q, id=q.id, marks=marks)


def _at(ms: int) -> str:
    return f"$T0+{(ms - START_MS) // 1000}s"


def _says_something(o: Outcome) -> bool:
    return o.error is not None or o.string is not None or bool(o.canon)


@pytest.mark.parametrize("query", [_param(q) for q in QUERIES])
def test_query(query: Query, sides: Sides) -> None:
    problems: list[str] = []
    answers: list[Outcome] = []
    for t in INSTANT_TIMES:
        prom = sides.prometheus.instant(query.expr, t)
        lake = sides.promlake.instant(query.lake_expr, t)
        answers.append(prom)
        found = differences(prom, lake, instant=True, ordered=query.ordered)
        if found:
            problems += [f"instant query at {_at(t)}:", *("  " + f for f in found)]
    if query.range:
        for start, end, step in RANGES:
            prom = sides.prometheus.range(query.expr, start, end, step)
            lake = sides.promlake.range(query.lake_expr, start, end, step)
            answers.append(prom)
            found = differences(prom, lake, instant=False, ordered=False)
            if found:
                problems += [
                    f"range query {_at(start)}..{_at(end)} step {step // 1000}s:",
                    *("  " + f for f in found),
                ]
    if not any(_says_something(a) for a in answers):
        problems.append(
            "Prometheus answered nothing at every time: the query checks nothing (fix it or the data)"
        )
    if problems:
        shown = (
            query.expr if query.promlake_expr is None else f"{query.expr}  (promlake: {query.promlake_expr})"
        )
        pytest.fail(f"{shown}\n" + "\n".join(problems), pytrace=False)
