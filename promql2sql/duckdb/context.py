"""The DuckDB backend's core: relations, the timeline, CTE bookkeeping and dispatch.

Every PromQL value lowers to named CTEs:

- an instant vector is two relations: ``points`` (sk BIGINT, t BIGINT, v DOUBLE), one row per
  series per step, and ``series`` (sk BIGINT, labels MAP(VARCHAR, VARCHAR), drop_name BOOLEAN),
  one row per series. Label work (grouping keys, name dropping, label_replace) therefore runs
  once per series, never once per series per step;
- a scalar is ``points`` (t, v), one row per step;
- a range vector at the top of an instant query is ``points`` (sk, t, ts, v) plus ``series``.

``sk`` is unique per distinct label set within a relation: raw series use their series_id,
derived series a hash of their labels. Labels are MAPs with keys in sorted order, so equal
label sets compare and group equal. SQL comes from parsed templates with placeholders
(``tmpl``) or sqlglot builders, never from string formatting.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

import pyarrow as pa
import sqlglot
import sqlglot.expressions as exp

from ..ast import Matcher
from ..errors import ExecutionError
from ..plan import Node


@dataclass(frozen=True)
class Timeline:
    """The evaluation times: ``start``, ``start + step``, ... up to ``end`` (ms)."""

    start: int
    end: int
    step: int

    def times(self) -> range:
        return range(self.start, self.end + 1, self.step)


@dataclass(frozen=True)
class Vec:
    points: str
    series: str


@dataclass(frozen=True)
class Scal:
    points: str


@dataclass(frozen=True)
class Mat:
    points: str  # sk, t (step), ts (sample), v
    series: str


@dataclass(frozen=True)
class Str:
    value: str


Rel: TypeAlias = Vec | Scal | Mat | Str


class Querier(Protocol):
    """What the backend needs from storage (DESIGN: a narrow catalog/querier interface)."""

    def series(self, matchers: Sequence[Matcher]) -> pa.Table | exp.Query:
        """Matching series as (sk BIGINT, labels MAP) rows (a table, or SQL), labels sorted by name."""
        ...

    def samples(self, mint: int, maxt: int) -> exp.Query:
        """A relation (sk, ts, v, stale, st) holding at least every sample with mint <= ts <= maxt;
        ``st`` is the sample's start timestamp (ms, NULL = unknown). It is read only where
        ``has_start_timestamps`` is True: a querier that never says so may leave it out."""
        ...

    def has_start_timestamps(self, mint: int, maxt: int) -> bool:
        """Whether samples in [mint, maxt] may have a start timestamp (False: st is all NULL
        there, and the functions that read it take their cheaper st-free forms)."""
        ...


# Templates name their holes ``:name``; sqlglot's DuckDB parser reads ``$name`` as a
# placeholder everywhere (``:name`` trips it inside some functions), so holes are renamed first.
_HOLE = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.cache
def parse_template(text: str) -> Any:
    # Any: a template may be a SELECT, an expression or a predicate; callers know which.
    return sqlglot.parse_one(_HOLE.sub(r"$\1", text), read="duckdb")


def tmpl(text: str, **subs: Any) -> Any:
    """A parsed SQL template with ``:name`` placeholders replaced (tables via ``table()``)."""
    return exp.replace_placeholders(parse_template(text).copy(), **subs)


def table(name: str) -> exp.Table:
    return exp.to_table(name)


def num(x: float | int) -> exp.Expression:
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        text = "nan" if x != x else ("inf" if x > 0 else "-inf")
        return exp.cast(exp.Literal.string(text), "DOUBLE")
    return exp.Literal.number(x)


Handler = Callable[["Compiler", Any, Timeline], Rel]
HANDLERS: dict[type, Handler] = {}


def handles(node_type: type) -> Callable[[Handler], Handler]:
    """Register the lowering of one plan operator (one dispatch table, built at import)."""

    def register(fn: Handler) -> Handler:
        HANDLERS[node_type] = fn
        return fn

    return register


class Compiler:
    """Lowers plan nodes bottom-up into a list of CTEs; shared subtrees are compiled once."""

    def __init__(self, querier: Querier) -> None:
        self.querier = querier
        self.ctes: list[tuple[str, exp.Expression]] = []
        self.tables: dict[str, pa.Table] = {}
        # Series CTEs read straight from the index: their rows, for decisions at compile time
        # (e.g. an annotation that cannot fire is not queried at all).
        self.index_series: dict[str, pa.Table] = {}
        self._memo: dict[tuple[Node, Timeline], Rel] = {}
        self._steps: dict[Timeline, str] = {}
        # (query returning one offending value or nothing, message with {} for that value, or
        # a function of the whole offending row, e.g. to print label sets the Go way)
        self.assertions: list[tuple[exp.Expression, str | Callable[[tuple[Any, ...]], str]]] = []
        # Annotations: (query, message template). Each row the query returns adds the message
        # formatted with that row's values (``{}`` placeholders), e.g. the metric name.
        self.warnings: list[tuple[exp.Expression, str]] = []
        self.infos: list[tuple[exp.Expression, str]] = []
        # Set by sort()/sort_desc()/sort_by_label*(): the order of an instant query's result.
        self.ordering: Node | None = None

    def cte(self, body: exp.Expression, prefix: str) -> str:
        name = f"{prefix}_{len(self.ctes)}"
        self.ctes.append((name, body))
        return name

    def register(self, data: pa.Table, prefix: str) -> str:
        name = f"__{prefix}_{len(self.tables)}"
        self.tables[name] = data
        return name

    def steps(self, tl: Timeline) -> str:
        if tl not in self._steps:
            body = tmpl(
                "SELECT range AS t FROM range(:start, :stop, :step)",
                start=num(tl.start), stop=num(tl.end + 1), step=num(tl.step),
            )  # fmt: skip
            self._steps[tl] = self.cte(body, "steps")
        return self._steps[tl]

    def compile(self, node: Node, tl: Timeline) -> Rel:
        key = (node, tl)
        if key not in self._memo:
            handler = HANDLERS.get(type(node))
            if handler is None:
                raise ExecutionError(f"the DuckDB backend cannot evaluate {type(node).__name__} yet")
            self._memo[key] = handler(self, node, tl)
        return self._memo[key]

    def query(self, final: Any) -> Any:
        """The final statement with every CTE in dependency order."""
        for name, body in self.ctes:
            # copy=False: copying the growing statement per CTE is quadratic (seconds per query).
            final = final.with_(name, as_=body, copy=False)
        return final
