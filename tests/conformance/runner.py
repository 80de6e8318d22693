"""Runs the evals of parsed ``.test`` files against a storage and engine behind the seam.

One :class:`Runner` serves a whole session. The storage an eval sees is the one its file has
built since the last ``clear``, with every ``load`` before the eval applied; the runner keeps
that storage alive between evals and only rebuilds it when the next eval needs a different
state (another file, another ``clear`` segment, or fewer loads because cases ran out of order).

Each eval is one check made of sub-checks, run in upstream's order and stopping at the first
failure (FORMAT.md section 8): ``instant`` (or ``range``), then ``instant, range mode``, then
for each evaluation time of the @-pinned variant ``@-pinned t=<ms>`` and its range mode.
Setting ``PROMQLTEST_CHECKS=main`` skips the extra checks for a quick look.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from promlake.promql2sql import parse_expr
from promlake.promql2sql.ast import Call, Expr, VectorSelector, walk
from promlake.promql2sql.errors import ParseError, PromQLError
from promlake.promql2sql.result import QueryResult

from .compare import Value, check_annotations, check_failure, compare, matrix_of, value_of, vector_at
from .pinning import pinned_variants, range_mode_allowed
from .promqltest import Clear, Eval, Load, ScriptFile, format_labels, make_labels
from .samples import LoadError, expand_load
from .seam import NotSupported, QueryEngine, Storage, StorageFactory, Unstored

__all__ = ["CHECKS_ENV", "Failure", "Outcome", "Runner", "extra_checks_enabled", "selects"]

CHECKS_ENV = "PROMQLTEST_CHECKS"
_MINUTE = 60_000


def extra_checks_enabled() -> bool:
    """Whether upstream's extra checks (section 8) run: by default, as upstream's harness does.

    ``PROMQLTEST_CHECKS=main`` skips them for a quick look (about half the time).
    """
    mode = os.environ.get(CHECKS_ENV, "full")
    if mode not in ("full", "main"):
        raise ValueError(f"{CHECKS_ENV} must be 'full' or 'main', not {mode!r}")
    return mode == "full"


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an eval failed: which sub-check, what it ran, and the problem (first line) with details.

    ``category`` is set when the cause is known without reading the message: a storage that
    cannot hold what a load asks for (``native-histograms``, ``start-timestamps``) or an
    engine exception that is not a ``PromQLError`` (``crash``).
    """

    check: str
    problem: str
    query: str = ""
    time: str = ""
    category: str | None = None

    @property
    def headline(self) -> str:
        return f"[{self.check}] {self.problem.splitlines()[0]}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one eval: None ``failure`` means it passed every sub-check.

    ``checks`` counts the queries judged: the range query of a range eval, or the instant runs
    of an instant eval (the original and its @-pinned variants, each with its range mode).
    """

    eval: Eval
    failure: Failure | None
    checks: int

    @property
    def passed(self) -> bool:
        return self.failure is None

    def report(self) -> str:
        """A readable account of the failure (pytest's failure text)."""
        if self.failure is None:
            return f"{self.eval.id}: passed {self.checks} checks"
        f = self.failure
        lines = [f"{self.eval.id}: {f.headline}", f"eval:  {self.eval.expr}"]
        if f.query and f.query != self.eval.expr:
            lines.append(f"query: {f.query}")
        if f.time:
            lines.append(f"time:  {f.time}")
        lines += f.problem.splitlines()[1:]
        return "\n".join(lines)


@dataclass
class _Live:
    key: tuple[str, int]
    storage: Storage
    applied: int = 0
    broken: Failure | None = None
    # Series that loads asked for but the storage could not keep: (load line, series).
    unstored: list[tuple[int, Unstored]] = field(default_factory=list)


def selects(expr: Expr, labels: dict[str, str]) -> bool:
    """Whether any selector in ``expr`` matches a series with ``labels``.

    ``info()`` also reads ``target_info`` (or its data-label selector's metrics) implicitly, so
    it counts as selecting everything.
    """
    for node in walk(expr):
        if isinstance(node, Call) and node.func.name == "info":
            return True
        if isinstance(node, VectorSelector) and all(m.matches(labels.get(m.name, "")) for m in node.matchers):
            return True
    return False


class _Crash(Exception):
    """An engine exception that is not a PromQLError; it never satisfies ``expect fail``."""


class Runner:
    """Executes evals in their files' context; close it to release the storage."""

    def __init__(self, new_storage: StorageFactory, *, extra_checks: bool = True) -> None:
        self._new_storage = new_storage
        self._extra = extra_checks
        self._live: _Live | None = None
        self._plans: dict[str, dict[int, tuple[int, tuple[Load, ...]]]] = {}

    # --- storage --------------------------------------------------------------------------
    def _plan(self, script: ScriptFile) -> dict[int, tuple[int, tuple[Load, ...]]]:
        """For each eval line: its clear segment (index of the command that opened it) and loads."""
        plan = self._plans.get(script.name)
        if plan is None:
            plan = {}
            segment, loads = 0, list[Load]()
            for i, cmd in enumerate(script.commands):
                if isinstance(cmd, Clear):
                    segment, loads = i + 1, []
                elif isinstance(cmd, Load):
                    loads.append(cmd)
                else:
                    plan[cmd.line] = (segment, tuple(loads))
            self._plans[script.name] = plan
        return plan

    def _storage(self, script: ScriptFile, ev: Eval) -> _Live:
        segment, loads = self._plan(script)[ev.line]
        key = (script.name, segment)
        live = self._live
        if live is None or live.key != key or live.applied > len(loads):
            self.close()
            live = self._live = _Live(key, self._new_storage())
        for load in loads[live.applied :]:
            live.applied += 1
            if live.broken is None:
                live.broken = self._load(live, load)
        return live

    @staticmethod
    def _load(live: _Live, load: Load) -> Failure | None:
        where = f"load at line {load.line}"
        try:
            live.storage.load(expand_load(load))
        except NotSupported as err:
            if err.unstored is not None:
                live.unstored += [(load.line, u) for u in err.unstored]
                return None
            return Failure("storage", f"{where}: not supported: {err}", category=err.category)
        except LoadError as err:
            return Failure("storage", f"{where} is invalid: {err}")
        except Exception as err:
            return Failure("storage", f"{where} failed: {type(err).__name__}: {err}", category="crash")
        return None

    @staticmethod
    def _missing(live: _Live, ev: Eval) -> Failure | None:
        """A failure when the eval selects a series its storage could not keep."""
        if not live.unstored:
            return None
        try:
            expr = parse_expr(ev.expr)
        except ParseError:
            return None  # the query fails on its own, and says why
        for line, u in live.unstored:
            if selects(expr, u.labels):
                problem = f"selects {format_labels(make_labels(u.labels))} (load at line {line}): {u.reason}"
                return Failure("storage", problem, category=u.category)
        return None

    def close(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.storage.close()

    # --- evals ----------------------------------------------------------------------------
    def run(self, script: ScriptFile, ev: Eval) -> Outcome:
        """Run one eval of ``script`` (which must contain it) with all its sub-checks."""
        try:
            live = self._storage(script, ev)
        except Exception as err:
            return Outcome(
                ev,
                Failure("storage", f"cannot create a storage: {type(err).__name__}: {err}", category="crash"),
                0,
            )
        if live.broken is not None:
            return Outcome(ev, live.broken, 0)
        missing = self._missing(live, ev)
        if missing is not None:
            return Outcome(ev, missing, 0)
        try:
            engine = live.storage.engine()
        except Exception as err:
            return Outcome(
                ev,
                Failure("storage", f"cannot create an engine: {type(err).__name__}: {err}", category="crash"),
                0,
            )
        if ev.is_range:
            return Outcome(ev, self._range_eval(ev, engine), 1)
        checks = 0
        runs: list[tuple[str, str, int]] = [("instant", ev.expr, ev.time_ms)]
        for i, (check, query, t) in enumerate(runs):
            checks += 1
            failure = self._instant(ev, engine, check, query, t)
            if failure is not None:
                return Outcome(ev, failure, checks)
            if i == 0 and self._extra:
                try:
                    variants = pinned_variants(ev.expr, ev.time_ms)
                except ParseError as err:
                    return Outcome(
                        ev,
                        Failure("@-pinned", f"cannot pin @ on a query that does not parse: {err}", ev.expr),
                        checks,
                    )
                runs += [(f"@-pinned t={vt}", vq, vt) for vq, vt in variants]
        return Outcome(ev, None, checks)

    def _call(self, fn: Callable[[], QueryResult]) -> tuple[QueryResult | None, PromQLError | None]:
        try:
            return fn(), None
        except PromQLError as err:
            return None, err
        except Exception as err:
            details = "".join(traceback.format_exception(err)[-12:])
            raise _Crash(f"engine raised {type(err).__name__}: {err}\n{details}") from err

    def _range_eval(self, ev: Eval, engine: QueryEngine) -> Failure | None:
        assert ev.end_ms is not None
        when = f"range from {ev.start_ms}ms to {ev.end_ms}ms step {ev.step_ms}ms"
        end_ms = ev.end_ms
        try:
            result, error = self._call(lambda: engine.range(ev.expr, ev.start_ms, end_ms, ev.step_ms))
        except _Crash as crash:
            return Failure("range", str(crash), ev.expr, when, category="crash")
        return self._judge(ev, "range", ev.expr, when, result, error, matrix_of)

    def _instant(self, ev: Eval, engine: QueryEngine, check: str, query: str, t: int) -> Failure | None:
        when = f"instant at {t}ms"
        try:
            result, error = self._call(lambda: engine.instant(query, t))
        except _Crash as crash:
            return Failure(check, str(crash), query, when, category="crash")
        failure = self._judge(ev, check, query, when, result, error, value_of)
        if failure is not None or result is None or not self._extra:
            return failure
        if ev.exclude_from_range_query or ev.is_ordered or not range_mode_allowed(query):
            return None
        return self._range_mode(ev, engine, check, query, t, value_of(result))

    def _judge(
        self,
        ev: Eval,
        check: str,
        query: str,
        when: str,
        result: QueryResult | None,
        error: PromQLError | None,
        view: Callable[[QueryResult], Value],
    ) -> Failure | None:
        if error is not None:
            if ev.is_fail:
                problem = check_failure(ev, str(error))
                return None if problem is None else Failure(check, problem, query, when)
            first, _, rest = str(error).partition("\n")
            return Failure(
                check, f"query failed: {type(error).__name__}: {first}\n{rest}".rstrip(), query, when
            )
        assert result is not None
        value = view(result)
        if ev.is_fail:
            return Failure(check, f"expected the query to fail, but it returned a {value.kind}", query, when)
        problem = check_annotations(ev, result.warnings, result.infos) or compare(ev, value)
        return None if problem is None else Failure(check, problem, query, when)

    def _range_mode(
        self, ev: Eval, engine: QueryEngine, check: str, query: str, t: int, instant: Value
    ) -> Failure | None:
        """Check 8.2: the same query as a range query around ``t`` gives the same point at ``t``."""
        check = f"{check}, range mode"
        when = f"range from {t - _MINUTE}ms to {t + _MINUTE}ms step {_MINUTE}ms"
        try:
            result, error = self._call(lambda: engine.range(query, t - _MINUTE, t + _MINUTE, _MINUTE))
        except _Crash as crash:
            return Failure(check, str(crash), query, when, category="crash")
        if error is not None:
            return Failure(check, f"query failed in range mode: {type(error).__name__}: {error}", query, when)
        assert result is not None
        matrix = matrix_of(result)
        # compare() on the whole matrix would also check sortedness, but against other steps.
        vector = vector_at(matrix, t)
        unsorted = [s.labels for s in matrix.series] != sorted(s.labels for s in matrix.series)
        if unsorted:
            return Failure(check, "range-mode results are not sorted by labels", query, when)
        if instant.kind == "scalar":
            if not vector.series:
                return Failure(check, f"range mode returned no point at t={t}", query, when)
            first = vector.series[0]
            scalar = first.floats[0][1] if first.floats else 0.0
            problem = compare(ev, Value("scalar", scalar=scalar))
        else:
            problem = compare(ev, vector)
        return None if problem is None else Failure(check, problem, query, when)
