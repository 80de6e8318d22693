"""Reader for the promqltest ``.test`` format: files become typed commands with line numbers.

The format is specified in ``../shared/conformance/FORMAT.md``; section numbers below refer to
it. Where a rule is a quirk of upstream's harness rather than PromQL (comments end blocks, a
scalar line ends its block, ``expect string`` lines take a result position), it is kept on
purpose, because the corpus relies on it.

Expressions are not parsed here: upstream refuses to load a file whose query does not parse,
but for us the parser is one of the things under test, so a bad query fails its own case.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from promlake.promql2sql import ParseError, parse_duration, parse_series_desc
from promlake.promql2sql.durations import DurationError
from promlake.promql2sql.gostr import GoSyntaxError, go_quote, parse_number, unquote
from promlake.promql2sql.series import SeriesValue

__all__ = [
    "CORPUS_DIR",
    "Clear",
    "Command",
    "Eval",
    "Expect",
    "ExpectedSeries",
    "FormatError",
    "Labels",
    "Load",
    "LoadSeries",
    "ScriptFile",
    "corpus_files",
    "format_labels",
    "make_labels",
    "parse_file",
    "parse_text",
]

CORPUS_DIR = Path(
    os.environ.get(
        "PROMQLTEST_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "conformance" / "promqltest"
    )
)

# A label set as the harness hashes it: every label, sorted by name.
Labels: TypeAlias = tuple[tuple[str, str], ...]

# The harness's own command patterns (section 6.1, 6.3 and 3).
_LOAD = re.compile(r"^load(?:_(with_nhcb))?\s+(.+?)$")
_EVAL_INSTANT = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_EVAL_RANGE = re.compile(
    r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$"
)
_EXPECT = re.compile(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
_EXPECT_RANGE = re.compile(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
_SPACE = re.compile(r"[\t ]+")
# One @st item (section 3): an optionally signed duration, an optional signed step, "xN".
_ST_ITEM = re.compile(r"^([+-]?)(\d[0-9a-wyzA-Z]*)(?:([+-])(\d[0-9a-wyzA-Z]*))?(?:x(\d+))?$")
_RANGE_VECTOR_PREFIX = "expect range vector"
_STRING_PREFIX = "expect string"


class FormatError(Exception):
    """A ``.test`` file that breaks the format; ``str()`` names the file and line."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


def make_labels(labels: dict[str, str]) -> Labels:
    """The hashable, name-sorted form of a label set."""
    return tuple(sorted(labels.items()))


def format_labels(labels: Labels) -> str:
    """Prometheus's ``Labels.String()``: ``{__name__="up", job="a"}``."""
    return "{" + ", ".join(f"{name}={go_quote(value)}" for name, value in labels) + "}"


@dataclass(frozen=True, slots=True)
class Clear:
    """``clear``: later commands see an empty storage."""

    line: int


@dataclass(frozen=True, slots=True)
class LoadSeries:
    """One series line of a ``load``; ``start_offsets`` comes from a preceding ``@st`` line.

    ``start_offsets[i]`` is the start-timestamp offset in ms of slot ``i`` relative to that
    sample's own timestamp, or None for "no start timestamp".
    """

    line: int
    labels: Labels
    values: tuple[SeriesValue, ...]
    start_offsets: tuple[int | None, ...] | None = None


@dataclass(frozen=True, slots=True)
class Load:
    """``load <interval>`` / ``load_with_nhcb <interval>`` and its series (section 3)."""

    line: int
    interval_ms: int
    with_nhcb: bool
    series: tuple[LoadSeries, ...]


@dataclass(frozen=True, slots=True)
class Expect:
    """One ``expect <kind> [msg:|regex: text]`` line; a bare line matches anything."""

    kind: str
    message: str | None = None
    regex: re.Pattern[str] | None = None

    def matches(self, text: str) -> bool:
        # msg: is exact; regex: is searched, not anchored (Go's MatchString).
        if self.message is not None:
            return text == self.message
        return self.regex is None or self.regex.search(text) is not None

    def describe(self) -> str:
        if self.message is not None:
            return f"message {self.message!r}"
        if self.regex is not None:
            return f"pattern {self.regex.pattern!r}"
        return "anything"


@dataclass(frozen=True, slots=True)
class ExpectedSeries:
    """An expected result line; ``position`` is its 1-based place, used only by ``ordered``."""

    labels: Labels
    position: int
    values: tuple[SeriesValue, ...]


@dataclass(slots=True)
class Eval:
    """An ``eval instant`` or ``eval range`` command with everything its body expects.

    For an instant eval, ``time_ms`` is the evaluation time (the ``end`` of ``expect range
    vector`` when present). Matrix results are compared on the grid ``start_ms + i*step_ms``
    up to ``end_ms``; ``end_ms`` is None for a plain instant eval, which therefore can only
    accept an empty matrix (upstream's zero end time has the same effect).
    """

    file: str
    line: int
    expr: str
    is_range: bool
    time_ms: int = 0
    start_ms: int = 0
    end_ms: int | None = None
    step_ms: int = 0
    legacy_fail: bool = False
    legacy_warn: bool = False
    legacy_info: bool = False
    legacy_ordered: bool = False
    fail_message: str | None = None
    fail_regexp: re.Pattern[str] | None = None
    expects: list[Expect] = field(default_factory=list)
    expected: dict[Labels, ExpectedSeries] = field(default_factory=dict)
    expect_scalar: bool = False
    scalar: SeriesValue = None
    expected_string: str = ""
    expect_string: bool = False
    expect_range_vector: bool = False
    exclude_from_range_query: bool = False

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"

    def of_kind(self, kind: str) -> list[Expect]:
        return [e for e in self.expects if e.kind == kind]

    @property
    def is_fail(self) -> bool:
        return self.legacy_fail or bool(self.of_kind("fail"))

    @property
    def is_ordered(self) -> bool:
        return self.legacy_ordered or bool(self.of_kind("ordered"))

    @property
    def expects_empty(self) -> bool:
        return not self.expected and not self.expect_scalar and not self.expect_string


Command: TypeAlias = Clear | Load | Eval


@dataclass(frozen=True, slots=True)
class ScriptFile:
    """A parsed ``.test`` file: its commands in file order."""

    name: str
    commands: tuple[Command, ...]

    @property
    def evals(self) -> list[Eval]:
        return [c for c in self.commands if isinstance(c, Eval)]


def corpus_files(directory: Path | None = None) -> list[Path]:
    """The ``.test`` files of the corpus, sorted by name."""
    return sorted((directory or CORPUS_DIR).glob("*.test"))


def parse_file(path: Path) -> ScriptFile:
    """Parse one ``.test`` file (read as UTF-8)."""
    return parse_text(path.read_text(encoding="utf-8"), path.name)


def _lines(text: str) -> list[str]:
    # Section 1: trim every line; a comment becomes an empty line, so it also ends a block.
    out = []
    for raw in text.split("\n"):
        line = raw.strip()
        out.append("" if line.startswith("#") else line)
    return out


def parse_text(text: str, name: str = "<text>") -> ScriptFile:
    """Parse the text of a ``.test`` file; ``name`` is used in ids and error messages."""
    return _Reader(name, _lines(text)).read()


class _Reader:
    def __init__(self, name: str, lines: list[str]) -> None:
        self.name = name
        self.lines = lines

    def error(self, index: int, message: str) -> FormatError:
        return FormatError(self.name, index + 1, message)

    def read(self) -> ScriptFile:
        commands: list[Command] = []
        i = 0
        while i < len(self.lines):
            line = self.lines[i]
            if not line:
                i += 1
                continue
            word = _SPACE.split(line, maxsplit=1)[0].lower()
            if word == "clear":
                commands.append(Clear(i + 1))
                i += 1
            elif word.startswith("load"):
                load, i = self.load(i)
                commands.append(load)
            elif word.startswith("eval"):
                ev, i = self.eval(i)
                commands.append(ev)
            else:
                raise self.error(i, f"invalid command {go_quote(line)}")
        return ScriptFile(self.name, tuple(commands))

    def duration(self, index: int, text: str, what: str) -> int:
        try:
            return parse_duration(text)
        except DurationError as err:
            raise self.error(index, f"invalid {what} {go_quote(text)}: {err}") from None

    def series(self, index: int, text: str) -> tuple[dict[str, str], list[SeriesValue]]:
        try:
            labels, values = parse_series_desc(text)
        except ParseError as err:
            raise self.error(index, f"invalid series line: {err}") from None
        # Upstream builds these label sets with labels.Builder, which drops empty values
        # (type_and_unit.test writes `__unit__=""` and expects the label absent).
        return {k: v for k, v in labels.items() if v != ""}, values

    # --- load (section 3) -------------------------------------------------------------
    def load(self, start: int) -> tuple[Load, int]:
        match = _LOAD.match(self.lines[start])
        if match is None:
            raise self.error(start, "invalid load command, want load[_with_nhcb] <interval>")
        interval = self.duration(start, match.group(2), "load interval")
        series: dict[Labels, LoadSeries] = {}
        pending: tuple[int, Labels, tuple[int | None, ...]] | None = None
        i = start + 1
        while i < len(self.lines) and self.lines[i]:
            line = self.lines[i]
            parts = _SPACE.split(line, maxsplit=1)
            head = parts[0]
            if len(parts) > 1 and head.endswith("@st"):
                if pending is not None:
                    raise self.error(pending[0], "@st line has no following sample line")
                pending = (i, *self.start_line(i, line, head))
            else:
                labels_dict, values = self.series(i, line)
                labels = make_labels(labels_dict)
                offsets = None
                if pending is not None:
                    if pending[1] != labels:
                        raise self.error(pending[0], "@st label set differs from the sample line after it")
                    if len(pending[2]) != len(values):
                        raise self.error(
                            pending[0],
                            f"@st line has {len(pending[2])} values but the sample line has {len(values)}",
                        )
                    offsets = pending[2]
                    pending = None
                # Within one load a repeated label set replaces the earlier line.
                series[labels] = LoadSeries(i + 1, labels, tuple(values), offsets)
            i += 1
        if pending is not None:
            raise self.error(pending[0], "@st line has no following sample line")
        return Load(start + 1, interval, match.group(1) == "with_nhcb", tuple(series.values())), i

    def start_line(self, index: int, line: str, head: str) -> tuple[Labels, tuple[int | None, ...]]:
        metric = head.removesuffix("@st")
        if not metric:
            raise self.error(index, "@st line needs the label set of the series it belongs to")
        labels, _ = self.series(index, metric + " _")
        offsets: list[int | None] = []
        for item in line[len(head) :].split():
            offsets.extend(self.start_item(index, item))
        return make_labels(labels), tuple(offsets)

    def start_item(self, index: int, item: str) -> list[int | None]:
        if item == "_":
            return [None]
        if item.startswith("_x") and item[2:].isdigit():
            return [None] * int(item[2:])  # like "_xN" for values: N slots, not N+1
        match = _ST_ITEM.match(item)
        if match is None or (match.group(3) and match.group(5) is None):
            raise self.error(index, f"invalid @st item {go_quote(item)}")
        sign, base, step_sign, step, count = match.groups()
        offset = self.duration(index, base, "@st offset") * (-1 if sign == "-" else 1)
        if count is None:
            return [offset]
        delta = (
            0 if step is None else self.duration(index, step, "@st step") * (-1 if step_sign == "-" else 1)
        )
        out: list[int | None] = []
        for _ in range(int(count) + 1):
            out.append(offset)
            offset += delta
        return out

    # --- eval (section 6) -------------------------------------------------------------
    def eval(self, start: int) -> tuple[Eval, int]:
        line = self.lines[start]
        instant = _EVAL_INSTANT.match(line)
        ranged = _EVAL_RANGE.match(line) if instant is None else None
        if instant is None and ranged is None:
            raise self.error(
                start,
                "invalid eval command, want 'eval instant at <time> <expr>' or 'eval range from <t> to <t> step <d> <expr>'",
            )
        if instant is not None:
            modifier, expr = instant.group(1), instant.group(3)
            at = self.duration(start, instant.group(2) or "", "eval time")
            ev = Eval(self.name, start + 1, expr, is_range=False, time_ms=at, start_ms=at)
        else:
            assert ranged is not None
            modifier, expr = ranged.group(1), ranged.group(5)
            begin, end, step = self.range_spec(start, ranged.group(2), ranged.group(3), ranged.group(4))
            ev = Eval(
                self.name,
                start + 1,
                expr,
                is_range=True,
                time_ms=begin,
                start_ms=begin,
                end_ms=end,
                step_ms=step,
            )
        ev.legacy_fail = modifier == "fail"
        ev.legacy_warn = modifier == "warn"
        ev.legacy_info = modifier == "info"
        ev.legacy_ordered = modifier == "ordered"
        i = start + 1
        position = 1  # upstream's result-line counter: expect lines do not count, the others do
        while i < len(self.lines) and self.lines[i]:
            body = self.lines[i]
            i += 1
            outcome = self.body_line(ev, i - 1, body, position)
            if outcome == "end":
                break
            if outcome == "counted":
                position += 1
        return ev, i

    def range_spec(self, index: int, begin: str, end: str, step: str) -> tuple[int, int, int]:
        start_ms = self.duration(index, begin, "start time")
        end_ms = self.duration(index, end, "end time")
        if end_ms < start_ms:
            raise self.error(index, f"end time {end} is before start time {begin}")
        return start_ms, end_ms, self.duration(index, step, "step")

    def body_line(self, ev: Eval, index: int, body: str, position: int) -> str:
        """Apply one body line to ``ev``.

        Returns "end" when the line ends the block, "expect" for an expectation line (which
        takes no result position) and "counted" for the rest. ``expect range vector`` and
        ``expect string`` lines do take a position: a harness quirk kept for ``ordered``.
        """
        if ev.legacy_fail and body.startswith("expected_fail_message"):
            ev.fail_message = body.removeprefix("expected_fail_message").strip()
            return "end"
        if ev.legacy_fail and body.startswith("expected_fail_regexp"):
            ev.fail_regexp = self.regex(index, body.removeprefix("expected_fail_regexp").strip())
            return "end"
        if body.startswith(_RANGE_VECTOR_PREFIX):
            match = _EXPECT_RANGE.match(body)
            if match is None:
                raise self.error(index, f"invalid range vector expectation {go_quote(body)}")
            ev.start_ms, ev.end_ms, ev.step_ms = self.range_spec(index, *match.groups())
            # The instant query then runs at the end of the expected range (section 6.2).
            ev.time_ms = ev.end_ms
            ev.expect_range_vector = True
            ev.exclude_from_range_query = True
            return "counted"
        if body.startswith(_STRING_PREFIX):
            ev.expected_string = self.string_literal(index, body)
            ev.expect_string = True
            ev.exclude_from_range_query = True
            return "counted"
        if _is_expect(body):
            ev.expects.append(self.expect(index, body))
            self.validate_expects(index, ev)
            return "expect"
        try:
            number = parse_number(body)
        except GoSyntaxError:
            pass
        else:
            ev.expect_scalar = True
            ev.scalar = number
            return "end"  # a scalar ends the block: a later line is a new command
        labels_dict, values = self.series(index, body)
        if len(values) > 1 and not ev.is_range and not ev.expect_range_vector:
            raise self.error(
                index, "an instant eval expects one value per series (use 'expect range vector' for a matrix)"
            )
        labels = make_labels(labels_dict)
        ev.expect_scalar = False
        ev.expected[labels] = ExpectedSeries(labels, position, tuple(values))
        return "counted"

    def expect(self, index: int, body: str) -> Expect:
        match = _EXPECT.match(body.strip())
        if match is None:
            raise self.error(
                index, f"invalid expect line {go_quote(body)}, want 'expect <type> [msg|regex]: <text>'"
            )
        kind, how, text = match.groups()
        if how == "msg":
            return Expect(kind, message=text.strip())
        if how == "regex":
            return Expect(kind, regex=self.regex(index, text.strip()))
        return Expect(kind)

    def regex(self, index: int, pattern: str) -> re.Pattern[str]:
        try:
            return re.compile(pattern)
        except re.error as err:
            raise self.error(index, f"invalid regex {go_quote(pattern)}: {err}") from None

    def validate_expects(self, index: int, ev: Eval) -> None:
        for yes, no in (("info", "no_info"), ("warn", "no_warn")):
            if ev.of_kind(yes) and ev.of_kind(no):
                raise self.error(index, f"expect {yes} and expect {no} cannot be used together")
        if len(ev.of_kind("fail")) > 1:
            raise self.error(index, "only one expect fail line is allowed per eval")

    def string_literal(self, index: int, body: str) -> str:
        # Go's strconv.Unquote: "..." and `...`; single quotes hold exactly one character.
        text = body.removeprefix(_STRING_PREFIX + " ") if body != _STRING_PREFIX else ""
        if not text:
            raise self.error(index, "expect string needs a quoted string literal")
        try:
            value = unquote(text)
        except GoSyntaxError:
            raise self.error(index, f"expect string literal is not correctly quoted: {text}") from None
        if text[0] == "'" and len(value) != 1:
            raise self.error(index, f"expect string literal is not correctly quoted: {text}")
        return value


def _is_expect(body: str) -> bool:
    # Split on single spaces as upstream does, so a metric named "expect{}" is still a series.
    return body.split(" ")[0] == "expect"
