"""The columnar result of decoding one remote-write request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

# Prometheus's metadata type strings (model.MetricType), indexed by the protobuf enum value;
# the v1 and v2 enums share the numbering (UNKNOWN/UNSPECIFIED = 0 ... STATESET = 7).
METRIC_TYPES: tuple[str, ...] = (
    "unknown",
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
)

METADATA_SCHEMA = pa.schema(
    [
        # The series this metadata came with (v2, where metadata is per series); null in v1.
        pa.field("series", pa.int32()),
        pa.field("metric_family_name", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("help", pa.string(), nullable=False),
        pa.field("unit", pa.string(), nullable=False),
    ]
)

_SPANS = pa.list_(pa.struct([pa.field("offset", pa.int32(), False), pa.field("length", pa.uint32(), False)]))

HISTOGRAM_SCHEMA = pa.schema(
    [
        pa.field("series", pa.int32(), nullable=False),
        pa.field("timestamp", pa.int64(), nullable=False),
        pa.field("start_timestamp", pa.int64(), nullable=False),  # v2 only; 0 = unset
        # Prometheus's IsFloatHistogram(): the count oneof holds count_float.
        pa.field("is_float", pa.bool_(), nullable=False),
        pa.field("count_int", pa.uint64(), nullable=False),
        pa.field("count_float", pa.float64(), nullable=False),
        pa.field("sum", pa.float64(), nullable=False),
        pa.field("schema", pa.int32(), nullable=False),
        pa.field("zero_threshold", pa.float64(), nullable=False),
        pa.field("zero_count_int", pa.uint64(), nullable=False),
        pa.field("zero_count_float", pa.float64(), nullable=False),
        pa.field("negative_spans", _SPANS, nullable=False),
        pa.field("negative_deltas", pa.list_(pa.int64()), nullable=False),
        pa.field("negative_counts", pa.list_(pa.float64()), nullable=False),
        pa.field("positive_spans", _SPANS, nullable=False),
        pa.field("positive_deltas", pa.list_(pa.int64()), nullable=False),
        pa.field("positive_counts", pa.list_(pa.float64()), nullable=False),
        # ResetHint enum value: 0 unknown, 1 yes, 2 no, 3 gauge.
        pa.field("reset_hint", pa.int32(), nullable=False),
        pa.field("custom_values", pa.list_(pa.float64()), nullable=False),
    ]
)

# Arrow tables and arrays are immutable, so the empty ones can be shared.
EMPTY_METADATA = METADATA_SCHEMA.empty_table()
EMPTY_HISTOGRAMS = HISTOGRAM_SCHEMA.empty_table()
EMPTY_STRINGS: pa.StringArray = pa.array([], pa.string())


def _strings(x: object) -> pa.StringArray:
    arr = x if isinstance(x, pa.Array) else pa.array(x, pa.string())
    return arr.cast(pa.string())


def _ints(x: object, dtype: type) -> NDArray[Any]:
    return np.ascontiguousarray(np.asarray(x if x is not None else [], dtype=dtype))


@dataclass(frozen=True, slots=True, repr=False)
class WriteBatch:
    """One remote-write request (1.0 or 2.0) as columns.

    Series are numbered ``0 .. n_series - 1`` in request order; every other column refers to
    them by that index. Labels are in long format (one row per label, grouped by series, in the
    order the sender wrote them); exemplar labels likewise, keyed by exemplar index.
    """

    n_series: int
    label_series: NDArray[np.int32]
    label_names: pa.StringArray
    label_values: pa.StringArray
    sample_series: NDArray[np.int32]
    sample_ts: NDArray[np.int64]  # milliseconds since the epoch
    sample_values: NDArray[np.float64]  # bit-exact, stale-marker NaNs included
    sample_start_ts: NDArray[np.int64]  # v2 start timestamp (created timestamp); 0 = unset
    exemplar_series: NDArray[np.int32]
    exemplar_ts: NDArray[np.int64]
    exemplar_values: NDArray[np.float64]
    exemplar_label_exemplar: NDArray[np.int32]  # index into the exemplar_* arrays
    exemplar_label_names: pa.StringArray
    exemplar_label_values: pa.StringArray
    histograms: pa.Table  # HISTOGRAM_SCHEMA, one row per native histogram sample
    metadata: pa.Table  # METADATA_SCHEMA
    # Decoding with a ``SeriesCache`` (1.0): the series found in it, whose label rows are
    # *not* in the label columns above (``known.hit``), with their ids and check hashes; and
    # where every series' labels are in the body, to decode or remember them later.
    known: Any = None  # series_cache.SeriesLookup | None
    label_fields: Any = None  # v1.LabelFields | None

    @classmethod
    def build(
        cls,
        n_series: int,
        label_series: object,
        label_names: object,
        label_values: object,
        sample_series: object = None,
        sample_ts: object = None,
        sample_values: object = None,
        sample_start_ts: object = None,
        exemplar_series: object = None,
        exemplar_ts: object = None,
        exemplar_values: object = None,
        exemplar_label_exemplar: object = None,
        exemplar_label_names: object = (),
        exemplar_label_values: object = (),
        histograms: pa.Table | None = None,
        metadata: pa.Table | None = None,
    ) -> WriteBatch:
        """A batch from array-likes, with empty defaults (for clients, tests and tools)."""
        ts = _ints(sample_ts, np.int64)
        return cls(
            n_series=n_series,
            label_series=_ints(label_series, np.int32),
            label_names=_strings(label_names),
            label_values=_strings(label_values),
            sample_series=_ints(sample_series, np.int32),
            sample_ts=ts,
            sample_values=_ints(sample_values, np.float64),
            sample_start_ts=_ints(sample_start_ts, np.int64)
            if sample_start_ts is not None
            else np.zeros_like(ts),
            exemplar_series=_ints(exemplar_series, np.int32),
            exemplar_ts=_ints(exemplar_ts, np.int64),
            exemplar_values=_ints(exemplar_values, np.float64),
            exemplar_label_exemplar=_ints(exemplar_label_exemplar, np.int32),
            exemplar_label_names=_strings(exemplar_label_names),
            exemplar_label_values=_strings(exemplar_label_values),
            histograms=histograms if histograms is not None else EMPTY_HISTOGRAMS,
            metadata=metadata if metadata is not None else EMPTY_METADATA,
        )

    def __repr__(self) -> str:
        return (
            f"WriteBatch(n_series={self.n_series}, labels={len(self.label_names)}, "
            f"samples={self.n_samples}, exemplars={self.n_exemplars}, "
            f"histograms={self.histogram_count}, metadata={self.metadata.num_rows})"
        )

    @property
    def n_samples(self) -> int:
        return int(self.sample_ts.size)

    @property
    def n_exemplars(self) -> int:
        return int(self.exemplar_ts.size)

    @property
    def histogram_count(self) -> int:
        return int(self.histograms.num_rows)

    def series_labels(self, i: int) -> dict[str, str]:
        """The labels of series ``i`` as a dict (a convenience for tests and tools; not vectorized)."""
        lo, hi = np.searchsorted(self.label_series, [i, i + 1])
        names = self.label_names[lo:hi].to_pylist()
        values = self.label_values[lo:hi].to_pylist()
        return dict(zip(names, values, strict=True))
