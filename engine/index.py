"""The series index: every series the lake knows, answering label matchers without a scan.

It holds, for each series id, a collision check hash, the newest timestamp already flushed
to Parquet, and the labels in long form (series_id, name, value) for the matchers of
``matchers.select_series``. All lookups are numpy binary searches over sorted arrays.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promlake.engine.errors import SeriesCollisionError
from promlake.engine.labels import LABEL_TABLE_SCHEMA
from promlake.engine.matchers import LabelMatcher, select_series

NO_TS = np.iinfo(np.int64).min


class SeriesIndex:
    """Sorted arrays of known series, grown by merging (never by re-sorting everything)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sids = np.empty(0, np.int64)
        self.checks = np.empty(0, np.int64)
        self.flushed_max = np.empty(0, np.int64)
        # The newest of all flushed_max: a batch entirely newer needs no per-series look.
        self._flushed_hi = NO_TS
        # Label rows in parts (one per batch of new series), each dictionary-encoded: a few
        # distinct strings are shared by many series, so this is small in memory, and regex
        # matchers run once per distinct value. Parts are merged once there are many.
        self._label_parts: list[pa.Table] = []
        self._labels: pa.Table | None = None

    def __len__(self) -> int:
        return len(self.sids)

    def positions(self, sids: np.ndarray) -> np.ndarray:
        """Index of each id in ``self.sids``, or -1 for an unknown id."""
        if len(sids) > 64:
            # Sorted needles walk the array in order: several times faster than random ones
            # once the index outgrows the CPU caches, sort included.
            order = np.argsort(sids)
            pos = np.empty(len(sids), np.int64)
            pos[order] = np.searchsorted(self.sids, sids[order])
        else:
            pos = np.searchsorted(self.sids, sids)
        pos_c = np.minimum(pos, max(len(self.sids) - 1, 0))
        found = (pos < len(self.sids)) & (self.sids[pos_c] == sids) if len(self.sids) else np.zeros(len(sids), bool)
        return np.where(found, pos, -1)

    def check(self, sids: np.ndarray, checks: np.ndarray) -> np.ndarray:
        """Refuse id collisions; return the mask of ids not yet known."""
        pos = self.positions(sids)
        new = pos < 0
        known = np.flatnonzero(~new)
        if not (self.checks[pos[known]] != checks[known]).any():
            # Every known id has its stored check hash, so the same id twice in the batch with
            # two different check hashes can only be among the new ones: look only there.
            fresh = np.flatnonzero(new)
            if fresh.size < 2:
                return new
            order = np.lexsort((checks[fresh], sids[fresh]))
            s, c = sids[fresh][order], checks[fresh][order]
            if not ((s[1:] == s[:-1]) & (c[1:] != c[:-1])).any():
                return new
        return self._check_all(sids, checks)

    def _check_all(self, sids: np.ndarray, checks: np.ndarray) -> np.ndarray:
        """``check`` over the whole batch (which error is raised first is decided here)."""
        # Within the batch: the same id with two different label sets.
        order = np.lexsort((checks, sids))
        s, c = sids[order], checks[order]
        clash = (s[1:] == s[:-1]) & (c[1:] != c[:-1])
        if clash.any():
            raise SeriesCollisionError(
                f"series id collision: two label sets hash to {int(s[1:][clash][0])}; refusing the append"
            )
        pos = self.positions(sids)
        known = pos >= 0
        if known.any() and (self.checks[pos[known]] != checks[known]).any():
            bad = sids[known][self.checks[pos[known]] != checks[known]][0]
            raise SeriesCollisionError(
                f"series id collision: a new label set hashes to the id of a stored series ({int(bad)}); refusing the append"
            )
        return ~known

    def add(self, sids: np.ndarray, checks: np.ndarray, labels: pa.Table, flushed_max: np.ndarray | None = None) -> None:
        """Add series not yet known (callers pass only new ids, each once)."""
        if len(sids) == 0:
            return
        sids, first = np.unique(sids, return_index=True)
        checks = checks[first]
        fmax = np.full(len(sids), NO_TS, np.int64) if flushed_max is None else flushed_max[first]
        with self._lock:
            if len(fmax):
                self._flushed_hi = max(self._flushed_hi, int(fmax.max()))
            at = np.searchsorted(self.sids, sids)
            self.sids = np.insert(self.sids, at, sids)
            self.checks = np.insert(self.checks, at, checks)
            self.flushed_max = np.insert(self.flushed_max, at, fmax)
            self._label_parts.append(_encode(labels))
            if len(self._label_parts) > _MAX_PARTS:
                # Tiered merging keeps the cost amortized: the newest parts first, then all.
                fresh = self._label_parts[-_MAX_PARTS:]
                self._label_parts = [*self._label_parts[:-_MAX_PARTS], _consolidate(fresh)]
                if len(self._label_parts) > _MAX_PARTS:
                    self._label_parts = [_consolidate(self._label_parts)]
            self._labels = None

    def note_flushed(self, sids: np.ndarray, max_ts: np.ndarray) -> None:
        """Record the newest flushed timestamp per series (for overlap detection)."""
        pos = self.positions(sids)
        ok = pos >= 0
        with self._lock:
            if ok.any():
                self._flushed_hi = max(self._flushed_hi, int(max_ts[ok].max()))
            np.maximum.at(self.flushed_max, pos[ok], max_ts[ok])

    def overlaps_flushed(self, sids: np.ndarray, ts: np.ndarray) -> bool:
        """True when some sample is not newer than what is already in Parquet for its series."""
        if not len(ts) or int(ts.min()) > self._flushed_hi:
            return False
        pos = self.positions(sids)
        ok = pos >= 0
        return bool((ts[ok] <= self.flushed_max[pos[ok]]).any())

    def labels(self) -> pa.Table:
        """Label rows of every series, as a (possibly chunked) dictionary-encoded table."""
        with self._lock:
            if self._labels is None:
                self._labels = pa.concat_tables(
                    [_DICT_SCHEMA.empty_table(), *self._label_parts], promote_options="default"
                )
            return self._labels

    def select(self, matchers: Sequence[LabelMatcher]) -> np.ndarray:
        """Sorted ids of the series matching every matcher."""
        return select_series(self.labels(), self.sids, matchers)

    def labels_of(self, sids: np.ndarray) -> pa.Table:
        """The label rows of the given series (long form)."""
        table = self.labels()
        mask = pc.is_in(table.column("series_id"), value_set=pa.array(np.asarray(sids, np.int64)))
        return _plain(table.filter(mask))


_MAX_PARTS = 32
_DICT_SCHEMA = pa.schema(
    [
        ("series_id", pa.int64()),
        ("name", pa.dictionary(pa.int32(), pa.string())),
        ("value", pa.dictionary(pa.int32(), pa.string())),
    ]
)


def _encode(table: pa.Table) -> pa.Table:
    t = _plain(table).combine_chunks()
    return pa.table(
        {
            "series_id": t.column("series_id"),
            "name": pc.dictionary_encode(t.column("name")),
            "value": pc.dictionary_encode(t.column("value")),
        },
        schema=_DICT_SCHEMA,
    )


def _consolidate(parts: list[pa.Table]) -> pa.Table:
    """One part with one dictionary per column (the unified dictionaries of all parts)."""
    return pa.concat_tables(parts).unify_dictionaries().combine_chunks()


def _plain(table: pa.Table) -> pa.Table:
    """The (series_id, name, value) rows with plain string columns."""
    if table.schema.equals(LABEL_TABLE_SCHEMA):
        return table
    return table.cast(LABEL_TABLE_SCHEMA)
