"""Start timestamps (``st``): when a sample's counter started counting, or its delta interval began.

Prometheus calls this the *created* or *start* timestamp. Most samples have none, so the engine
keeps them cheap when absent:

- writers hand an int64 array in ms where ``0`` means unknown (Prometheus's own convention, used
  by its appenders and by remote write 2.0), or no array at all;
- in memory (head chunks, appender batches) a column is either ``None`` (no sample of it has a
  start timestamp: no bytes spent) or an int64 array with ``0`` for unknown;
- in Arrow, the WAL and Parquet it is a nullable int64 column ``st`` where null means unknown.

An ``st`` equal to the Unix epoch itself cannot be told from unknown; Prometheus has the same
limit. The engine stores ``st`` and never interprets it: ``st > ts`` is kept as written, since
deciding what such a sample means is the query side's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promlake.engine.errors import InvalidSeriesError

UNKNOWN = 0  # in writers' arrays: no start timestamp for this sample
COLUMN = "st"
ARROW_TYPE = pa.int64()

StartTimes: TypeAlias = np.ndarray | None  # int64 ms, UNKNOWN where absent; None when all are absent


def from_writer(st: object, n: int) -> StartTimes:
    """A writer's start timestamps for ``n`` samples, validated; None if none is known."""
    if st is None:
        return None
    arr = np.asarray(st)
    if arr.shape != (n,):
        raise InvalidSeriesError("start timestamps and samples have different lengths")
    if arr.dtype.kind not in "iu":
        raise InvalidSeriesError(f"start timestamps must be integer milliseconds, not {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    return arr if (arr != UNKNOWN).any() else None


def take(st: StartTimes, selector: np.ndarray) -> StartTimes:
    """``st[selector]`` (an index array or a boolean mask), keeping None as None."""
    return None if st is None else st[selector]


def concat(parts: Sequence[StartTimes], lengths: Sequence[int]) -> StartTimes:
    """Concatenate columns of the given lengths; None parts count as all unknown."""
    if all(p is None for p in parts):
        return None
    return np.concatenate(
        [p if p is not None else np.full(n, UNKNOWN, np.int64) for p, n in zip(parts, lengths, strict=True)]
    )


def to_arrow(st: StartTimes, n: int) -> pa.Array:
    """The stored form: nullable int64, null where unknown."""
    if st is None:
        return pa.nulls(n, ARROW_TYPE)
    return pa.array(st, ARROW_TYPE, mask=st == UNKNOWN)


def from_arrow(table: pa.Table | pa.RecordBatch) -> StartTimes:
    """The in-memory form of a table's ``st`` column; a table without one has none known."""
    if COLUMN not in table.column_names:
        return None
    col = table.column(COLUMN)
    if col.null_count == len(col):
        return None
    return np.asarray(pc.fill_null(col, UNKNOWN).to_numpy(), np.int64)


def nbytes(st: StartTimes) -> int:
    return 0 if st is None else st.nbytes
