"""Query limits as Prometheus's engine applies them: timeout, cancellation, concurrency, samples.

``QueryLimits`` holds the values of ``--query.timeout`` (2m), ``--query.max-samples``
(50000000) and ``--query.max-concurrency`` (20); ``--query.lookback-delta`` stays on the
``Engine``, which already had it. One ``QueryLimits`` object is one pool of query slots:
every ``Engine`` given the same object shares its ``max_concurrency`` (the HTTP API may build
an ``Engine`` per request; the slots must still be the server's).

How a query is run (``run_limited``), stage by stage with Prometheus's error texts
(``promql/engine.go`` ``exec``, ``contextErr``):

1. ``query queue``: wait for a free slot; the deadline and cancellation apply while waiting.
2. ``query execution``: the deadline is checked once more when the slot is taken.
3. ``expression evaluation``: compiling and running the SQL. The DuckDB connection the engine
   runs on is attached (``attach_connection``); a deadline that passes or a ``.cancel()``
   calls ``DuckDBPyConnection.interrupt()`` from the watchdog thread (or the canceling thread),
   and the query fails with ``duckdb.InterruptException``, which ``run_limited`` turns into
   ``QueryTimeoutError("query timed out in expression evaluation")`` or
   ``CanceledError("query was canceled in expression evaluation")``.

DuckDB forgets an interrupt that arrives between two statements (each statement starts
with the flag cleared), so once tripped the watchdog repeats the interrupt every
``_REPEAT_S`` until the connection is detached; ``attach_connection`` itself refuses a query
that tripped before it got a connection. No interrupt reaches a connection after
``detach_connection`` returned, so a pooled connection can be handed on safely.

The deadline is the earlier of ``QueryLimits.timeout_s`` after the call and the
``CancelToken``'s own ``timeout_s`` (the API's ``timeout`` parameter), so the per-request
timeout is capped by the flag as upstream. Max samples: see ``sample_count``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import duckdb

from .errors import CanceledError, PromQLError, QueryTimeoutError

if TYPE_CHECKING:
    from promlake.engine.catalog import Snapshot

    from .duckdb import Compiler

__all__ = [
    "CancelToken",
    "QueryLimits",
    "attach_connection",
    "check_samples",
    "detach_connection",
    "run_limited",
]

T = TypeVar("T")

QUEUE = "query queue"
EXECUTION = "query execution"
EVALUATION = "expression evaluation"

_REPEAT_S = 0.05  # how often a tripped query's connection is interrupted again


class _Slots:
    """``max_concurrency`` query slots and how many are taken (``prometheus_engine_queries``)."""

    def __init__(self, n: int) -> None:
        self._sem = threading.BoundedSemaphore(n)
        self._lock = threading.Lock()
        self.active = 0

    def acquire(self, timeout: float) -> bool:
        if not self._sem.acquire(timeout=timeout):
            return False
        with self._lock:
            self.active += 1
        return True

    def release(self) -> None:
        with self._lock:
            self.active -= 1
        self._sem.release()


@dataclass(frozen=True, eq=False)
class QueryLimits:
    """Prometheus's query flags; defaults are upstream's. Equality is identity (one slot pool)."""

    timeout_s: float = 120.0  # --query.timeout
    max_samples: int = 50_000_000  # --query.max-samples
    max_concurrency: int = 20  # --query.max-concurrency
    _slots: _Slots = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"query timeout must be positive, got {self.timeout_s}")
        if self.max_samples < 0:
            raise ValueError(f"max samples must not be negative, got {self.max_samples}")
        if self.max_concurrency < 1:
            raise ValueError(f"max concurrency must be at least 1, got {self.max_concurrency}")
        object.__setattr__(self, "_slots", _Slots(self.max_concurrency))

    @property
    def active(self) -> int:
        """Queries running now under these limits (holding a slot)."""
        return self._slots.active

    def timeout_for(self, requested_s: float | None) -> float:
        """A request's timeout capped by the flag (``/api/v1/query?timeout=``)."""
        return self.timeout_s if requested_s is None else min(requested_s, self.timeout_s)


class CancelToken:
    """Lets a caller stop queries it started: ``.cancel()`` from any thread.

    ``timeout_s`` adds a deadline counted from the token's creation (Go's
    ``context.WithTimeout``); the engine's own timeout still caps it. One token may serve
    several queries (e.g. a rule group); once canceled, every query using it fails.
    """

    def __init__(self, timeout_s: float | None = None) -> None:
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self._lock = threading.Lock()
        self._canceled = False
        self._running: set[_Execution] = set()

    @property
    def canceled(self) -> bool:
        return self._canceled

    def cancel(self) -> None:
        with self._lock:
            self._canceled = True
            running = list(self._running)
        for ex in running:
            ex.trip("canceled")

    def _join(self, ex: _Execution) -> None:
        with self._lock:
            self._running.add(ex)
            canceled = self._canceled
        if canceled:
            ex.trip("canceled")

    def _leave(self, ex: _Execution) -> None:
        with self._lock:
            self._running.discard(ex)


class _Execution:
    """One query's run: its deadline, why it stopped (if it did), the connection to interrupt."""

    def __init__(self, limits: QueryLimits, token: CancelToken | None) -> None:
        self.limits = limits
        self.token = token
        self.deadline = time.monotonic() + limits.timeout_s
        if token is not None and token.deadline is not None:
            self.deadline = min(self.deadline, token.deadline)
        self.stage = QUEUE
        self.tripped: str | None = None  # "timeout" or "canceled"
        self.tripped_in = QUEUE
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._closed = False

    # --- called from other threads ------------------------------------------------------
    def trip(self, kind: str) -> None:
        """Stop the query (first reason wins) and keep interrupting until it lets go."""
        with self._lock:
            if self._closed:
                return
            if self.tripped is None:
                self.tripped = kind
                self.tripped_in = self.stage
            if self._con is not None:
                self._con.interrupt()
        _WATCHDOG.schedule(time.monotonic() + _REPEAT_S, self)

    def on_due(self, now: float) -> None:
        if self._closed:
            return
        if self.tripped is None and now < self.deadline:  # not yet: woken early
            _WATCHDOG.schedule(self.deadline, self)
            return
        self.trip("timeout")

    # --- called from the query's own thread ---------------------------------------------
    def error(self) -> PromQLError:
        if self.tripped == "canceled":
            return CanceledError(f"query was canceled in {self.tripped_in}")
        return QueryTimeoutError(f"query timed out in {self.tripped_in}")

    def enter(self, stage: str) -> None:
        """Move on to ``stage``, or raise if the query was stopped (a deadline found passed
        here counts as passed in ``stage``, as upstream's ``contextDone(ctx, stage)``)."""
        with self._lock:
            if self.tripped is None and time.monotonic() >= self.deadline:
                self.tripped, self.tripped_in = "timeout", stage
            if self.tripped is not None:
                raise self.error()
            self.stage = stage

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if self.tripped is not None:
                raise self.error()
            self._con = con

    def detach(self, con: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if self._con is con:
                self._con = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._con = None


class _Watchdog:
    """One daemon thread that trips executions at their deadlines (a heap of wake-ups)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Execution]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, when: float, ex: _Execution) -> None:
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._seq), ex))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="promql-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due: list[_Execution] = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
                if not due:
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
                    continue
            for ex in due:  # outside the lock: trip() schedules again
                ex.on_due(now)


_WATCHDOG = _Watchdog()
_CURRENT: ContextVar[_Execution | None] = ContextVar("promql_execution", default=None)


def run_limited(limits: QueryLimits, token: CancelToken | None, run: Callable[[], T]) -> T:
    """``run()`` (one query) within ``limits``: a slot, the deadline, cancellation by ``token``."""
    ex = _Execution(limits, token)
    if token is not None:
        token._join(ex)
    _WATCHDOG.schedule(ex.deadline, ex)
    reset = _CURRENT.set(ex)
    try:
        _take_slot(ex)
        try:
            ex.enter(EXECUTION)
            ex.enter(EVALUATION)
            return run()
        except (QueryTimeoutError, CanceledError):
            raise
        except Exception as exc:
            # Whatever the interrupt broke (a DuckDB statement, mostly) is reported as the
            # timeout or cancellation that caused it.
            if ex.tripped is not None:
                raise ex.error() from exc
            raise
        finally:
            limits._slots.release()
    finally:
        ex.close()
        _CURRENT.reset(reset)
        if token is not None:
            token._leave(ex)


def _take_slot(ex: _Execution) -> None:
    """Wait for a free slot (``query queue``), giving up at the deadline or on cancellation."""
    while True:
        ex.enter(QUEUE)
        wait = min(ex.deadline - time.monotonic(), _REPEAT_S)
        if ex.limits._slots.acquire(timeout=max(wait, 0.0)):
            return


# --- hooks for Engine._run (no-ops outside run_limited) -----------------------------------
def attach_connection(con: duckdb.DuckDBPyConnection) -> None:
    """The query now runs on ``con``: interrupt it on timeout or cancel (raises if already)."""
    ex = _CURRENT.get()
    if ex is not None:
        ex.attach(con)


def detach_connection(con: duckdb.DuckDBPyConnection) -> None:
    """Done with ``con``: after this returns nothing interrupts it on this query's behalf."""
    ex = _CURRENT.get()
    if ex is not None:
        ex.detach(con)


def check_samples(con: duckdb.DuckDBPyConnection, compiler: Compiler, snap: Snapshot) -> None:
    """Refuse the compiled query if it would load more than ``max_samples`` (see sample_count)."""
    ex = _CURRENT.get()
    if ex is not None:
        from .sample_count import enforce

        enforce(con, compiler, snap, ex.limits.max_samples)
