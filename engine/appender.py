"""The Appender: the one door through which every writer puts data into the lake.

Remote write, scrape, push, OTLP, rules and import all append batches (a ``SeriesBatch`` of
label sets plus arrays of samples that point into it) and then commit or roll back, like
Prometheus's ``storage.Appender``. Nothing is visible or durable before ``commit`` returns;
once it returns, the data is in the WAL and survives a crash of the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from promlake.engine import histograms, start_ts
from promlake.engine.errors import InvalidSeriesError
from promlake.engine.labels import SeriesBatch, long_to_maps

if TYPE_CHECKING:
    from promlake.engine.lake import Lake


@dataclass(frozen=True)
class CommitResult:
    samples: int  # appended (identical duplicates excluded)
    duplicates: int  # bit-identical samples already stored, dropped silently
    new_series: int
    exemplars: int
    histograms: int = 0  # native histogram samples appended (identical duplicates excluded)


@dataclass(frozen=True)
class _Samples:
    series: SeriesBatch
    index: np.ndarray
    ts: np.ndarray
    values: np.ndarray
    st: start_ts.StartTimes = None  # int64 ms, 0 = unknown; None when no sample has one


@dataclass(frozen=True)
class _Exemplars:
    series: SeriesBatch
    index: np.ndarray
    ts: np.ndarray
    values: np.ndarray
    labels: SeriesBatch  # one label set per exemplar


@dataclass(frozen=True)
class _Histograms:
    series: SeriesBatch
    index: np.ndarray
    rows: pa.Table  # histograms.WRITER_SCHEMA


@dataclass(frozen=True)
class Metadata:
    metric: str  # the metric family name
    type: str  # counter, gauge, histogram, summary, ... as Prometheus names them
    help: str
    unit: str


class Appender:
    """Collects batches; ``commit`` makes them durable and visible together."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._samples: list[_Samples] = []
        self._exemplars: list[_Exemplars] = []
        self._histograms: list[_Histograms] = []
        self._metadata: list[Metadata] = []

    def append(
        self,
        series: SeriesBatch,
        series_index: np.ndarray,
        ts: np.ndarray,
        values: np.ndarray,
        st: np.ndarray | None = None,
    ) -> None:
        """Queue samples; ``series_index[i]`` is the row of ``series`` that sample i belongs to.

        ``st`` (optional) is each sample's start timestamp in ms (Prometheus's created/start
        timestamp), ``0`` where unknown, as in Prometheus's appenders and remote write 2.0.
        """
        idx = np.asarray(series_index, dtype=np.int64)
        ts_a = np.asarray(ts, dtype=np.int64)
        val = np.asarray(values, dtype=np.float64)
        if not (len(idx) == len(ts_a) == len(val)):
            raise InvalidSeriesError("sample columns have different lengths")
        if len(idx) and (idx.min() < 0 or idx.max() >= series.n_series):
            raise InvalidSeriesError("sample refers to a series outside its batch")
        self._samples.append(_Samples(series, idx, ts_a, val, start_ts.from_writer(st, len(ts_a))))

    def append_exemplars(
        self,
        series: SeriesBatch,
        series_index: np.ndarray,
        ts: np.ndarray,
        values: np.ndarray,
        exemplar_labels: SeriesBatch,
    ) -> None:
        idx = np.asarray(series_index, dtype=np.int64)
        if not (len(idx) == len(ts) == len(values) == exemplar_labels.n_series):
            raise InvalidSeriesError("exemplar columns have different lengths")
        self._exemplars.append(
            _Exemplars(series, idx, np.asarray(ts, np.int64), np.asarray(values, np.float64), exemplar_labels)
        )

    def append_histograms(self, series: SeriesBatch, series_index: np.ndarray, rows: pa.Table) -> None:
        """Queue native histogram samples: row i of ``rows`` (``histograms.WRITER_SCHEMA``)
        belongs to series ``series_index[i]`` of ``series``. Refuses what Prometheus refuses."""
        idx = np.asarray(series_index, dtype=np.int64)
        if len(idx) != rows.num_rows:
            raise InvalidSeriesError("histogram rows and their series index differ in length")
        if len(idx) and (idx.min() < 0 or idx.max() >= series.n_series):
            raise InvalidSeriesError("histogram refers to a series outside its batch")
        try:
            rows = rows.select(histograms.WRITER_SCHEMA.names).cast(histograms.WRITER_SCHEMA)
        except (KeyError, pa.ArrowException) as exc:
            raise InvalidSeriesError(f"histogram rows do not have the writer schema: {exc}") from exc
        histograms.validate(rows)
        self._histograms.append(_Histograms(series, idx, rows))

    def set_metadata(self, metric: str, type: str, help: str = "", unit: str = "") -> None:
        self._metadata.append(Metadata(metric, type, help, unit))

    def rollback(self) -> None:
        self._samples.clear()
        self._exemplars.clear()
        self._histograms.clear()
        self._metadata.clear()

    def commit(self) -> CommitResult:
        try:
            return self._lake._commit(self._samples, self._exemplars, self._metadata, self._histograms)
        finally:
            self.rollback()


def exemplar_table(ex: _Exemplars, sids: np.ndarray) -> pa.Table:
    """Exemplars of one batch as (series_id, ts, value, labels MAP)."""
    lab = ex.labels
    maps = long_to_maps(lab.label_series, lab.names, lab.values, lab.n_series)
    return pa.table({"series_id": sids[ex.index], "ts": ex.ts, "value": ex.values, "labels": maps})
