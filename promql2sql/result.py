"""What a PromQL query returns: a columnar result, never a Python object per sample.

A vector or matrix result is two Arrow tables: ``series`` (one row per output series: its
index and its labels as a MAP) and ``points`` (one row per sample: series index, timestamp,
value). A scalar result has one point per step with ``series`` = 0 and no series table. The
API encodes these straight to JSON; the Python API turns them into Polars frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from .signatures import ValueType

if TYPE_CHECKING:
    from .sample_count import SampleCounts

SERIES_SCHEMA = pa.schema([("series", pa.int32()), ("labels", pa.map_(pa.string(), pa.string()))])
POINTS_SCHEMA = pa.schema([("series", pa.int32()), ("t", pa.int64()), ("v", pa.float64())])


@dataclass(frozen=True)
class QueryResult:
    """The value of a PromQL expression at one time (instant) or over steps (range).

    - ``type``: SCALAR, VECTOR (instant query of an instant vector), MATRIX (a range query, or
      an instant query of a range vector) or STRING.
    - ``series``: SERIES_SCHEMA rows for VECTOR and MATRIX; empty otherwise.
    - ``points``: POINTS_SCHEMA rows, sorted by (series, t).
    - ``string``: the value of a STRING result.
    - ``warnings`` / ``infos``: annotations, with Prometheus's exact texts (``PromQL warning: ...``).
    """

    type: ValueType
    series: pa.Table = field(default_factory=SERIES_SCHEMA.empty_table)
    points: pa.Table = field(default_factory=POINTS_SCHEMA.empty_table)
    string: str | None = None
    warnings: tuple[str, ...] = ()
    infos: tuple[str, ...] = ()
    # Sample counts of the evaluation, when the caller asked for statistics.
    samples: SampleCounts | None = None
