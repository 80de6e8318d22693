"""The columnar result of decoding one OTLP ``ExportMetricsServiceRequest`` (protobuf or JSON).

Everything is one array per field over all elements of one kind in the request, linked by
index columns (``metric`` of a point, ``resource`` of a metric, ``owner`` of an attribute).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]
F64 = NDArray[np.float64]
Bools = NDArray[np.bool_]

EMPTY_STRINGS = pa.array([], pa.string())

# Metric.data kinds (the oneof member that is set), in the batch's numbering.
KIND_NONE, KIND_GAUGE, KIND_SUM, KIND_HISTOGRAM, KIND_EXP_HISTOGRAM, KIND_SUMMARY = range(6)
KIND_NAMES = ("none", "gauge", "sum", "histogram", "exponential_histogram", "summary")
# AggregationTemporality
TEMPORALITY_UNSPECIFIED, TEMPORALITY_DELTA, TEMPORALITY_CUMULATIVE = 0, 1, 2
FLAG_NO_RECORDED_VALUE = 1


def empty_i64() -> I64:
    return np.zeros(0, np.int64)


@dataclass(frozen=True, slots=True)
class Attrs:
    """Attributes (KeyValue lists) in long format: ``owner[i]`` has ``keys[i] = values[i]``.

    Values are already rendered as pcommon's ``Value.AsString`` does (what Prometheus uses as
    the label value). Rows of one owner are in wire order.
    """

    owner: I64
    keys: pa.StringArray
    values: pa.StringArray

    @staticmethod
    def empty() -> Attrs:
        return Attrs(empty_i64(), EMPTY_STRINGS, EMPTY_STRINGS)

    def __len__(self) -> int:
        return int(self.owner.size)


@dataclass(frozen=True, slots=True)
class Points:
    """Data points of one family of point messages (number, histogram, exponential histogram
    or summary)."""

    metric: I64  # index into the batch's metrics
    start_ns: U64  # start_time_unix_nano (0 = unknown)
    time_ns: U64  # time_unix_nano
    flags: U64
    attrs: Attrs
    value: F64  # number points: the value; histograms and summaries: the sum
    count: U64  # histograms and summaries (0 for number points)
    has_sum: Bools  # (exponential) histograms: optional sum present (others: True)

    def __len__(self) -> int:
        return int(self.metric.size)


@dataclass(frozen=True, slots=True)
class Exemplars:
    point: I64  # index into ``OtlpBatch.numbers``, ``histograms`` or ``exp_histograms``
    time_ns: U64
    value: F64
    trace_id: pa.StringArray  # lowercase hex, "" when absent or all zero
    span_id: pa.StringArray
    attrs: Attrs  # filtered_attributes

    @staticmethod
    def empty() -> Exemplars:
        return Exemplars(
            empty_i64(), np.zeros(0, np.uint64), np.zeros(0), EMPTY_STRINGS, EMPTY_STRINGS, Attrs.empty()
        )

    def __len__(self) -> int:
        return int(self.point.size)


@dataclass(frozen=True, slots=True)
class ExpBuckets:
    """One side (positive or negative) of the exponential histogram points' buckets: the
    ``offset`` of each point, and the ``bucket_counts`` of all points in long format."""

    offset: I64  # per point (sint32 on the wire)
    point: I64  # per bucket: index into ``OtlpBatch.exp_histograms``
    count: U64

    @staticmethod
    def empty(n: int = 0) -> ExpBuckets:
        return ExpBuckets(np.zeros(n, np.int64), empty_i64(), np.zeros(0, np.uint64))


@dataclass(frozen=True, slots=True)
class OtlpBatch:
    n_resources: int
    resource_attrs: Attrs
    # Metrics
    metric_resource: I64
    metric_name: pa.StringArray
    metric_description: pa.StringArray
    metric_unit: pa.StringArray
    metric_kind: I64  # KIND_*
    metric_temporality: I64  # sums, histograms, exponential histograms
    metric_monotonic: Bools  # sums
    # Points
    numbers: Points  # gauge and sum points
    histograms: Points
    bucket_point: I64  # histogram bucket_counts, long format
    bucket_count: U64
    bound_point: I64  # histogram explicit_bounds, long format
    bound: F64
    summaries: Points
    quantile_point: I64  # summary quantile_values, long format
    quantile: F64
    quantile_value: F64
    exp_histograms: Points  # exponential histogram points (value: the sum, as for histograms)
    exp_scale: I64
    exp_zero_count: U64
    exp_zero_threshold: F64
    exp_positive: ExpBuckets
    exp_negative: ExpBuckets
    number_exemplars: Exemplars
    histogram_exemplars: Exemplars
    exp_exemplars: Exemplars  # ``point``: index into ``exp_histograms``

    @property
    def n_metrics(self) -> int:
        return int(self.metric_resource.size)
