"""Vectorized protobuf encoding: messages are built bottom-up as columns of byte strings.

A ``Bin`` holds one byte string per row (Arrow-style: one data buffer plus offsets). A message
column is the row-wise concatenation of its fields' columns; a repeated sub-message is the
child column with each row prefixed by tag and length, regrouped by parent (only new offsets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ._schema import WIRE_I64, WIRE_LEN, WIRE_VARINT

U8 = NDArray[np.uint8]
I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class Bin:
    """Row i is ``data[off[i]:off[i + 1]]``."""

    data: U8
    off: I64

    @property
    def n(self) -> int:
        return self.off.size - 1

    @property
    def lengths(self) -> I64:
        return np.diff(self.off)

    def tobytes(self) -> bytes:
        return self.data[self.off[0] : self.off[-1]].tobytes()


def empty(n: int) -> Bin:
    return Bin(np.zeros(0, np.uint8), np.zeros(n + 1, np.int64))


def _from_lengths(data: U8, lengths: I64) -> Bin:
    off = np.zeros(lengths.size + 1, np.int64)
    np.cumsum(lengths, out=off[1:])
    return Bin(data, off)


def varints(values: U64) -> Bin:
    """Each value as a protobuf varint."""
    v = values.astype(np.uint64, copy=False)
    nbytes = np.ones(v.size, np.int64)
    for k in range(1, 10):
        nbytes += v >= np.uint64(1 << (7 * k))
    shifts = np.arange(0, 70, 7, dtype=np.uint64)
    groups = ((v[:, None] >> shifts[None, :]) & np.uint64(0x7F)).astype(np.uint8)
    cols = np.arange(10)[None, :]
    groups |= np.where(cols < (nbytes - 1)[:, None], np.uint8(0x80), np.uint8(0))
    return _from_lengths(groups[cols < nbytes[:, None]], nbytes)


def fixed64(bits: U64) -> Bin:
    data = np.ascontiguousarray(bits, dtype="<u8").view(np.uint8)
    return Bin(data, np.arange(0, 8 * bits.size + 1, 8, dtype=np.int64))


def const(b: bytes, n: int) -> Bin:
    data = np.tile(np.frombuffer(b, np.uint8), n)
    return Bin(data, np.arange(0, len(b) * n + 1, len(b), dtype=np.int64))


def from_strings(arr: pa.Array) -> Bin:
    """The UTF-8 bytes of a string/binary array (nulls as empty), without copying."""
    arr = arr.cast(pa.large_binary())
    if arr.null_count:
        arr = arr.fill_null(b"")
    _, offsets, data = arr.buffers()
    off = np.frombuffer(offsets, np.int64)[arr.offset : arr.offset + len(arr) + 1]
    raw = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return Bin(raw, off.astype(np.int64))


def concat_rows(parts: list[Bin]) -> Bin:
    """Row-wise concatenation: row i is parts[0][i] + parts[1][i] + ..."""
    n = parts[0].n
    lens = [p.lengths for p in parts]
    out = _from_lengths(np.empty(int(sum(int(x.sum()) for x in lens)), np.uint8), np.sum(lens, axis=0))
    dst = out.off[:-1].copy()
    for p, ln in zip(parts, lens, strict=True):
        total = int(ln.sum())
        if total:
            # Destination of every byte: its offset within its row plus the row's slot.
            shift = np.repeat(dst - p.off[:-1], ln)
            src = np.repeat(p.off[:-1], ln) + (np.arange(total) - np.repeat(np.cumsum(ln) - ln, ln))
            out.data[src + shift] = p.data[src]
        dst += ln
    assert out.n == n
    return out


def expand(sub: Bin, rows: I64, n: int) -> Bin:
    """A column of n rows holding ``sub``'s rows at ``rows`` (increasing) and empty elsewhere."""
    lengths = np.zeros(n, np.int64)
    lengths[rows] = sub.lengths
    off = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=off[1:])
    return Bin(sub.data, off + sub.off[0])


def group(children: Bin, parent: I64, n: int) -> Bin:
    """Concatenate child rows per parent (children sorted by parent): only offsets change."""
    counts = np.bincount(parent, minlength=n) if parent.size else np.zeros(n, np.int64)
    ends = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=ends[1:])
    return Bin(children.data, children.off[ends])


def _tag(number: int, wire: int) -> bytes:
    return varints(np.array([number << 3 | wire], np.uint64)).tobytes()


class Message:
    """Builds a column of n messages field by field (call in field-number order)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.parts: list[Bin] = []

    def _add(self, number: int, wire: int, payload: Bin, rows: I64 | None) -> None:
        k = payload.n
        pieces = [const(_tag(number, wire), k)]
        if wire == WIRE_LEN:
            pieces.append(varints(payload.lengths.astype(np.uint64)))
        pieces.append(payload)
        field = concat_rows(pieces)
        self.parts.append(field if rows is None else expand(field, rows, self.n))

    def varint(self, number: int, values: U64, rows: I64 | None = None) -> None:
        """A singular integer field given for all n rows, written for ``rows`` (default: the
        non-zero ones, as proto3 omits defaults; oneof members pass their rows explicitly)."""
        v = values.astype(np.uint64, copy=False)
        if rows is None:
            rows = np.flatnonzero(v)
        self._add(number, WIRE_VARINT, varints(v[rows]), rows)

    def sint(self, number: int, values: I64) -> None:
        v = values.astype(np.int64)
        self.varint(number, ((v << 1) ^ (v >> 63)).view(np.uint64))

    def double(self, number: int, values: NDArray[np.float64], rows: I64 | None = None) -> None:
        """A singular double; by default omitted when its bits are zero, so -0.0 and every NaN
        (stale markers included) are kept bit for bit."""
        bits = np.ascontiguousarray(values, np.float64).view(np.uint64)
        if rows is None:
            rows = np.flatnonzero(bits)
        self._add(number, WIRE_I64, fixed64(bits[rows]), rows)

    def bytes(self, number: int, payload: Bin, rows: I64 | None = None) -> None:
        """A singular string/bytes/message field given for all n rows; written for ``rows``
        (default: the non-empty ones, as proto3 omits empty strings)."""
        if rows is None:
            rows = np.flatnonzero(payload.lengths)
        self._add(number, WIRE_LEN, _compact(payload, rows), rows)

    def repeated(self, number: int, children: Bin, parent: I64) -> None:
        """A repeated message field: one field per child, children sorted by parent."""
        k = children.n
        field = concat_rows(
            [const(_tag(number, WIRE_LEN), k), varints(children.lengths.astype(np.uint64)), children]
        )
        self.parts.append(group(field, parent, self.n))

    def packed(self, number: int, values: Bin, parent: I64) -> None:
        """A packed repeated scalar: the encoded values of each parent in one LEN field."""
        per = group(values, parent, self.n)
        rows = np.flatnonzero(per.lengths)
        self._add(number, WIRE_LEN, _compact(per, rows), rows)

    def build(self) -> Bin:
        return concat_rows(self.parts) if self.parts else empty(self.n)


def _compact(b: Bin, rows: I64) -> Bin:
    """The given rows of ``b`` as a new contiguous column."""
    ln = b.lengths[rows]
    total = int(ln.sum())
    src = np.repeat(b.off[:-1][rows], ln) + (np.arange(total) - np.repeat(np.cumsum(ln) - ln, ln))
    return _from_lengths(b.data[src], ln)
