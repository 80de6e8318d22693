"""Read the promqltest corpus (../shared/conformance/FORMAT.md) just far enough for parser tests.

Yields each ``eval`` command with its expression and ``expect fail`` details, and
every series line (``load`` bodies and expected results).  The full runner lives
elsewhere; this reader only needs the query text and which lines are series.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "conformance" / "promqltest"

# The harness's own patterns (FORMAT.md section 6.1).
_INSTANT = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_RANGE = re.compile(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
_EXPECT = re.compile(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
_SCALAR = re.compile(
    r"^(?:[+-]?(?:0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|[+-]?(?i:inf|nan))$"
)


@dataclass(frozen=True)
class Eval:
    file: str
    line: int
    expr: str
    fails: bool
    fail_message: str | None
    fail_regex: str | None

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class SeriesLine:
    file: str
    line: int
    text: str


def _lines(path: Path) -> list[str]:
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip(" \t\r")
        out.append("" if line.startswith("#") else line)
    return out


def files() -> list[Path]:
    return sorted(CORPUS.glob("*.test"))


def _block(lines: list[str], start: int) -> list[tuple[int, str]]:
    body = []
    i = start + 1
    while i < len(lines) and lines[i]:
        body.append((i + 1, lines[i]))
        i += 1
    return body


def evals() -> Iterator[Eval]:
    for path in files():
        lines = _lines(path)
        for index, line in enumerate(lines):
            if not line or not line.split()[0].lower().startswith("eval"):
                continue
            instant, ranged = _INSTANT.match(line), _RANGE.match(line)
            match = instant or ranged
            assert match is not None, f"{path.name}:{index + 1}: not an eval command"
            modifier = match.group(1)
            expr = match.group(3) if instant else match.group(5)
            fails, message, regex = modifier == "fail", None, None
            for _, body in _block(lines, index):
                expect = _EXPECT.match(body)
                if expect and expect.group(1) == "fail":
                    fails = True
                    if expect.group(2) == "msg":
                        message = expect.group(3).strip()
                    elif expect.group(2) == "regex":
                        regex = expect.group(3).strip()
                elif fails and body.startswith("expected_fail_message"):
                    message = body.removeprefix("expected_fail_message").strip()
            yield Eval(path.name, index + 1, expr, fails, message, regex)


def series_lines() -> Iterator[SeriesLine]:
    """Series lines of load blocks and of eval results (not expect/scalar/string lines)."""
    for path in files():
        lines = _lines(path)
        for index, line in enumerate(lines):
            if not line:
                continue
            word = line.split()[0].lower()
            if not (word.startswith("load") or word.startswith("eval")):
                continue
            for number, body in _block(lines, index):
                if word.startswith("eval"):
                    if body.startswith("expect") or body.startswith("expected_fail"):
                        continue
                    if _SCALAR.match(body):
                        break  # a scalar result ends the block
                if "@st" in body.split()[0]:
                    continue  # start-timestamp lines have their own syntax
                yield SeriesLine(path.name, number, body)
