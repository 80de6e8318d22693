"""The manifest of known conformance gaps, ``gaps.yml`` (style anchors, lesson 11).

Each entry names cases by ``id`` (exact, ``file:line``) or ``pattern`` (fnmatch on the id, or
on the file name alone to cover a whole file), with a ``category`` and a ``reason``. Matched
cases run as strict xfail: the day one passes, the run fails until its entry is removed.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from .promqltest import Eval
from .runner import Outcome

__all__ = [
    "CATEGORIES",
    "GAPS_FILE",
    "Gap",
    "Gaps",
    "guess_category",
    "load_gaps",
    "updated_gaps",
    "write_gaps",
]

GAPS_FILE = Path(__file__).with_name("gaps.yml")

CATEGORIES = {
    "native-histograms": "needs native histograms (storage, literals or histogram functions)",
    "start-timestamps": "needs start timestamps (@st) in queries (they are stored; the query side is missing)",
    "parser": "our PromQL parser disagrees with upstream",
    "notimpl": "a feature the engine does not implement yet",
    "bug": "the engine raised an exception that is not a PromQL error",
    "wrong-result": "the engine answers, but not what upstream answers",
    "2.x-vs-3.x": "behaviour that changed between Prometheus 2.x and 3.x",
    "never": "upstream behaviour promlake deliberately does not follow",
}

_HEADER = """\
# Known gaps of promlake against the promqltest corpus (see README.md in this folder).
# Entries: `id` (exact file:line) or `pattern` (fnmatch on the id, or a file name for a whole
# file), `category` (one of gaps.py CATEGORIES) and `reason`. Matched cases run as strict
# xfail, so remove an entry as soon as its case passes.
# `python -m tests.conformance.report --write-gaps` rewrites this file from a run; it keeps
# entries that still describe failing cases and adds new ones with a guessed category.
"""


@dataclass(frozen=True, slots=True)
class Gap:
    """One manifest entry."""

    category: str
    reason: str
    id: str | None = None
    pattern: str | None = None

    def matches(self, case_id: str) -> bool:
        if self.id is not None:
            return case_id == self.id
        assert self.pattern is not None
        file = case_id.rpartition(":")[0]
        return fnmatch.fnmatchcase(case_id, self.pattern) or fnmatch.fnmatchcase(file, self.pattern)

    def as_dict(self) -> dict[str, str]:
        key = {"id": self.id} if self.id is not None else {"pattern": self.pattern or ""}
        return {**key, "category": self.category, "reason": self.reason}


class Gaps:
    """The manifest: exact ids win over patterns, and patterns apply in file order."""

    def __init__(self, entries: Iterable[Gap]) -> None:
        self.entries = list(entries)
        self._by_id = {g.id: g for g in self.entries if g.id is not None}
        self._patterns = [g for g in self.entries if g.pattern is not None]

    def lookup(self, case_id: str) -> Gap | None:
        gap = self._by_id.get(case_id)
        if gap is not None:
            return gap
        return next((g for g in self._patterns if g.matches(case_id)), None)


class ManifestError(ValueError):
    """gaps.yml breaks its own rules."""


def load_gaps(path: Path = GAPS_FILE) -> Gaps:
    """Read and validate the manifest; a missing file means no gaps."""
    if not path.exists():
        return Gaps([])
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw = (data.get("gaps") or []) if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise ManifestError(f"{path}: expected a mapping with a 'gaps' list")
    entries: list[Gap] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"{path.name} entry {i + 1}"
        if not isinstance(item, dict) or set(item) - {"id", "pattern", "category", "reason"}:
            raise ManifestError(f"{where}: keys are id or pattern, category and reason")
        if ("id" in item) == ("pattern" in item):
            raise ManifestError(f"{where}: give exactly one of id and pattern")
        if item.get("category") not in CATEGORIES:
            raise ManifestError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
        if not str(item.get("reason") or "").strip():
            raise ManifestError(f"{where}: a reason is required")
        key = str(item.get("id") or item.get("pattern"))
        if key in seen:
            raise ManifestError(f"{where}: {key} is listed twice")
        seen.add(key)
        gap_id = str(item["id"]) if "id" in item else None
        pattern = str(item["pattern"]) if "pattern" in item else None
        entries.append(Gap(str(item["category"]), str(item["reason"]).strip(), gap_id, pattern))
    return Gaps(entries)


def write_gaps(gaps: Iterable[Gap], path: Path = GAPS_FILE) -> None:
    """Write the manifest: patterns first, then ids in file and line order."""

    def order(g: Gap) -> tuple[int, str, int, str]:
        if g.id is None:
            return (0, "", 0, g.pattern or "")
        file, _, line = g.id.rpartition(":")
        return (1, file, int(line) if line.isdigit() else 0, g.id)

    entries = [g.as_dict() for g in sorted(gaps, key=order)]
    body = yaml.safe_dump({"gaps": entries}, sort_keys=False, allow_unicode=True, width=1000)
    path.write_text(_HEADER + body, encoding="utf-8")


# Functions that only make sense on native histograms. histogram_quantile(s) and
# histogram_fraction also serve classic `_bucket` series, so they say nothing by themselves;
# native-histogram data in storage is caught by the storage failure instead.
_NATIVE_ONLY = re.compile(r"\bhistogram_(?:count|sum|avg|stddev|stdvar)\s*\(|</|>/")


def _touches_histograms(ev: Eval) -> bool:
    from promlake.promql2sql.series import HistogramRampStep, HistogramValue

    kinds = (HistogramValue, HistogramRampStep)
    if isinstance(ev.scalar, kinds) or any(
        isinstance(v, kinds) for e in ev.expected.values() for v in e.values
    ):
        return True
    return _NATIVE_ONLY.search(ev.expr) is not None


def guess_category(outcome: Outcome) -> str:
    """A first guess for a failing case's category; the reviewer has the last word."""
    failure = outcome.failure
    assert failure is not None
    if failure.category in ("native-histograms", "start-timestamps"):
        return failure.category
    if _touches_histograms(outcome.eval):
        return "native-histograms"
    if "parse error" in failure.problem:
        return "parser"
    first = failure.problem.splitlines()[0].lower()
    if "notimplemented" in first or "not implemented" in first or "not supported" in first:
        return "notimpl"
    if failure.category == "crash":
        return "bug"
    return "wrong-result"


def updated_gaps(current: Gaps, outcomes: list[Outcome]) -> list[Gap]:
    """The manifest after a run: reviewed entries are kept while they still hold.

    An id entry stays while its case fails. A pattern stays while every case it covers fails;
    otherwise it is replaced by id entries for its cases that still fail, keeping its category
    and reason. Failing cases that nothing covers get a new entry with a guessed category.
    """
    failing = {o.eval.id: o for o in outcomes if not o.passed}
    all_ids = [o.eval.id for o in outcomes]
    result: list[Gap] = []
    covered: set[str] = set()
    for gap in current.entries:
        matched = [i for i in all_ids if gap.matches(i) and current.lookup(i) is gap]
        if not matched:
            result.append(gap)  # about cases this run did not include
            continue
        still = [i for i in matched if i in failing]
        if gap.pattern is not None and still and len(still) == len(matched):
            result.append(gap)
        else:
            result += [Gap(gap.category, gap.reason, id=i) for i in still]
        covered.update(still)
    for case_id, outcome in failing.items():
        if case_id not in covered:
            assert outcome.failure is not None
            result.append(Gap(guess_category(outcome), outcome.failure.headline, id=case_id))
    return result
