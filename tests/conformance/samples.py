"""What a ``load`` command writes: its series lines turned into samples (FORMAT.md section 3).

Value number i of a series lands at ``i * interval`` from the epoch. ``@st`` offsets become
start timestamps, histogram literals and ramps become concrete histograms, and
``load_with_nhcb`` adds native histograms with custom buckets built from the classic
``_bucket``/``_count``/``_sum`` series of the same block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from promlake.promql2sql.gostr import GoSyntaxError, parse_go_float
from promlake.promql2sql.series import HistogramRampStep, HistogramValue

from .histograms import CUSTOM_BUCKETS_SCHEMA, materialize
from .promqltest import Labels, Load, format_labels

__all__ = ["HistogramSample", "LoadData", "expand_load"]


@dataclass(frozen=True, slots=True)
class HistogramSample:
    """One native-histogram sample of series ``series`` (an index into ``LoadData.series``)."""

    series: int
    t: int
    value: HistogramValue
    start_t: int = 0


@dataclass(frozen=True)
class LoadData:
    """The samples of one ``load``, columnar for floats.

    ``float_values`` keeps the stale marker's exact bit pattern. ``float_start_ts`` is 0 where a
    sample has no start timestamp, as upstream's appender treats 0.
    """

    line: int
    series: list[dict[str, str]]
    float_series: np.ndarray
    float_ts: np.ndarray
    float_values: np.ndarray
    float_start_ts: np.ndarray
    histograms: list[HistogramSample] = field(default_factory=list)

    @property
    def has_start_timestamps(self) -> bool:
        return bool(np.any(self.float_start_ts != 0)) or any(h.start_t != 0 for h in self.histograms)


class LoadError(ValueError):
    """A load that upstream's harness would refuse (bad NHCB input, impossible histogram sum)."""


def expand_load(load: Load) -> LoadData:
    """All samples of ``load``, NHCB histograms included."""
    series: list[dict[str, str]] = []
    index: list[int] = []
    ts: list[int] = []
    values: list[float] = []
    starts: list[int] = []
    hists: list[HistogramSample] = []
    for k, line in enumerate(load.series):
        series.append(dict(line.labels))
        for i, v in enumerate(line.values):
            if v is None:
                continue
            t = i * load.interval_ms
            offset = None if line.start_offsets is None else line.start_offsets[i]
            start = 0 if offset is None else t + offset
            if isinstance(v, HistogramValue | HistogramRampStep):
                try:
                    hists.append(HistogramSample(k, t, materialize(v), start))
                except ValueError as err:
                    raise LoadError(f"line {line.line}: {err}") from None
            else:
                index.append(k)
                ts.append(t)
                values.append(v)
                starts.append(start)
    data = LoadData(
        load.line,
        series,
        np.array(index, dtype=np.int64),
        np.array(ts, dtype=np.int64),
        np.array(values, dtype=np.float64),
        np.array(starts, dtype=np.int64),
        hists,
    )
    if load.with_nhcb:
        _add_nhcb(load, data)
    return data


@dataclass
class _Partial:
    """What one timestamp of one classic histogram has seen so far (convertnhcb's TempHistogram)."""

    buckets: dict[float, float] = field(default_factory=dict)
    count: float | None = None
    sum: float | None = None


def _base(labels: Labels, name: str) -> Labels:
    return tuple(sorted((k, name if k == "__name__" else v) for k, v in labels if k != "le"))


def _add_nhcb(load: Load, data: LoadData) -> None:
    groups: dict[Labels, dict[int, _Partial]] = {}
    for k, line in enumerate(load.series):
        name = dict(line.labels).get("__name__", "")
        for suffix in ("_bucket", "_count", "_sum"):
            if name.endswith(suffix):
                break
        else:
            continue
        le = dict(line.labels).get("le")
        if suffix == "_bucket":
            if le is None:
                raise LoadError(f"line {line.line}: {format_labels(line.labels)} has no le label")
            try:
                bound = parse_go_float(le)
            except GoSyntaxError:
                continue  # upstream skips a bucket whose le does not parse
            if math.isnan(bound):
                continue
        per_time = groups.setdefault(_base(line.labels, name.removesuffix(suffix)), {})
        mask = data.float_series == k
        for t, v in zip(data.float_ts[mask].tolist(), data.float_values[mask].tolist(), strict=True):
            partial = per_time.setdefault(t, _Partial())
            if suffix == "_bucket":
                partial.buckets[bound] = v
            elif suffix == "_count":
                partial.count = v
            else:
                partial.sum = v
    for labels, per_time in groups.items():
        data.series.append(dict(labels))
        k = len(data.series) - 1
        for t in sorted(per_time):
            data.histograms.append(HistogramSample(k, t, _convert(labels, t, per_time[t])))


def _convert(labels: Labels, t: int, partial: _Partial) -> HistogramValue:
    bounds = sorted(partial.buckets)
    cumulative = [partial.buckets[b] for b in bounds]
    if not bounds or bounds[-1] != math.inf:
        # No +Inf bucket: it is implied, holding the overall count.
        count = partial.count if partial.count is not None else (cumulative[-1] if cumulative else 0.0)
        bounds.append(math.inf)
        cumulative.append(count)
    count = partial.count if partial.count is not None else cumulative[-1]
    where = f"{format_labels(labels)} at t={t}"
    if count != cumulative[-1]:
        raise LoadError(f"{where}: count {count} differs from the +Inf bucket {cumulative[-1]}")
    counts = []
    previous = 0.0
    for c in cumulative:
        if c < previous or c < 0:
            raise LoadError(f"{where}: bucket counts are not cumulative")
        counts.append(c - previous)
        previous = c
    return HistogramValue(
        schema=CUSTOM_BUCKETS_SCHEMA,
        sum=partial.sum if partial.sum is not None else 0.0,
        count=count,
        positive_buckets=tuple(counts),
        custom_values=tuple(bounds[:-1]),
    )
