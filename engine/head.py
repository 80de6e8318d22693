"""The head: samples appended since the last flush, held in memory as columnar chunks.

A ``HeadGeneration`` is everything appended between two flushes. A flush freezes the active
generation (it stays queryable while it is written to Parquet) and starts a new one, whose
WAL segments begin after the frozen one's, so the WAL can be truncated per generation.

Duplicate detection follows Prometheus's head: a sample for a (series, timestamp) the head
already holds is dropped silently if its value is bit-identical, and refused (the whole
commit) if it differs. Samples that overlap data already flushed to Parquet are accepted and
resolved at compaction and query time: the newest write wins.

Start timestamps (``st``) ride along with their samples but take no part in duplicate
detection, as in Prometheus: a re-sent sample with the same value is dropped whatever its
``st``, so the head keeps the first one written.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from promlake.engine import start_ts
from promlake.engine.blocks import EXEMPLARS_SCHEMA, SAMPLES_SCHEMA, stale_mask
from promlake.engine.errors import DuplicateSampleError
from promlake.engine.histograms import HeadHistograms

NO_TS = np.iinfo(np.int64).min
_SAMPLES_WITHOUT_ST = pa.schema([f for f in SAMPLES_SCHEMA if f.name != start_ts.COLUMN])
# Above this many chunks, they are merged into one so the per-chunk overhead stays bounded.
_MAX_CHUNKS = 64


@dataclass(frozen=True)
class SampleChunk:
    ref: np.ndarray  # int32: index into the generation's series
    ts: np.ndarray  # int64 ms
    value: np.ndarray  # float64
    st: start_ts.StartTimes = None  # int64 ms, 0 = unknown; None: no sample here has one


@dataclass(frozen=True)
class PreparedSamples:
    """A batch that ``prepare`` accepted: sorted by (series id, ts), duplicates removed."""

    sids: np.ndarray
    ts: np.ndarray
    values: np.ndarray
    st: start_ts.StartTimes = None


class HeadGeneration:
    """Samples of one generation, addressed by a dense per-generation series ref."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.lock = threading.Lock()
        self.sids = np.empty(0, np.int64)  # ref -> series id
        self._sorted = np.empty(0, np.int64)  # sorted ids
        self._sorted_ref = np.empty(0, np.int32)  # ref of each sorted id
        self.last_ts = np.empty(0, np.int64)
        self.last_bits = np.empty(0, np.uint64)
        self.chunks: list[SampleChunk] = []
        self.exemplars: list[pa.Table] = []
        self.histograms = HeadHistograms.empty()  # native histogram samples, kept apart
        self.n_samples = 0
        self.mint = np.iinfo(np.int64).max
        self.maxt = NO_TS
        # Some sample is not newer than data already in Parquet: readers must deduplicate.
        self.overlaps = False
        self._table: pa.Table | None = None

    # --- series refs -------------------------------------------------------------------
    def refs(self, sids: np.ndarray) -> np.ndarray:
        """The ref of each id, registering ids new to this generation."""
        pos = np.searchsorted(self._sorted, sids)
        pos_c = np.minimum(pos, max(len(self._sorted) - 1, 0))
        found = (
            (pos < len(self._sorted)) & (self._sorted[pos_c] == sids)
            if len(self._sorted)
            else np.zeros(len(sids), bool)
        )
        if not found.all():
            new = np.unique(sids[~found])
            base = len(self.sids)
            self.sids = np.concatenate([self.sids, new])
            self.last_ts = np.concatenate([self.last_ts, np.full(len(new), NO_TS)])
            self.last_bits = np.concatenate([self.last_bits, np.zeros(len(new), np.uint64)])
            at = np.searchsorted(self._sorted, new)
            self._sorted = np.insert(self._sorted, at, new)
            self._sorted_ref = np.insert(
                self._sorted_ref, at, np.arange(base, base + len(new), dtype=np.int32)
            )
            pos = np.searchsorted(self._sorted, sids)
        return self._sorted_ref[pos]

    # --- appending ---------------------------------------------------------------------
    def prepare(
        self, sids: np.ndarray, ts: np.ndarray, values: np.ndarray, st: start_ts.StartTimes = None
    ) -> PreparedSamples:
        """Validate a batch against the head; return the samples to append.

        Sorts by (series, ts), drops bit-identical duplicates and raises DuplicateSampleError
        on a conflicting value, without changing anything.
        """
        bits = values.view(np.uint64)
        # lexsort is stable: of duplicates within the batch, the first written stays first.
        order = np.lexsort((ts, sids))
        sids, ts, values, bits = sids[order], ts[order], values[order], bits[order]
        st = start_ts.take(st, order)
        keep = np.ones(len(sids), bool)
        if len(sids) > 1:
            same = (sids[1:] == sids[:-1]) & (ts[1:] == ts[:-1])
            if same.any():
                if (bits[1:][same] != bits[:-1][same]).any():
                    i = int(np.flatnonzero(same & (bits[1:] != bits[:-1]))[0]) + 1
                    raise DuplicateSampleError(int(same.sum()), int(sids[i]), int(ts[i]))
                keep[1:][same] = False
        sids, ts, values, bits = sids[keep], ts[keep], values[keep], bits[keep]
        st = start_ts.take(st, keep)
        drop = self._conflicts(sids, ts, bits)
        if drop is not None:
            sids, ts, values, st = sids[~drop], ts[~drop], values[~drop], start_ts.take(st, ~drop)
        return PreparedSamples(sids, ts, values, st)

    def _conflicts(self, sids: np.ndarray, ts: np.ndarray, bits: np.ndarray) -> np.ndarray | None:
        """Mask of samples already in the head (identical); raise on a different value."""
        pos = np.searchsorted(self._sorted, sids)
        pos_c = np.minimum(pos, max(len(self._sorted) - 1, 0))
        if not len(self._sorted):
            return None
        known = (pos < len(self._sorted)) & (self._sorted[pos_c] == sids)
        ref = self._sorted_ref[pos_c]
        last = np.where(known, self.last_ts[ref], NO_TS)
        older = known & (ts <= last)
        if not older.any():
            return None  # the common case: every series moves forward in time
        # Equal to the newest sample: compare with the remembered value (Prometheus's check).
        eq_last = older & (ts == last)
        diff = eq_last & (bits != self.last_bits[ref])
        if diff.any():
            i = int(np.flatnonzero(diff)[0])
            raise DuplicateSampleError(int(diff.sum()), int(sids[i]), int(ts[i]))
        drop = eq_last.copy()
        # Truly out of order: look the (series, ts) pairs up in the head's samples.
        ooo = older & ~eq_last
        if ooo.any():
            hit, hit_bits = self._lookup(ref[ooo], ts[ooo])
            bad = hit & (hit_bits != bits[ooo])
            if bad.any():
                i = int(np.flatnonzero(ooo)[np.flatnonzero(bad)[0]])
                raise DuplicateSampleError(int(bad.sum()), int(sids[i]), int(ts[i]))
            drop[np.flatnonzero(ooo)[hit]] = True
        return drop

    def floats_at(self, sids: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Which (series, ts) pairs hold a float sample here (a histogram there would conflict)."""
        out = np.zeros(len(sids), bool)
        if not self.n_samples or not len(sids):
            return out
        pos = np.searchsorted(self._sorted, sids)
        pos_c = np.minimum(pos, len(self._sorted) - 1)
        known = (pos < len(self._sorted)) & (self._sorted[pos_c] == sids)
        # Only a time not after the series' newest float can hold one (as in _conflicts).
        known &= ts <= np.where(known, self.last_ts[self._sorted_ref[pos_c]], NO_TS)
        if known.any():
            hit, _ = self._lookup(self._sorted_ref[pos_c[known]], ts[known])
            out[np.flatnonzero(known)[hit]] = True
        return out

    def _lookup(self, ref: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each (ref, ts): is it in the head, and with which value bits (a hash join)."""
        chunk = self._merged()
        held = pl.DataFrame({"ref": chunk.ref, "ts": chunk.ts, "bits": chunk.value.view(np.uint64)})
        asked = pl.DataFrame({"ref": ref, "ts": ts, "i": np.arange(len(ref))})
        hits = asked.join(held, on=["ref", "ts"], how="inner")
        found = np.zeros(len(ref), bool)
        out_bits = np.zeros(len(ref), np.uint64)
        idx = hits["i"].to_numpy()
        found[idx] = True
        out_bits[idx] = hits["bits"].to_numpy()
        return found, out_bits

    def append(self, samples: PreparedSamples) -> None:
        """Append samples already validated by ``prepare`` (sorted by series, then ts)."""
        sids, ts, values = samples.sids, samples.ts, samples.values
        if not len(sids):
            return
        ref = self.refs(sids)
        # Newest sample per ref: the last of each run, since the batch is sorted by (sid, ts).
        last_of_run = np.r_[ref[1:] != ref[:-1], True]
        r, t, b = ref[last_of_run], ts[last_of_run], values[last_of_run].view(np.uint64)
        newer = t >= self.last_ts[r]
        self.last_ts[r[newer]] = t[newer]
        self.last_bits[r[newer]] = b[newer]
        self.chunks.append(SampleChunk(ref, ts, values, samples.st))
        self.n_samples += len(ts)
        self.mint = min(self.mint, int(ts.min()))
        self.maxt = max(self.maxt, int(ts.max()))
        self._table = None
        if len(self.chunks) > _MAX_CHUNKS:
            self.chunks = [self._merged()]

    def append_exemplars(self, table: pa.Table) -> None:
        self.exemplars.append(table)

    # --- reading -----------------------------------------------------------------------
    def _merged(self) -> SampleChunk:
        if not self.chunks:
            return SampleChunk(np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0))
        if len(self.chunks) == 1:
            return self.chunks[0]
        return SampleChunk(
            np.concatenate([c.ref for c in self.chunks]),
            np.concatenate([c.ts for c in self.chunks]),
            np.concatenate([c.value for c in self.chunks]),
            start_ts.concat([c.st for c in self.chunks], [len(c.ts) for c in self.chunks]),
        )

    def table(self) -> pa.Table:
        """All samples as SAMPLES_SCHEMA rows; cached until the next append.

        The ``st`` column is left out while no sample of the generation has a start timestamp:
        an all-null int64 column would still cost 8 bytes a sample here, and readers (the
        catalog, the flush) supply the nulls themselves.
        """
        t = self._table
        if t is None:
            c = self._merged()
            columns = {
                "series_id": self.sids[c.ref],
                "ts": c.ts,
                "value": c.value,
                "stale": stale_mask(c.value),
            }
            if c.st is None:
                t = pa.table(columns, schema=_SAMPLES_WITHOUT_ST)
            else:
                t = pa.table(
                    {**columns, start_ts.COLUMN: start_ts.to_arrow(c.st, len(c.ts))}, schema=SAMPLES_SCHEMA
                )
            self._table = t
        return t

    def exemplar_table(self) -> pa.Table:
        return pa.concat_tables([EXEMPLARS_SCHEMA.empty_table(), *self.exemplars])

    def memory_bytes(self) -> int:
        arrays = (self.sids, self._sorted, self._sorted_ref, self.last_ts, self.last_bits)
        return self.histograms.memory_bytes() + sum(a.nbytes for a in arrays) + sum(
            c.ref.nbytes + c.ts.nbytes + c.value.nbytes + start_ts.nbytes(c.st) for c in self.chunks
        )
