"""Self-tests of the differential harness: data, query set, manifest and comparison.

These need neither Prometheus nor the engine: they check that the data keeps away from window
edges as promised, that the manifest names real queries, and that :func:`differences` notices
what it must (and tolerates what it may).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .cases import INSTANT_TIMES, RANGES, load_known, load_queries
from .data import END_MS, START_MS, expand, generate, series_text, write_openmetrics
from .sides import Outcome, differences

API = (("instance", "a"), ("job", "api"))
WEB = (("instance", "b"), ("job", "web"))


def _vector(*points: tuple[tuple[tuple[str, str], ...], float], t: int = 1000) -> Outcome:
    canon = {k: (np.array([t]), np.array([v])) for k, v in points}
    return Outcome(kind="vector", canon=canon, order=tuple(k for k, _ in points))


def test_query_set_and_manifest_are_consistent() -> None:
    queries = load_queries()
    assert 80 <= len(queries) <= 125
    known = load_known(queries=queries)  # raises on an unknown id, category or a duplicate
    assert known and all(k.reason for k in known.values())
    # The edge_* queries exist to show an upstream change, and only they may meet one.
    upstream = {qid for qid, k in known.items() if k.category == "upstream-change"}
    assert {q.id for q in queries if q.id.startswith("edge_")} == upstream
    assert all("$T0" not in q.expr for q in queries)


def test_bad_manifest_entries_are_refused(tmp_path: Path) -> None:
    queries = load_queries()
    bad = tmp_path / "known.yml"
    bad.write_text("differences:\n  - {ids: [no_such_query], category: upstream-change, reason: x}\n")
    with pytest.raises(ValueError, match="no_such_query"):
        load_known(bad, queries)
    bad.write_text("differences:\n  - {ids: [sel_eq], category: flaky, reason: x}\n")
    with pytest.raises(ValueError, match="category"):
        load_known(bad, queries)


def test_data_is_deterministic_and_off_the_window_edges() -> None:
    a, b = generate(), generate()
    assert len(a.series) == len(b.series) > 150
    for x, y in zip(a.series, b.series, strict=True):
        assert x.labels == y.labels
        assert np.array_equal(x.ts, y.ts) and np.array_equal(x.values, y.values, equal_nan=True)
    for s in a.series:
        assert s.ts[0] >= START_MS and s.ts[-1] < END_MS
        if s.labels["__name__"].startswith("demo_"):
            ms = s.ts % 1000
            assert ms.min() >= 40 and ms.max() <= 960, s.labels  # never on a whole second
    # Query times: whole seconds, 7 s past a multiple of 15 s, so never on a subquery step.
    times = [*INSTANT_TIMES, *(t for start, end, step in RANGES for t in range(start, end + 1, step))]
    assert all(t % 1000 == 0 and t % 60_000 == 7_000 for t in times[: len(INSTANT_TIMES)])
    assert all(t % 1000 == 0 and t % 5_000 != 0 for t in times)


def test_openmetrics_text(tmp_path: Path) -> None:
    assert series_text({"__name__": "m", "a": 'x"y\\z', "b": "1\n2"}) == 'm{a="x\\"y\\\\z",b="1\\n2"}'
    ds = generate()
    path = tmp_path / "data.om"
    assert write_openmetrics(ds, path) == ds.n_samples
    text = path.read_text()
    assert text.endswith("# EOF\n") and text.count("\n") == ds.n_samples + len(list(ds.families())) + 1
    assert "# TYPE demo_request_duration_seconds histogram\n" in text
    assert expand("x @ $T0+7") == f"x @ {START_MS // 1000 + 7}" and expand("$T0") == str(START_MS // 1000)


def test_differences_tolerance_and_special_values() -> None:
    p = _vector((API, 1.0), (WEB, float("nan")))
    assert differences(p, _vector((API, 1.0 + 1e-9), (WEB, float("nan"))), instant=True, ordered=False) == []
    assert differences(p, _vector((API, 1.001), (WEB, float("nan"))), instant=True, ordered=False)
    assert differences(p, _vector((API, 1.0), (WEB, 0.0)), instant=True, ordered=False)
    inf = _vector((API, float("inf")))
    assert differences(inf, _vector((API, float("inf"))), instant=True, ordered=False) == []
    assert differences(inf, _vector((API, float("-inf"))), instant=True, ordered=False)
    assert differences(p, _vector((API, 1.0)), instant=True, ordered=False)  # a missing series
    assert differences(p, _vector((API, 1.0), (WEB, float("nan")), t=2000), instant=True, ordered=False)


def test_differences_types_errors_and_order() -> None:
    p = _vector((API, 2.0), (WEB, 1.0))
    scalar = Outcome(kind="scalar", canon={(): (np.array([1000]), np.array([2.0]))}, order=((),))
    assert differences(scalar, Outcome(kind="vector", canon=scalar.canon), instant=True, ordered=False)
    assert differences(scalar, Outcome(kind="matrix", canon=scalar.canon), instant=False, ordered=False) == []
    assert (
        differences(Outcome(error="bad_data: x"), Outcome(error="ParseError: y"), instant=True, ordered=False)
        == []
    )
    assert differences(Outcome(error="bad_data: x"), p, instant=True, ordered=False)
    assert differences(p, Outcome(error="ValueError: z", crashed=True), instant=True, ordered=False)
    swapped = _vector((WEB, 1.0), (API, 2.0))
    assert differences(p, swapped, instant=True, ordered=False) == []
    assert differences(p, swapped, instant=True, ordered=True)
    ties = _vector((API, 1.0), (WEB, 1.0))
    assert differences(ties, _vector((WEB, 1.0), (API, 1.0)), instant=True, ordered=True) == []
