"""Comparing a query's outcome with an eval's expectations (FORMAT.md section 7 and 6.3).

Every check returns None when it passes, or a message whose first line is the problem (upstream's
wording where it has one) and whose other lines show expected against actual, so a failing case
reads like a diff. Results reach this module as :class:`Value`, built from promlake's columnar
``QueryResult`` by :func:`value_of`; nothing here knows about the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeAlias

from promlake.promql2sql.gostr import format_float_g
from promlake.promql2sql.result import QueryResult
from promlake.promql2sql.series import HistogramRampStep, HistogramValue, SeriesValue, is_stale
from promlake.promql2sql.signatures import ValueType

from .floats import almost_equal
from .histograms import describe_histogram, histograms_equal, materialize
from .promqltest import Eval, ExpectedSeries, Labels, format_labels

__all__ = [
    "SeriesPoints",
    "Value",
    "almost_equal",
    "check_annotations",
    "check_failure",
    "compare",
    "format_value",
    "matrix_of",
    "value_of",
    "vector_at",
]

_MAX_LISTED = 20  # series shown on each side of a diff

Point: TypeAlias = float | HistogramValue


@dataclass(frozen=True, slots=True)
class SeriesPoints:
    """One series of a result; a vector sample is a series with one point."""

    labels: Labels
    floats: tuple[tuple[int, float], ...] = ()
    histograms: tuple[tuple[int, HistogramValue], ...] = ()


@dataclass(frozen=True, slots=True)
class Value:
    """A query result as the harness sees it (``parser.Value``)."""

    kind: Literal["scalar", "vector", "matrix", "string"]
    series: tuple[SeriesPoints, ...] = ()
    scalar: float = 0.0
    string: str = ""


def format_value(value: SeriesValue | Point) -> str:
    """A value the way the ``.test`` files spell it."""
    if value is None:
        return "_"
    if isinstance(value, HistogramValue | HistogramRampStep):
        return describe_histogram(materialize(value))
    if is_stale(value):
        return "stale"
    return format_float_g(value)


# --- from promlake's QueryResult -------------------------------------------------------------


def _series_of(result: QueryResult) -> list[SeriesPoints]:
    """Series in the row order of ``result.series`` (the vector order ``ordered`` checks)."""
    points: dict[int, list[tuple[int, float]]] = {}
    table = result.points
    for sid, t, v in zip(
        table.column("series").to_pylist(),
        table.column("t").to_pylist(),
        table.column("v").to_pylist(),
        strict=True,
    ):
        points.setdefault(sid, []).append((t, v))
    out = []
    for sid, labels in zip(
        result.series.column("series").to_pylist(), result.series.column("labels").to_pylist(), strict=True
    ):
        out.append(SeriesPoints(tuple(sorted(labels)), tuple(points.get(sid, ()))))
    return out


def value_of(result: QueryResult) -> Value:
    """The harness's view of an instant query's result."""
    if result.type is ValueType.SCALAR:
        values = result.points.column("v").to_pylist()
        return Value("scalar", scalar=values[0] if values else math.nan)
    if result.type is ValueType.STRING:
        return Value("string", string=result.string or "")
    if result.type is ValueType.MATRIX:
        return Value("matrix", tuple(_series_of(result)))
    return Value("vector", tuple(_series_of(result)))


def matrix_of(result: QueryResult) -> Value:
    """The matrix of a range query; a scalar expression becomes one series without labels."""
    if result.type is ValueType.SCALAR:
        table = result.points
        floats = tuple(zip(table.column("t").to_pylist(), table.column("v").to_pylist(), strict=True))
        return Value("matrix", (SeriesPoints((), floats),))
    return Value("matrix", tuple(_series_of(result)))


def vector_at(matrix: Value, time_ms: int) -> Value:
    """The instant vector made of each series' point at exactly ``time_ms`` (range-mode check)."""
    out = []
    for s in matrix.series:
        floats = tuple(p for p in s.floats if p[0] == time_ms)[:1]
        hists = tuple(p for p in s.histograms if p[0] == time_ms)[:1]
        if floats:
            out.append(SeriesPoints(s.labels, floats))
        if hists:
            out.append(SeriesPoints(s.labels, histograms=hists))
    return Value("vector", tuple(out))


# --- rendering --------------------------------------------------------------------------------


def _render_series(s: SeriesPoints) -> str:
    points = [f"{format_value(v)}@{t}" for t, v in s.floats]
    points += [f"{format_value(h)}@{t}" for t, h in s.histograms]
    return f"{format_labels(s.labels)} {' '.join(points) or '(no points)'}"


def _render_actual(value: Value) -> list[str]:
    if value.kind == "scalar":
        return [f"  scalar {format_value(value.scalar)}"]
    if value.kind == "string":
        return [f"  string {value.string!r}"]
    lines = [f"  {_render_series(s)}" for s in value.series[:_MAX_LISTED]]
    if len(value.series) > _MAX_LISTED:
        lines.append(f"  ... and {len(value.series) - _MAX_LISTED} more")
    return lines or ["  (empty)"]


def _render_expected(ev: Eval) -> list[str]:
    if ev.expect_scalar:
        return [f"  scalar {format_value(ev.scalar)}"]
    if ev.expect_string:
        return [f"  string {ev.expected_string!r}"]
    rows = sorted(ev.expected.values(), key=lambda e: e.position)
    lines = [
        f"  {format_labels(e.labels)} {' '.join(format_value(v) for v in e.values)}"
        for e in rows[:_MAX_LISTED]
    ]
    if len(rows) > _MAX_LISTED:
        lines.append(f"  ... and {len(rows) - _MAX_LISTED} more")
    return lines or ["  (empty)"]


def _diff(problem: str, ev: Eval, value: Value) -> str:
    kind = "range vector" if value.kind == "matrix" else value.kind
    return "\n".join([problem, "expected:", *_render_expected(ev), f"got ({kind}):", *_render_actual(value)])


# --- result comparison (section 7) -------------------------------------------------------------


def compare(ev: Eval, value: Value) -> str | None:
    """Compare a result with the eval's expected lines, as upstream's ``compareResult``."""
    if value.kind == "matrix":
        problem = _compare_matrix(ev, value)
    elif value.kind == "vector":
        problem = _compare_vector(ev, value)
    elif value.kind == "scalar":
        problem = _compare_scalar(ev, value.scalar)
    else:
        problem = (
            None
            if ev.expected_string == value.string
            else f"expected string {ev.expected_string!r} but got {value.string!r}"
        )
    return None if problem is None else _diff(problem, ev, value)


def _unsorted(value: Value) -> str | None:
    for i in range(len(value.series) - 1):
        a, b = value.series[i].labels, value.series[i + 1].labels
        if a > b:
            return (
                f"range vector results must be sorted by labels, but {format_labels(b)} (index {i + 1}) "
                f"sorts before {format_labels(a)} (index {i})"
            )
    return None


def _compare_matrix(ev: Eval, value: Value) -> str | None:
    if ev.is_ordered:
        return "expected an ordered instant vector, but the query returned a range vector"
    if ev.expect_scalar:
        return "expected a scalar, but the query returned a range vector"
    problem = _unsorted(value)
    if problem:
        return problem
    seen = set()
    for s in value.series:
        exp = ev.expected.get(s.labels)
        if exp is None:
            return f"unexpected series {_render_series(s)} in result"
        seen.add(s.labels)
        problem = _compare_points(ev, exp, s)
        if problem:
            return problem
    for labels, exp in ev.expected.items():
        if labels not in seen:
            return f"expected series {format_labels(exp.labels)} not found"
    return None


def _compare_points(ev: Eval, exp: ExpectedSeries, s: SeriesPoints) -> str | None:
    floats: list[tuple[int, float]] = []
    hists: list[tuple[int, HistogramValue, bool]] = []
    for i, v in enumerate(exp.values):
        t = ev.start_ms + i * ev.step_ms
        if ev.end_ms is None:
            return "instant query returned a range vector; an eval expecting one needs 'expect range vector'"
        if t > ev.end_ms:
            return f"expected {len(exp.values)} points for {format_labels(exp.labels)}, but the query range has fewer steps"
        if isinstance(v, HistogramValue | HistogramRampStep):
            hists.append((t, materialize(v), _hint_written(v)))
        elif v is not None:
            floats.append((t, v))
    name = format_labels(exp.labels)
    if len(floats) != len(s.floats) or len(hists) != len(s.histograms):
        return (
            f"expected {len(floats)} float points and {len(hists)} histogram points for {name}, "
            f"but got {len(s.floats)} and {len(s.histograms)}"
        )
    for i, ((t, want), (got_t, got)) in enumerate(zip(floats, s.floats, strict=True)):
        if t != got_t:
            return f"expected float point {i} of {name} at t={t}, but it is at t={got_t}"
        if not almost_equal(got, want):
            return f"expected float point {i} (t={t}) of {name} to be {format_value(want)}, but got {format_value(got)}"
    for i, ((t, hwant, hint), (got_t, hgot)) in enumerate(zip(hists, s.histograms, strict=True)):
        if t != got_t:
            return f"expected histogram point {i} of {name} at t={t}, but it is at t={got_t}"
        if not histograms_equal(hwant, hgot, compare_hint=hint):
            return f"expected histogram point {i} (t={t}) of {name} to be {describe_histogram(hwant)}, but got {describe_histogram(hgot)}"
    return None


def _hint_written(v: HistogramValue | HistogramRampStep) -> bool:
    # For {{A}}+{{B}}xN every element takes its "hint written" flag from B (section 4).
    return v.delta.hint_set if isinstance(v, HistogramRampStep) else v.hint_set


def _compare_vector(ev: Eval, value: Value) -> str | None:
    if ev.expect_scalar:
        return "expected a scalar, but the query returned an instant vector"
    seen = set()
    for pos, s in enumerate(value.series):
        exp = ev.expected.get(s.labels)
        actual: Point = s.histograms[0][1] if s.histograms else (s.floats[0][1] if s.floats else math.nan)
        if exp is None:
            return f"unexpected series {format_labels(s.labels)} in result, with value {format_value(actual)}"
        if ev.is_ordered and exp.position != pos + 1:
            return f"expected series {format_labels(s.labels)} at position {exp.position}, but it is at {pos + 1}"
        want = exp.values[0]
        name = format_labels(s.labels)
        if isinstance(want, HistogramValue | HistogramRampStep):
            if not isinstance(actual, HistogramValue):
                return f"expected histogram {format_value(want)} for {name}, but got float {format_value(actual)}"
            if not histograms_equal(materialize(want), actual, compare_hint=_hint_written(want)):
                return f"expected {format_value(want)} for {name}, but got {format_value(actual)}"
        elif isinstance(actual, HistogramValue):
            return f"expected float {format_value(want)} for {name}, but got histogram {format_value(actual)}"
        # An omitted expected value ("_") reads as 0, as upstream's zero SequenceValue does.
        elif not almost_equal(0.0 if want is None else want, actual):
            return f"expected {format_value(want)} for {name}, but got {format_value(actual)}"
        seen.add(s.labels)
    for labels, exp in ev.expected.items():
        if labels not in seen:
            return f"expected series {format_labels(exp.labels)} with value {format_value(exp.values[0])} not found"
    return None


def _compare_scalar(ev: Eval, actual: float) -> str | None:
    if not ev.expect_scalar:
        return f"expected an instant vector or range vector, but the query returned scalar {format_value(actual)}"
    want = ev.scalar
    if isinstance(want, HistogramValue | HistogramRampStep):
        return f"expected histogram {format_value(want)}, but got scalar {format_value(actual)}"
    if not almost_equal(0.0 if want is None else want, actual):
        return f"expected scalar {format_value(want)} but got {format_value(actual)}"
    return None


# --- annotations and failures (section 6.3) ----------------------------------------------------


def _check_kind(ev: Eval, kind: str, actual: tuple[str, ...], everything: tuple[str, ...]) -> str | None:
    expected = ev.of_kind(kind)
    if not expected:
        return None
    if not actual:
        return f"expected {kind} annotations, but there were none"
    for e in expected:
        if not any(e.matches(a) for a in actual):
            found = "\n".join(f"  {a}" for a in everything) or "  (none)"
            return f"expected a {kind} annotation matching {e.describe()}, but none matched; found:\n{found}"
    for a in actual:
        if not any(e.matches(a) for e in expected):
            return f"unexpected {kind} annotation {a!r}"
    return None


def check_annotations(ev: Eval, warnings: tuple[str, ...], infos: tuple[str, ...]) -> str | None:
    """Warnings and infos against ``expect warn|info|no_warn|no_info`` and ``eval_warn|info``.

    With none of these lines an annotation kind is not checked at all.
    """
    everything = warnings + infos
    if ev.legacy_warn and not warnings:
        return "expected warnings (eval_warn), but there were none"
    if ev.legacy_info and not infos:
        return "expected info annotations (eval_info), but there were none"
    problem = _check_kind(ev, "warn", warnings, everything) or _check_kind(ev, "info", infos, everything)
    if problem:
        return problem
    if ev.of_kind("no_warn") and warnings:
        return "unexpected warning annotations (expect no_warn):\n" + "\n".join(f"  {w}" for w in warnings)
    if ev.of_kind("no_info") and infos:
        return "unexpected info annotations (expect no_info):\n" + "\n".join(f"  {i}" for i in infos)
    return None


def check_failure(ev: Eval, message: str) -> str | None:
    """An error against ``expect fail`` (msg: exact, regex: searched) and ``expected_fail_*``."""
    if ev.fail_message is not None and ev.fail_message != message:
        return f"expected error {ev.fail_message!r}, but got {message!r}"
    if ev.fail_regexp is not None and ev.fail_regexp.search(message) is None:
        return f"expected an error matching {ev.fail_regexp.pattern!r}, but got {message!r}"
    fails = ev.of_kind("fail")
    if fails and not fails[0].matches(message):
        return f"expected an error matching {fails[0].describe()}, but got {message!r}"
    return None
