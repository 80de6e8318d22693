"""Errors raised by the storage engine.

Each names what was wrong and what was kept, so the API layer can map it to Prometheus's
``bad_data`` (the writer's fault) or ``internal`` (ours) without guessing.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every engine error."""


class InvalidSeriesError(StorageError, ValueError):
    """A label set the engine refuses (duplicate label name, invalid UTF-8, ...)."""


class SeriesCollisionError(StorageError):
    """Two different label sets hashed to the same series id; the append is refused."""


class DuplicateSampleError(StorageError, ValueError):
    """A sample for an existing (series, timestamp) with a different value.

    Prometheus answers this with "duplicate sample for timestamp" and appends nothing of the
    request; so do we.
    """

    def __init__(self, count: int, series_id: int, ts: int) -> None:
        self.count = count
        self.series_id = series_id
        self.ts = ts
        super().__init__(
            f"duplicate sample for timestamp: {count} sample(s) conflict with stored values "
            f"(first: series_id={series_id} ts={ts})"
        )


class OutOfBoundsError(StorageError, ValueError):
    """A sample older than the retention window (it would be deleted at once)."""


class WALCorruptionError(StorageError):
    """A WAL segment could not be read past some offset."""


class LakeLockedError(StorageError):
    """Another process holds the lake open for writing."""
