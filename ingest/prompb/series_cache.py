"""An exact memo of series identity across requests: label bytes as the sender wrote them ->
(series id, check hash).

A sender writes the same label set the same way in every request, and turning those bytes
into a series id (UTF-8 strings, validation, canonical label bytes, two XXH64 passes) is
most of what a remote-write request costs. The id is a pure function of those bytes, so it
can be remembered: nothing about the lake goes into an entry, and collision detection against
the lake's index still runs on every commit with the very (id, check hash) the uncached path
would compute.

Exactness: a lookup hits only when the bytes are *equal* to ones remembered (compared word by
word, never trusted to a hash). Two levels keep that cheap in memory:

* **pairs**: the payload bytes of each ``Label`` message (``name``, ``value`` fields as
  written), stored once per distinct payload and numbered (a few distinct pairs serve many
  series: job, instance, metric names...);
* **series**: the sequence of pair numbers of a series' ``labels`` fields in wire order
  (4 bytes a label), with its id and check hash.

Equal payload sequences decode to equal label lists, so they have equal ids and pass or fail
validation alike; only sequences whose series validated and got ids are ever stored.
Hash values only choose which stored entry to compare with; two different byte strings with
the same hash merely make the second one miss (it then takes the uncached path).

Everything is vectorized over the labels / series of a request. The memo is bounded: past
``max_series`` remembered series (or ``max_pairs`` pairs) it starts over empty.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ._wire import Body

I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]

_U = np.uint64
_M1 = _U(0xFF51AFD7ED558CCD)
_M2 = _U(0xC4CEB9FE1A85EC53)
_LEN_MUL = _U(0x9E3779B97F4A7C15)
# Per-position multipliers of the word hash (random odd constants, fixed for reproducibility).
_TABLE = 1024
_MUL = np.random.default_rng(0x5EED).integers(0, 2**63, _TABLE, dtype=np.int64).view(np.uint64)
_MUL = _MUL * _U(2) + _U(1)
_ALL_ONES = _U(0xFFFFFFFFFFFFFFFF)


def _mix(h: U64) -> U64:
    """MurmurHash3's 64-bit finalizer (in place)."""
    h ^= h >> _U(33)
    h *= _M1
    h ^= h >> _U(33)
    h *= _M2
    h ^= h >> _U(33)
    return h


def _segment_hash(words: U64, pos_in_seg: I64, seg_first: I64, seg_len: I64, total_len: I64) -> U64:
    """A hash per segment of ``words`` (segment i = ``words[seg_first[i] : seg_first[i] + seg_len[i]]``),
    mixed with ``total_len[i]``. Only for choosing candidates: equality is checked exactly."""
    prod = words * _MUL[pos_in_seg & (_TABLE - 1)]  # positions are >= 0: same as % _TABLE
    cs = np.zeros(prod.size + 1, np.uint64)
    np.cumsum(prod, out=cs[1:])
    h = cs[seg_first + seg_len] - cs[seg_first]
    h ^= total_len.astype(np.uint64) * _LEN_MUL
    return _mix(h)


def _ranges(length: I64) -> tuple[I64, I64]:
    """(segment of each element, position within its segment) for segments of these lengths."""
    rid = np.repeat(np.arange(length.size, dtype=np.int64), length)
    k = np.arange(rid.size, dtype=np.int64) - np.repeat(np.cumsum(length) - length, length)
    return rid, k


def _back_to_back(first: I64, length: I64) -> bool:
    """Whether the segments start at 0 and each follows the previous one."""
    return bool(first[0] == 0 and np.array_equal(first[1:], first[:-1] + length[:-1]))


def _contains(sorted_keys: U64, h: U64) -> NDArray[np.bool_]:
    if not sorted_keys.size:
        return np.zeros(h.size, np.bool_)
    pos = np.minimum(np.searchsorted(sorted_keys, h), sorted_keys.size - 1)
    return sorted_keys[pos] == h


class _Arena:
    """A growable flat array (amortized growth by a quarter).

    Not doubling: on average a doubled arena is a quarter empty, and the series arena is the
    cache's largest array (~28 B a series of 7 labels); growing by a quarter keeps the slack
    at ~10% for a few more copies, which stay amortized O(1) per element.
    """

    def __init__(self, dtype: type) -> None:
        self.data: np.ndarray = np.zeros(1024, dtype)
        self.used = 0

    def append(self, values: np.ndarray) -> int:
        at = self.used
        need = at + values.size
        if need > self.data.size:
            grown = np.zeros(max(need, self.data.size + self.data.size // 4), self.data.dtype)
            grown[:at] = self.data[:at]
            self.data = grown
        self.data[at:need] = values
        self.used = need
        return at

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)


class _ExactTable:
    """Variable-length sequences of integers -> entry number, matched exactly.

    Entries are numbered in insertion order (stable); lookups search a hash-sorted view.
    ``sized=False`` when a query's ``size`` is always its ``length`` (series sequences): the
    sizes are then not stored (8 B an entry). Entry numbers are int32 in ``entry`` (the cache
    starts over long before 2**31 entries).
    """

    def __init__(self, dtype: type, sized: bool = True) -> None:
        self.arena = _Arena(dtype)
        self.sized = sized
        self.offset = np.empty(0, np.int64)  # per entry: where its elements start in the arena
        self.length = np.empty(0, np.int32)  # per entry: number of elements
        self.nbytes_of = np.empty(0, np.int64)  # per entry (if sized): the length mixed into the hash
        self.keys = np.empty(0, np.uint64)  # sorted hashes
        self.entry = np.empty(0, np.int32)  # entry of each sorted hash

    def __len__(self) -> int:
        return int(self.offset.size)

    def find(self, elems: np.ndarray, first: I64, length: I64, size: I64, h: U64) -> I64:
        """Entry equal to each query (elements ``elems[first[i] : first[i] + length[i]]`` and
        ``size[i]``), or -1."""
        out = np.full(h.size, -1, np.int64)
        if not self.keys.size or not h.size:
            return out
        # Sorted needles walk the keys in order (much faster than random ones on big tables).
        order = np.argsort(h)
        pos = np.empty(h.size, np.int64)
        pos[order] = np.searchsorted(self.keys, h[order])
        pos_c = np.minimum(pos, self.keys.size - 1)
        cand = np.where(self.keys[pos_c] == h, self.entry[pos_c], -1)
        ok = cand >= 0
        ok[ok] = self.length[cand[ok]] == length[ok]
        if self.sized:
            ok[ok] = self.nbytes_of[cand[ok]] == size[ok]
        q = np.flatnonzero(ok)
        if not q.size:
            return out
        rid, k = _ranges(length[q].astype(np.int64))
        ours = self.arena.data[self.offset[cand[q]][rid] + k]
        if q.size == h.size and ours.size == elems.size and _back_to_back(first, length):
            theirs = elems  # every query is a candidate, and they fill ``elems`` in order
        else:
            theirs = elems[first[q][rid] + k]
        neq = ours != theirs
        if not neq.any():  # the usual outcome: every candidate is equal
            out[q] = cand[q]
            return out
        differ = np.bincount(rid[neq], minlength=q.size) > 0
        out[q[~differ]] = cand[q[~differ]]
        return out

    def add(self, elems: np.ndarray, first: I64, length: I64, size: I64, h: U64) -> I64:
        """Add queries not already present (callers pass each distinct one once, with a hash
        no entry has); returns their entry numbers."""
        n0 = len(self)
        rid, k = _ranges(length.astype(np.int64))
        at = self.arena.append(elems[first[rid] + k])
        starts = at + np.cumsum(length.astype(np.int64)) - length
        self.offset = np.concatenate([self.offset, starts])
        self.length = np.concatenate([self.length, length.astype(np.int32)])
        if self.sized:
            self.nbytes_of = np.concatenate([self.nbytes_of, size])
        ids = np.arange(n0, n0 + h.size, dtype=np.int64)
        where = np.searchsorted(self.keys, h)
        self.keys = np.insert(self.keys, where, h)
        self.entry = np.insert(self.entry, where, ids)
        return ids


@dataclass(frozen=True, slots=True)
class SeriesLookup:
    """What a lookup found for the series of one request."""

    hit: NDArray[np.bool_]  # per series: its labels were seen before (not decoded this time)
    ids: I64  # per series: the series id where hit
    checks: I64  # per series: the check hash where hit


class SeriesCache:
    """Label payload bytes of a series (in wire order) -> (series id, check hash), exactly.

    Thread-safe; one per lake (``ingest.remote_write``), though entries depend on nothing
    but the bytes.
    """

    def __init__(self, max_series: int = 1 << 22, max_pairs: int = 1 << 22) -> None:
        self.max_series = max_series
        self.max_pairs = max_pairs
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pairs = _ExactTable(np.uint64)
        self._series = _ExactTable(np.uint32, sized=False)
        self._sid = np.empty(0, np.int64)
        self._chk = np.empty(0, np.int64)

    def __len__(self) -> int:
        return len(self._series)

    @property
    def nbytes(self) -> int:
        p, s = self._pairs, self._series
        arrays = (
            p.offset,
            p.length,
            p.nbytes_of,
            p.keys,
            p.entry,
            s.offset,
            s.length,
            s.nbytes_of,
            s.keys,
            s.entry,
        )
        return (
            p.arena.nbytes
            + s.arena.nbytes
            + sum(a.nbytes for a in arrays)
            + self._sid.nbytes
            + self._chk.nbytes
        )

    # --- queries from a request's bytes ----------------------------------------------------
    @staticmethod
    def _distinct_payloads(body: Body, ls: I64, le: I64) -> tuple[I64, U64, I64, I64, I64, U64]:
        """The distinct Label payloads of a request (Arrow's exact hash dedup; a request has a
        few hundred distinct ones among thousands of labels): the distinct one of each label,
        and each distinct payload as whole little-endian words (bytes past its end zeroed)."""
        k = ls.size
        off = np.empty(2 * k, np.int64)
        off[0::2] = ls
        off[1::2] = le
        # A binary array over the body alternating payloads and the gaps between them; take
        # copies out the payloads (as in _columns.strings).
        spans = pa.Array.from_buffers(
            pa.large_binary(), 2 * k - 1, [None, pa.py_buffer(off), pa.py_buffer(body.u8)]
        )
        enc = pc.dictionary_encode(pc.take(spans, pa.array(np.arange(0, 2 * k, 2, dtype=np.int64))))
        which = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        d = enc.dictionary
        offsets = np.frombuffer(d.buffers()[1], np.int64, len(d) + 1, d.offset * 8)
        data = d.buffers()[2]
        raw = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
        padded = np.zeros(raw.size + 16, np.uint8)
        padded[: raw.size] = raw
        u64 = np.ndarray((padded.size - 8,), dtype="<u8", buffer=padded, strides=(1,))
        starts = offsets[:-1]
        nbytes = np.diff(offsets)
        nwords = (nbytes + 7) >> 3
        first = np.cumsum(nwords) - nwords
        rid, kk = _ranges(nwords)
        words = u64[starts[rid] + 8 * kk]
        left = nbytes[rid] - 8 * kk  # 1..8 bytes of this word belong to the payload
        part = left < 8
        words[part] &= _ALL_ONES >> (_U(8) * (8 - left[part]).astype(np.uint64))
        h = _segment_hash(words, kk, first, nwords, nbytes)
        return which, words, first, nwords, nbytes, h

    @staticmethod
    def _sequences(pair: I64, lser: I64, n_series: int) -> tuple[NDArray[np.uint32], I64, I64, U64]:
        count = np.bincount(lser, minlength=n_series).astype(np.int64)
        first = np.cumsum(count) - count
        elems = pair.astype(np.uint32)
        k = np.arange(pair.size, dtype=np.int64) - first[lser]
        h = _segment_hash(elems.astype(np.uint64) + _U(1), k, first, count, count)
        return elems, first, count, h

    def lookup(self, body: Body, ls: I64, le: I64, lser: I64, n_series: int) -> SeriesLookup:
        """Series of a request whose labels are remembered. ``ls``/``le``: payload ranges of
        every ``labels`` field, ``lser``: their series (non-decreasing, fields in wire order)."""
        with self._lock:
            if not len(self._series) or not ls.size:
                z = np.zeros(n_series, np.int64)
                return SeriesLookup(np.zeros(n_series, np.bool_), z, z)
            which, words, first, nwords, nbytes, h = self._distinct_payloads(body, ls, le)
            pair = self._pairs.find(words, first, nwords, nbytes, h)[which]
            # A series with an unknown pair cannot hit: give its sequence any element, then
            # drop its match.
            elems, sfirst, count, sh = self._sequences(np.maximum(pair, 0), lser, n_series)
            entry = self._series.find(elems, sfirst, count, count, sh)
            entry[lser[pair < 0]] = -1
            hit = entry >= 0
            e = np.where(hit, entry, 0)
            return SeriesLookup(hit, np.where(hit, self._sid[e], 0), np.where(hit, self._chk[e], 0))

    def remember(
        self, body: Body, ls: I64, le: I64, lser: I64, n_series: int, which: I64, ids: I64, checks: I64
    ) -> None:
        """Remember series ``which`` of a request (their labels validated into ``ids``/``checks``)."""
        if not which.size:
            return
        sel = np.zeros(n_series, np.bool_)
        sel[which] = True
        rows = np.flatnonzero(sel[lser])
        ls, le = ls[rows], le[rows]
        # Renumber the chosen series 0..m-1 (lser is non-decreasing, so order is kept).
        renum = np.cumsum(sel) - 1
        lser = renum[lser[rows]]
        m = int(which.size)
        order = np.argsort(which, kind="stable")
        ids, checks = ids[order], checks[order]
        with self._lock:
            if len(self._series) + m > self.max_series or len(self._pairs) + rows.size > self.max_pairs:
                self._reset()
            if rows.size:
                dist, words, first, nwords, nbytes, h = self._distinct_payloads(body, ls, le)
                pair_d = self._pairs.find(words, first, nwords, nbytes, h)
                # Distinct payloads with a hash no entry has are added; one whose hash is taken
                # by other bytes stays unnumbered, and its series are not remembered.
                new = np.flatnonzero((pair_d < 0) & ~_contains(self._pairs.keys, h))
                _, uniq = np.unique(h[new], return_index=True)
                new = new[uniq]
                if new.size:
                    pair_d[new] = self._pairs.add(words, first[new], nwords[new], nbytes[new], h[new])
                pair = pair_d[dist]
            else:
                pair = np.zeros(0, np.int64)
            ok = np.ones(m, np.bool_)
            ok[lser[pair < 0]] = False
            elems, sfirst, count, sh = self._sequences(np.maximum(pair, 0), lser, m)
            ok &= self._series.find(elems, sfirst, count, count, sh) < 0
            ok &= ~_contains(self._series.keys, sh)
            cand = np.flatnonzero(ok)
            _, uniq = np.unique(sh[cand], return_index=True)
            cand = cand[uniq]
            if cand.size:
                self._series.add(elems, sfirst[cand], count[cand], count[cand], sh[cand])
                self._sid = np.concatenate([self._sid, ids[cand]])
                self._chk = np.concatenate([self._chk, checks[cand]])
