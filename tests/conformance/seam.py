"""The one place where the conformance runner meets promlake (upstream's ``RunBuiltinTests`` seam).

The runner sees only two protocols: a :class:`Storage` that accepts the samples of ``load``
commands and hands out a :class:`QueryEngine`, and the engine's ``instant``/``range`` calls
returning a ``QueryResult``. :func:`promlake_storage` adapts a fresh ``Lake`` in a temporary
directory plus ``promlake.promql2sql.engine.Engine``; any other engine can run the corpus by
providing its own factory.

The engine module is imported lazily, inside :func:`promlake_storage`, so the runner and its
self-tests work while the engine does not exist yet.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from promlake.promql2sql.result import QueryResult

from .samples import LoadData

__all__ = [
    "LOOKBACK_DELTA_MS",
    "NotSupported",
    "QueryEngine",
    "Storage",
    "StorageFactory",
    "Unstored",
    "promlake_storage",
]

# FORMAT.md section 9: the test engine passes 0, which means the default 5m.
LOOKBACK_DELTA_MS = 300_000


class QueryEngine(Protocol):
    """What the runner asks of a PromQL engine; errors are ``PromQLError`` with upstream's text."""

    def instant(self, query: str, time_ms: int) -> QueryResult: ...

    def range(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult: ...


class Storage(Protocol):
    """A test storage: lives from one ``clear`` to the next."""

    def load(self, data: LoadData) -> None:
        """Append and commit the samples of one ``load`` command, or raise."""

    def engine(self) -> QueryEngine:
        """An engine reading everything loaded so far."""

    def close(self) -> None: ...


StorageFactory = Callable[[], Storage]


@dataclass(frozen=True, slots=True)
class Unstored:
    """A series a storage could not keep, and why (``category`` names the gap)."""

    labels: dict[str, str]
    category: str
    reason: str


class NotSupported(Exception):
    """The storage cannot hold everything a ``load`` asks for.

    With ``unstored`` given, the rest of the load *was* stored: only evals that select one of
    those series must fail. Without it the whole storage is unusable.
    """

    def __init__(self, category: str, message: str, unstored: list[Unstored] | None = None) -> None:
        super().__init__(message)
        self.category = category
        self.unstored = unstored


class _LakeStorage:
    """A fresh promlake ``Lake`` in a temporary directory, queried through ``Engine``."""

    def __init__(self, engine_class: Any) -> None:
        import promlake

        self._engine_class = engine_class
        self._dir = Path(tempfile.mkdtemp(prefix="promqltest-"))
        self._lake = promlake.open(self._dir)
        self._engine: QueryEngine | None = None

    def load(self, data: LoadData) -> None:
        from promlake.engine import SeriesBatch

        # Float samples are stored even when the same load holds what the lake cannot keep yet:
        # blocks mix float and histogram series, and failing the whole storage would hide about
        # 380 float-only evals. The runner fails exactly the evals that select what is missing.
        # (Start timestamps of histogram samples go with them.)
        unstored = [
            Unstored(data.series[k], "native-histograms", "native histogram samples cannot be stored yet")
            for k in sorted({h.series for h in data.histograms})
        ]
        if len(data.float_ts):
            app = self._lake.appender()
            # float_start_ts is sample ts + @st offset, 0 where none: the Appender's own convention.
            app.append(
                SeriesBatch.from_dicts(data.series),
                data.float_series,
                data.float_ts,
                data.float_values,
                st=data.float_start_ts,
            )
            app.commit()
        # A new engine per load, so no engine-side cache can hide the new samples.
        self._engine = None
        if unstored:
            raise NotSupported(unstored[0].category, unstored[0].reason, unstored)

    def engine(self) -> QueryEngine:
        if self._engine is None:
            self._engine = self._engine_class(self._lake, lookback_delta_ms=LOOKBACK_DELTA_MS)
        return self._engine

    def close(self) -> None:
        # A clear throws the data away: nothing needs to reach Parquet.
        self._lake.close(flush=False)
        shutil.rmtree(self._dir, ignore_errors=True)


def promlake_storage() -> StorageFactory:
    """The factory of promlake test storages; raises ImportError when the engine is missing."""
    try:
        from promlake.promql2sql.engine import Engine
    except ImportError as err:
        raise ImportError(
            "the promqltest conformance suite needs promlake.promql2sql.engine.Engine "
            f"(Engine(lake, lookback_delta_ms=...).instant/.range), which cannot be imported: {err}"
        ) from err
    return lambda: _LakeStorage(Engine)
