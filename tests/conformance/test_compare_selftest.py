"""Self-tests of result comparison (FORMAT.md section 7 and 6.3) with hand-built QueryResults."""

from __future__ import annotations

import math

import pytest

from promlake.promql2sql import parse_series_desc
from promlake.promql2sql.result import QueryResult
from promlake.promql2sql.series import STALE_NAN, HistogramRampStep, HistogramValue

from ._results import matrix, scalar, string, vector
from .compare import (
    SeriesPoints,
    Value,
    check_annotations,
    check_failure,
    compare,
    matrix_of,
    value_of,
    vector_at,
)
from .floats import almost_equal
from .histograms import histograms_equal, materialize
from .promqltest import Eval, parse_text


def _eval(text: str) -> Eval:
    return parse_text(text).evals[0]


def _check(ev: Eval, result: QueryResult) -> str | None:
    value = matrix_of(result) if ev.is_range else value_of(result)
    problem = check_annotations(ev, result.warnings, result.infos) or compare(ev, value)
    return None if problem is None else problem.splitlines()[0]


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1.0, 1.0 + 1e-7, True),
        (1.0, 1.00001, False),
        (1e20, 1e20 * (1 + 1e-7), True),
        (0.0, -0.0, True),
        (0.0, 1e-300, False),  # next to zero only an exact zero will do
        (math.nan, math.nan, True),
        (math.nan, STALE_NAN, False),
        (STALE_NAN, STALE_NAN, True),
        (math.inf, math.inf, True),
        (math.inf, -math.inf, False),
        (math.inf, 1e308, False),
        (math.nan, 1.0, False),
    ],
)
def test_almost_equal(a: float, b: float, equal: bool) -> None:
    assert almost_equal(a, b) is equal and almost_equal(b, a) is equal


_TWO = 'eval instant at 0 x\n  a{x="1"} 1\n  a{x="2"} NaN\n'


def test_vector_match_in_any_order_with_nan() -> None:
    result = vector(({"__name__": "a", "x": "2"}, math.nan), ({"x": "1", "__name__": "a"}, 1.0 + 1e-9))
    assert _check(_eval(_TWO), result) is None


@pytest.mark.parametrize(
    ("samples", "problem"),
    [
        (
            [({"__name__": "a", "x": "1"}, 1.0)],
            'expected series {__name__="a", x="2"} with value NaN not found',
        ),
        (
            [({"__name__": "a", "x": "1"}, 1.0), ({"x": "2"}, math.nan)],
            'unexpected series {x="2"} in result, with value NaN',
        ),
        (
            [({"__name__": "a", "x": "1"}, 1.1), ({"__name__": "a", "x": "2"}, math.nan)],
            'expected 1 for {__name__="a", x="1"}, but got 1.1',
        ),
        (
            [({"__name__": "a", "x": "1"}, 1.0), ({"__name__": "a", "x": "2"}, STALE_NAN)],
            'expected NaN for {__name__="a", x="2"}, but got stale',
        ),
    ],
)
def test_vector_mismatches(samples: list[tuple[dict[str, str], float]], problem: str) -> None:
    assert _check(_eval(_TWO), vector(*samples)) == problem


def test_mismatch_message_shows_both_sides() -> None:
    problem = compare(_eval(_TWO), value_of(vector(({"__name__": "a", "x": "1"}, 2.0))))
    assert problem is not None
    assert problem.splitlines()[1:] == [
        "expected:",
        '  {__name__="a", x="1"} 1',
        '  {__name__="a", x="2"} NaN',
        "got (vector):",
        '  {__name__="a", x="1"} 2@0',
    ]


def test_ordered() -> None:
    ev = _eval('eval instant at 0 sort(x)\n  expect ordered\n  a{x="1"} 1\n  a{x="2"} 2\n')
    one, two = ({"__name__": "a", "x": "1"}, 1.0), ({"__name__": "a", "x": "2"}, 2.0)
    assert _check(ev, vector(one, two)) is None
    assert (
        _check(ev, vector(two, one)) == 'expected series {__name__="a", x="2"} at position 2, but it is at 1'
    )
    assert _check(ev, matrix()) == "expected an ordered instant vector, but the query returned a range vector"


def test_empty_expectation() -> None:
    ev = _eval("eval instant at 0 x\n")
    assert _check(ev, vector()) is None and _check(ev, matrix()) is None
    assert _check(ev, vector(({}, 1.0))) == "unexpected series {} in result, with value 1"
    assert (
        _check(ev, scalar(1)) == "expected an instant vector or range vector, but the query returned scalar 1"
    )


def test_scalar_and_string() -> None:
    ev = _eval("eval instant at 0 1/3\n  0.3333333\n")
    assert _check(ev, scalar(1 / 3)) is None
    assert _check(ev, scalar(0.34)) == "expected scalar 0.3333333 but got 0.34"
    assert _check(ev, vector(({}, 1 / 3))) == "expected a scalar, but the query returned an instant vector"
    ev = _eval('eval instant at 0 "a"\n  expect string "a"\n')
    assert _check(ev, string("a")) is None
    assert _check(ev, string("b")) == "expected string 'a' but got 'b'"


_RANGE = "eval range from 0 to 2m step 1m x\n  a 1 _ 3\n  b 1 2 3\n"


def test_matrix_points_and_gaps() -> None:
    ev = _eval(_RANGE)
    a = ({"__name__": "a"}, [(0, 1.0), (120_000, 3.0)])
    b = ({"__name__": "b"}, [(0, 1.0), (60_000, 2.0), (120_000, 3.0)])
    assert _check(ev, matrix(a, b)) is None
    assert _check(ev, matrix(b, a)) == (
        'range vector results must be sorted by labels, but {__name__="a"} (index 1) sorts before {__name__="b"} (index 0)'
    )
    a_shifted = ({"__name__": "a"}, [(0, 1.0), (60_000, 3.0)])
    assert (
        _check(ev, matrix(a_shifted, b))
        == 'expected float point 1 of {__name__="a"} at t=120000, but it is at t=60000'
    )
    a_short = ({"__name__": "a"}, [(0, 1.0)])
    assert _check(ev, matrix(a_short, b)) == (
        'expected 2 float points and 0 histogram points for {__name__="a"}, but got 1 and 0'
    )
    assert _check(ev, matrix(b)) == 'expected series {__name__="a"} not found'
    too_long = _eval("eval range from 0 to 1m step 1m x\n  a 1 2 3\n")
    assert (
        _check(too_long, matrix(a))
        == 'expected 3 points for {__name__="a"}, but the query range has fewer steps'
    )


def test_scalar_range_query_is_one_series_without_labels() -> None:
    ev = _eval("eval range from 0 to 1m step 1m 5\n  {} 5 5\n")
    assert _check(ev, scalar(5)) == "expected 2 float points and 0 histogram points for {}, but got 1 and 0"
    points = matrix(({}, [(0, 5.0), (60_000, 5.0)]))
    assert _check(ev, points) is None


def test_range_vector_results_of_instant_queries() -> None:
    ev = _eval("eval instant at 1m x[1m]\n  expect range vector from 20s to 1m step 20s\n  a 1 _ 3\n")
    assert _check(ev, matrix(({"__name__": "a"}, [(20_000, 1.0), (60_000, 3.0)]))) is None
    plain = _eval("eval instant at 1m x[1m]\n  a 1\n")
    assert _check(plain, matrix(({"__name__": "a"}, [(20_000, 1.0)]))) == (
        "instant query returned a range vector; an eval expecting one needs 'expect range vector'"
    )


def test_vector_at_takes_the_point_at_the_eval_time() -> None:
    m = matrix_of(matrix(({"__name__": "a"}, [(0, 1.0), (60_000, 2.0)]), ({"__name__": "b"}, [(0, 3.0)])))
    assert vector_at(m, 60_000) == Value("vector", (SeriesPoints((("__name__", "a"),), ((60_000, 2.0),)),))


# --- annotations and failures -------------------------------------------------------------


_W1 = "PromQL warning: first (1:1)"
_W2 = "PromQL warning: second (1:5)"


@pytest.mark.parametrize(
    ("lines", "warnings", "problem"),
    [
        ("", (_W1,), None),  # no warn/no_warn line: warnings are not checked
        (f"expect warn msg: {_W1}\n", (_W1,), None),
        (f"expect warn msg: {_W1}\n", (_W1, _W2), f"unexpected warn annotation {_W2!r}"),
        (f"expect warn msg: {_W1}\n", (_W2,), "expected a warn annotation matching message"),
        ("expect warn\n", (_W1, _W2), None),
        ("expect warn\n", (), "expected warn annotations, but there were none"),
        ("expect warn regex: sec.nd\nexpect warn msg: " + _W1 + "\n", (_W1, _W2), None),
        ("expect no_warn\n", (_W1,), "unexpected warning annotations (expect no_warn):"),
        ("expect no_warn\n", (), None),
    ],
)
def test_warning_expectations(lines: str, warnings: tuple[str, ...], problem: str | None) -> None:
    ev = _eval("eval instant at 0 x\n" + "".join(f"  {line}\n" for line in lines.splitlines()))
    found = check_annotations(ev, warnings, ())
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


def test_info_expectations_and_legacy_modifiers() -> None:
    info = "PromQL info: x (1:1)"
    ev = _eval("eval instant at 0 x\n  expect info\n  expect no_warn\n")
    assert check_annotations(ev, (), (info,)) is None
    assert check_annotations(ev, (_W1,), (info,)) is not None
    assert check_annotations(_eval("eval instant at 0 x\n  expect no_info\n"), (), (info,)) is not None
    assert check_annotations(_eval("eval_warn instant at 0 x\n"), (), ()) == (
        "expected warnings (eval_warn), but there were none"
    )
    assert check_annotations(_eval("eval_info instant at 0 x\n"), (), (info,)) is None


@pytest.mark.parametrize(
    ("body", "error", "ok"),
    [
        ("  expect fail\n", "anything", True),
        ("  expect fail msg: exact text\n", "exact text", True),
        ("  expect fail msg: exact text\n", "exact text!", False),
        (
            "  expect fail regex: many-to-many\n",
            "found duplicate series; many-to-many matching not allowed",
            True,
        ),
        ("  expect fail regex: ^many\n", "found duplicate series; many-to-many", False),
    ],
)
def test_expected_failures(body: str, error: str, ok: bool) -> None:
    assert (check_failure(_eval("eval instant at 0 x\n" + body), error) is None) is ok


def test_legacy_expected_failures() -> None:
    assert check_failure(_eval("eval_fail instant at 0 x\n  expected_fail_message boom\n"), "boom") is None
    assert check_failure(_eval("eval_fail instant at 0 x\n  expected_fail_message boom\n"), "bam") is not None
    assert check_failure(_eval("eval_fail instant at 0 x\n  expected_fail_regexp b.*m\n"), "a boom") is None


# --- native histograms --------------------------------------------------------------------


def _values(text: str) -> list[HistogramValue | HistogramRampStep]:
    values = parse_series_desc("x " + text)[1]
    assert all(isinstance(v, HistogramValue | HistogramRampStep) for v in values)
    return values


def test_histogram_ramps() -> None:
    ramp = _values("{{count:0}}+{{count:1 counter_reset_hint:not_reset}}x2")
    last = materialize(ramp[2])
    assert last.count == 2 and last.hint_set
    assert materialize(ramp[0]).hint_set  # the written-hint flag comes from B, even for A
    mixed = materialize(
        _values(
            "{{schema:-1 sum:4 count:1 buckets:[1] offset:1}}+{{schema:0 sum:4 count:4 buckets:[2 2] offset:1}}x1"
        )[1]
    )
    # B's schema-0 buckets 1 and 2 fold into schema -1 bucket 1.
    assert (mixed.schema, mixed.count, mixed.positive_buckets, mixed.positive_offset) == (-1, 5, (5.0,), 1)


def test_histogram_comparison() -> None:
    (a,) = _values("{{schema:0 count:3 sum:2 buckets:[1 0 2]}}")
    (b,) = _values("{{schema:0 count:3 sum:2.0000001 buckets:[1 0 2 0] counter_reset_hint:reset}}")
    assert histograms_equal(a, b, compare_hint=False)
    assert not histograms_equal(b, a, compare_hint=True)
    (c,) = _values("{{schema:0 count:3 sum:2 buckets:[1 2]}}")
    assert not histograms_equal(a, c, compare_hint=False)  # same counts, other buckets


def test_expected_histogram_against_a_float() -> None:
    ev = _eval("eval instant at 0 x\n  h {{count:1}}\n")
    assert _check(ev, vector(({"__name__": "h"}, 1.0))) == (
        'expected histogram {{schema:0 count:1 sum:0}} for {__name__="h"}, but got float 1'
    )
