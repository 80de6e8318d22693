"""Self-tests of the conformance runner that need no PromQL engine.

The corpus reader is checked against FORMAT.md's inventory, the @-pinning rewrite against
hand-written queries, and the runner's flow (storage lifecycle, extra checks, expected
failures, unstored series) against a scripted in-memory engine. Result comparison has its own
module, ``test_compare_selftest.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from promlake.promql2sql import ParseError, parse_expr
from promlake.promql2sql.errors import ExecutionError
from promlake.promql2sql.result import QueryResult
from promlake.promql2sql.series import STALE_NAN, is_stale

from ._results import matrix, scalar, vector
from .gaps import Gap, Gaps, guess_category, load_gaps, updated_gaps
from .pinning import at_modifier_unsafe, pin_at, pinned_variants, range_mode_allowed
from .promqltest import CORPUS_DIR, Clear, Eval, FormatError, Load, corpus_files, parse_file, parse_text
from .runner import Failure, Outcome, Runner
from .samples import LoadData, expand_load
from .seam import NotSupported, Unstored

pytestmark = pytest.mark.skipif(not CORPUS_DIR.is_dir(), reason=f"no corpus at {CORPUS_DIR}")

# FORMAT.md section 11: evals per file as (instant, range).
INVENTORY = {
    "aggregators.test": (153, 7), "at_modifier.test": (63, 15), "collision.test": (2, 0),
    "duration_expression.test": (30, 29), "extended_vectors.test": (162, 7), "fill-modifier.test": (39, 7),
    "functions.test": (394, 37), "histograms.test": (185, 0), "info.test": (4, 49), "limit.test": (13, 24),
    "literals.test": (25, 0), "name_label_dropping.test": (29, 1), "native_histograms.test": (502, 20),
    "operators.test": (113, 101), "range_queries.test": (5, 13), "selectors.test": (31, 0),
    "staleness.test": (17, 0), "start_timestamps.test": (7, 19), "subquery.test": (34, 0),
    "trig_functions.test": (19, 0), "type_and_unit.test": (58, 0),
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[Eval]]:
    return {p.name: parse_file(p).evals for p in corpus_files()}


def test_corpus_eval_counts(corpus: dict[str, list[Eval]]) -> None:
    counts = {
        name: (sum(not e.is_range for e in evs), sum(e.is_range for e in evs)) for name, evs in corpus.items()
    }
    assert counts == INVENTORY
    assert sum(len(evs) for evs in corpus.values()) == 2214


def test_corpus_expectation_counts(corpus: dict[str, list[Eval]]) -> None:
    evals = [e for evs in corpus.values() for e in evs]
    assert sum(e.is_fail for e in evals) == 35
    assert sum(e.legacy_fail for e in evals) == 3
    assert sum(e.expect_scalar for e in evals) == 54
    assert sum(e.expect_string for e in evals) == 5
    assert sum(e.expect_range_vector for e in evals) == 5
    assert sum(e.expects_empty and not e.is_fail for e in evals) == 238
    kinds = Counter(x.kind for e in evals for x in e.expects)
    assert kinds == {"warn": 90, "info": 132, "no_warn": 265, "no_info": 149, "fail": 32, "ordered": 24}


def test_corpus_load_counts() -> None:
    commands = [c for p in corpus_files() for c in parse_file(p).commands]
    loads = [c for c in commands if isinstance(c, Load)]
    assert (sum(not c.with_nhcb for c in loads), sum(c.with_nhcb for c in loads)) == (277, 33)
    assert sum(s.start_offsets is not None for c in loads for s in c.series) == 37
    for load in loads:
        expand_load(load)  # every load of the corpus expands, NHCB conversion included


def test_corpus_extra_check_counts(corpus: dict[str, list[Eval]]) -> None:
    instant = [e for evs in corpus.values() for e in evs if not e.is_range]
    ranged = [e for e in instant if not (e.exclude_from_range_query or e.is_ordered or e.is_fail)]
    assert sum(range_mode_allowed(e.expr) for e in ranged) == 1810
    # FORMAT.md says 74 by a text search; upstream walks the AST, which does not enter duration
    # expressions, so "offset range()" (duration_expression.test:250) is not at-modifier unsafe.
    assert sum(at_modifier_unsafe(parse_expr(e.expr)) for e in instant) == 73


# --- the reader ---------------------------------------------------------------------------


def test_blocks_comments_and_scalar_lines() -> None:
    script = parse_text(
        "load 1m\n  foo 1 2\n# a comment ends the block\n"
        "eval instant at 1m foo\n# empty\n"
        "eval instant at 0 1 + 1\n  2\neval range from 0 to 1m step 30s foo\n  foo 1 _ 2\n\n"
        "clear\n",
        "t.test",
    )
    kinds = [type(c) for c in script.commands]
    assert kinds == [Load, Eval, Eval, Eval, Clear]
    first, second, third = script.evals
    assert first.expects_empty and first.time_ms == 60_000 and first.id == "t.test:4"
    assert second.expect_scalar and second.scalar == 2.0  # the scalar line ends the block...
    assert third.is_range and (third.start_ms, third.end_ms, third.step_ms) == (
        0,
        60_000,
        30_000,
    )  # ...so this is a command


def test_result_positions_skip_expect_lines() -> None:
    ev = parse_text(
        'eval instant at 0 x\n  expect ordered\n  a{x="1"} 1\n  expect no_warn\n  a{x="2"} 2\n'
    ).evals[0]
    assert [e.position for e in ev.expected.values()] == [1, 2]
    assert ev.is_ordered


def test_expect_range_vector_moves_the_eval_time_and_takes_a_position() -> None:
    ev = parse_text(
        "eval instant at 1m foo[1m]\n  expect range vector from 10s to 1m step 10s\n  foo 1 2\n"
    ).evals[0]
    assert (ev.time_ms, ev.start_ms, ev.end_ms, ev.step_ms) == (60_000, 10_000, 60_000, 10_000)
    assert ev.expect_range_vector and ev.exclude_from_range_query
    assert next(iter(ev.expected.values())).position == 2


def test_expect_lines() -> None:
    ev = parse_text(
        "eval instant at 0 x\n  expect warn msg: PromQL warning: a (1:1)\n  expect info regex: b+\n  expect fail\n"
    ).evals[0]
    warn, info, fail = ev.expects
    assert warn.message == "PromQL warning: a (1:1)" and warn.matches("PromQL warning: a (1:1)")
    assert info.regex is not None and info.matches("xbbx") and not info.matches("a")
    assert fail.matches("anything at all") and ev.is_fail
    assert (
        parse_text("eval instant at 0 x\n  expect fail msg:no space\n").evals[0].expects[0].message
        == "no space"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  expect warn\n  expect no_warn\n", "cannot be used together"),
        ("  expect fail\n  expect fail\n", "only one expect fail"),
        ("  expect sometimes\n", "invalid expect line"),
        ("  foo 1 2\n", "one value per series"),
        ("  expect string unquoted\n", "not correctly quoted"),
    ],
)
def test_bad_eval_bodies(body: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_text("eval instant at 0 x\n" + body)


def test_bad_commands() -> None:
    with pytest.raises(FormatError, match=r"t\.test:2: invalid command"):
        parse_text("clear\nfrobnicate\n", "t.test")
    with pytest.raises(FormatError, match="end time"):
        parse_text("eval range from 2m to 1m step 1m x\n")
    with pytest.raises(FormatError, match="invalid eval time"):
        parse_text("eval instant at -1m x\n")


def test_legacy_eval_fail_message_ends_the_block() -> None:
    script = parse_text("eval_fail instant at 0 x\n  expected_fail_message boom\nclear\n")
    assert script.evals[0].fail_message == "boom" and isinstance(script.commands[1], Clear)


def test_expect_string_uses_go_unquoting() -> None:
    ev = parse_text('eval instant at 0 "a"\n  expect string "a\\tb"\n').evals[0]
    assert ev.expect_string and ev.expected_string == "a\tb"
    assert parse_text('eval instant at 0 ""\n  expect string ``\n').evals[0].expected_string == ""


def test_load_values_and_start_timestamps() -> None:
    load = parse_text(
        'load 1m\n  a 1 _x2 stale 0+10x2\n  a 9\n  b{x="y"}@st _ -30s 0 -1s+1sx1\n  b{x="y"} 1 2 3 4 5\n'
    ).commands[0]
    assert isinstance(load, Load)
    a, b = load.series
    assert a.values == (9.0,)  # the second "a" line replaced the first
    assert b.start_offsets == (None, -30_000, 0, -1_000, 0)
    data = expand_load(load)
    assert data.float_ts.tolist() == [0, 0, 60_000, 120_000, 180_000, 240_000]
    assert data.float_start_ts.tolist() == [0, 0, 30_000, 120_000, 179_000, 240_000]
    assert data.has_start_timestamps


def test_stale_marker_bits_survive_expansion() -> None:
    load = parse_text("load 1m\n  a 1 stale NaN\n").commands[0]
    assert isinstance(load, Load)
    values = expand_load(load).float_values.tolist()
    assert not is_stale(values[0]) and is_stale(values[1]) and not is_stale(values[2])
    assert is_stale(STALE_NAN)


def test_load_with_nhcb_builds_custom_bucket_histograms() -> None:
    load = parse_text(
        'load_with_nhcb 1m\n  m_bucket{le="0.5"} 1 2\n  m_bucket{le="+Inf"} 3 5\n  m_sum 4 9\n  m_count 3 5\n'
    ).commands[0]
    assert isinstance(load, Load)
    data = expand_load(load)
    assert len(data.float_ts) == 8
    (name,) = {tuple(data.series[h.series].items()) for h in data.histograms}
    assert name == (("__name__", "m"),)
    second = data.histograms[1].value
    assert (second.schema, second.count, second.sum) == (-53, 5.0, 9.0)
    assert second.custom_values == (0.5,) and second.positive_buckets == (2.0, 3.0)


# --- @ pinning --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "pinned"),
    [
        ("foo", "foo @ 50.000"),
        ("rate(foo[5m] offset 1m)", "rate(foo[5m] @ 50.000 offset 1m)"),
        ("foo @ 10 + bar @ start()", "foo @ 10.000 + bar @ 50.000"),
        ("sum by (a) (foo)[5m:1m]", "sum by (a) (foo)[5m:1m] @ 50.000"),
        ("max_over_time(rate(x[1m])[5m:] @ 7)", "max_over_time(rate(x[1m])[5m:] @ 7.000)"),
        ('label_replace(up, "a", "$1", "b", "(.*)")', 'label_replace(up @ 50.000, "a", "$1", "b", "(.*)")'),
        ("topk(scalar(n), foo)", "topk(scalar(n @ 50.000), foo @ 50.000)"),
    ],
)
def test_pin_at(query: str, pinned: str) -> None:
    assert pinned_variants(query, 50_000)[0][0] == pinned


def test_pinned_times() -> None:
    assert [t for _, t in pinned_variants("foo", 50_000)] == [-500_000, 0, 10_000, 50_000, 500_000]
    assert [t for _, t in pinned_variants("foo", 0)] == [-1000, 0, 1000]
    assert [t for _, t in pinned_variants("foo", 7)] == [-70, 0, 1, 7, 70]


def test_unsafe_queries_are_not_pinned() -> None:
    assert pinned_variants("timestamp(foo)", 1000) == []
    assert pinned_variants("sum_over_time(rate(x[1m])[5m:]) + time()", 1000) == []
    assert pinned_variants("x offset range()", 1000) != []  # a duration expression is no call
    assert not range_mode_allowed("x offset range()") and range_mode_allowed("x")
    with pytest.raises(ParseError):
        pinned_variants("sum(", 0)


def test_pin_at_keeps_subquery_insides() -> None:
    expr = parse_expr("rate(x[1m])[5m:1m] @ 100")
    assert pin_at(expr, 5) == expr


# --- the runner, against a scripted engine --------------------------------------------------


@dataclass
class _Engine:
    answer: Callable[[str, str, int], QueryResult]
    calls: list[tuple[str, str, int]]

    def instant(self, query: str, time_ms: int) -> QueryResult:
        self.calls.append(("instant", query, time_ms))
        return self.answer("instant", query, time_ms)

    def range(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        self.calls.append(("range", query, start_ms))
        return self.answer("range", query, start_ms)


@dataclass
class _Storage:
    log: list[str]
    engine_: _Engine
    unstored_names: set[str] = field(default_factory=set)

    def load(self, data: LoadData) -> None:
        self.log.append(f"load {data.line}")
        gone = [
            Unstored(s, "native-histograms", "no")
            for s in data.series
            if s.get("__name__") in self.unstored_names
        ]
        if gone:
            raise NotSupported("native-histograms", "no", gone)

    def engine(self) -> _Engine:
        return self.engine_

    def close(self) -> None:
        self.log.append("close")


def _runner(
    answer: Callable[[str, str, int], QueryResult], **storage: object
) -> tuple[Runner, list[str], _Engine]:
    log: list[str] = []
    engine = _Engine(answer, [])

    def factory() -> _Storage:
        log.append("open")
        return _Storage(log, engine, **storage)  # type: ignore[arg-type]

    return Runner(factory), log, engine


_SCRIPT = parse_text(
    "load 1m\n  foo 1\n\neval instant at 1m foo\n  foo 1\n\nload 1m\n  bar 2\n\neval instant at 1m bar\n  bar 2\n\n"
    "clear\nload 1m\n  baz 3\n\neval instant at 0 baz\n  baz 3\n",
    "s.test",
)


def _echo(kind: str, query: str, t: int) -> QueryResult:
    name = query.split()[0]
    value = {"foo": 1.0, "bar": 2.0, "baz": 3.0}[name]
    if kind == "range":
        return matrix(({"__name__": name}, [(t, value), (t + 60_000, value), (t + 120_000, value)]))
    return vector(({"__name__": name}, value))


def test_runner_storage_lifecycle() -> None:
    runner, log, _ = _runner(_echo)
    first, second, third = _SCRIPT.evals
    assert runner.run(_SCRIPT, first).passed and runner.run(_SCRIPT, second).passed
    assert runner.run(_SCRIPT, third).passed
    assert log == ["open", "load 1", "load 7", "close", "open", "load 14"]
    assert runner.run(_SCRIPT, first).passed  # out of order: rebuilt with fewer loads
    runner.close()
    assert log[6:] == ["close", "open", "load 1", "close"]


def test_runner_makes_upstreams_extra_checks() -> None:
    runner, _, engine = _runner(_echo)
    outcome = runner.run(_SCRIPT, _SCRIPT.evals[0])
    assert outcome.passed and outcome.checks == 6
    assert engine.calls[:2] == [("instant", "foo", 60_000), ("range", "foo", 0)]
    pinned = [c for c in engine.calls if c[1] == "foo @ 60.000"]
    assert [c[2] for c in pinned if c[0] == "instant"] == [-600_000, 0, 12_000, 60_000, 600_000]
    assert [c[2] for c in pinned if c[0] == "range"] == [-660_000, -60_000, -48_000, 0, 540_000]


def test_runner_reports_the_failing_sub_check() -> None:
    def wrong_when_pinned(kind: str, query: str, t: int) -> QueryResult:
        result = _echo(kind, query.split()[0], t)
        return vector(({"__name__": "foo"}, 5.0)) if "@" in query and t < 0 and kind == "instant" else result

    runner, _, _ = _runner(wrong_when_pinned)
    outcome = runner.run(_SCRIPT, _SCRIPT.evals[0])
    assert outcome.failure is not None
    assert outcome.failure.headline == '[@-pinned t=-600000] expected 1 for {__name__="foo"}, but got 5'
    assert "query: foo @ 60.000" in outcome.report() and "time:  instant at -600000ms" in outcome.report()


def test_runner_expected_failures() -> None:
    script = parse_text("eval instant at 0 x\n  expect fail regex: bo+m\n", "f.test")

    def boom(kind: str, query: str, t: int) -> QueryResult:
        raise ExecutionError("kaboom")

    runner, _, engine = _runner(boom)
    assert runner.run(script, script.evals[0]).passed
    assert all(c[0] == "instant" for c in engine.calls)  # no range mode after an expected failure
    runner, _, _ = _runner(lambda *_: scalar(1))
    failure = runner.run(script, script.evals[0]).failure
    assert (
        failure is not None
        and failure.headline == "[instant] expected the query to fail, but it returned a scalar"
    )


def test_runner_turns_engine_crashes_into_failures() -> None:
    def crash(kind: str, query: str, t: int) -> QueryResult:
        raise NotImplementedError("subqueries")

    runner, _, _ = _runner(crash)
    failure = runner.run(_SCRIPT, _SCRIPT.evals[0]).failure
    assert failure is not None and failure.category == "crash"
    assert failure.headline == "[instant] engine raised NotImplementedError: subqueries"


def test_runner_fails_only_evals_that_select_unstored_series() -> None:
    script = parse_text(
        "load 1m\n  foo 1\n  hist 2\n\neval instant at 1m foo\n  foo 1\n\neval instant at 1m hist\n", "h.test"
    )
    runner, _, _ = _runner(_echo, unstored_names={"hist"})
    assert runner.run(script, script.evals[0]).passed
    failure = runner.run(script, script.evals[1]).failure
    assert failure is not None and failure.category == "native-histograms"
    assert failure.headline == '[storage] selects {__name__="hist"} (load at line 1): no'


# --- the gaps manifest ------------------------------------------------------------------------


def test_gaps_manifest_is_valid_and_every_entry_matches_a_case(corpus: dict[str, list[Eval]]) -> None:
    gaps = load_gaps()
    ids = [e.id for evs in corpus.values() for e in evs]
    for gap in gaps.entries:
        assert any(gap.matches(i) for i in ids), f"gaps.yml entry {gap.as_dict()} matches no case"


def test_gap_lookup_and_update() -> None:
    gaps = Gaps([Gap("notimpl", "all of f", pattern="f.test"), Gap("parser", "one", id="f.test:5")])
    assert gaps.lookup("f.test:5") is gaps.entries[1] and gaps.lookup("f.test:9") is gaps.entries[0]
    assert gaps.lookup("g.test:1") is None
    script = parse_text(
        "eval instant at 0 a\n\neval instant at 0 b\n\neval instant at 0 c\n\neval instant at 0 d\n", "f.test"
    )
    runner, _, _ = _runner(lambda *_: scalar(1))
    outcomes = [runner.run(script, ev) for ev in script.evals]  # all fail: a scalar is not a vector
    assert [g.as_dict() for g in updated_gaps(gaps, outcomes)] == [
        {"pattern": "f.test", "category": "notimpl", "reason": "all of f"},
        {"id": "f.test:5", "category": "parser", "reason": "one"},
    ]
    runner, _, _ = _runner(lambda kind, q, t: vector() if q.split()[0] == "a" else scalar(1))
    outcomes = [runner.run(script, ev) for ev in script.evals]  # a passes now: the pattern splits
    new = [g.as_dict() for g in updated_gaps(gaps, outcomes)]
    assert [g.get("id") for g in new] == ["f.test:3", "f.test:7", "f.test:5"]
    assert {g["category"] for g in new} == {"notimpl", "parser"}


@pytest.mark.parametrize(
    ("expr", "failure", "category"),
    [
        ("x", Failure("storage", "selects x", category="start-timestamps"), "start-timestamps"),
        ("histogram_count(x)", Failure("instant", "expected 1 for {}, but got 2"), "native-histograms"),
        (
            "histogram_quantile(0.5, x_bucket)",
            Failure("instant", "expected 1 for {}, but got 2"),
            "wrong-result",
        ),
        ("x", Failure("instant", "query failed: ParseError: 1:3: parse error: unexpected"), "parser"),
        (
            "x",
            Failure("range", "query failed: ExecutionError: function 'info' is not supported yet"),
            "notimpl",
        ),
        ("x", Failure("instant", "engine raised KeyError: 'v'", category="crash"), "bug"),
    ],
)
def test_guess_category(expr: str, failure: Failure, category: str) -> None:
    ev = parse_text(f"eval instant at 0 {expr}\n").evals[0]
    assert guess_category(Outcome(ev, failure, 1)) == category
