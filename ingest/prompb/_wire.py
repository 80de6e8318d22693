"""Protobuf wire-format primitives over numpy: the padded body, varints, field headers.

Positions are byte offsets into the body (int64). Varints are decoded from unaligned 8-byte
little-endian loads (``Body.u64``), with a fix-up for the rare 9- and 10-byte ones; field
headers take a byte-gather fast path for one-byte tags and lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._schema import WIRE_I32, WIRE_I64, WIRE_LEN
from .errors import DecodeError

I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]
Bools = NDArray[np.bool_]

_PAD = 32  # zero bytes after the body, so 8-byte loads up to 24 bytes past the end are safe
_U = np.uint64
_ONE, _SEVEN, _EIGHT = _U(1), _U(7), _U(8)
_HI = _U(0x8080808080808080)
_LO7 = _U(0x7F7F7F7F7F7F7F7F)
_C1, _C1H = _U(0x007F007F007F007F), _U(0x7F007F007F007F00)
_C2, _C2H = _U(0x00003FFF00003FFF), _U(0x3FFF00003FFF0000)
_C3, _C3H = _U(0x000000000FFFFFFF), _U(0x0FFFFFFF00000000)
# Per wire type: bytes of fixed payload, whether a varint follows the tag, whether it is invalid.
_FIXED = np.array([0, 8, 0, 0, 0, 4, 0, 0], np.int64)
_HAS_VARINT = np.array([1, 0, 1, 0, 0, 0, 0, 0], np.int64)
_BAD_WIRE = np.array([False, False, False, True, True, False, True, True])
# One-byte tags of LEN fields (field numbers 1-15): the shape of nearly every container field.
_LEN_TAG = np.zeros(256, np.bool_)
_LEN_TAG[np.arange(1, 16) << 3 | WIRE_LEN] = True
# Lengths are clamped before they are added to offsets, so a hostile 2**63 cannot overflow.
MAX_LEN = _U(1 << 40)


class Body:
    """A request body as numpy views, zero-padded so loads near the end stay in bounds."""

    __slots__ = ("n", "u8", "u64")

    def __init__(self, body: bytes | bytearray | memoryview) -> None:
        n = len(body)
        u8 = np.zeros(n + _PAD, np.uint8)
        u8[:n] = np.frombuffer(body, np.uint8)
        self.n = n
        self.u8 = u8
        # One little-endian uint64 starting at every byte offset (a 1-byte-stride view).
        self.u64: U64 = np.ndarray((n + _PAD - 8,), dtype="<u8", buffer=u8, strides=(1,))


def varint_words(w: U64) -> tuple[U64, I64, Bools]:
    """Decode the varint in the low bytes of each little-endian word.

    Returns (value, length in bytes, terminated within the 8 bytes).
    """
    t = ~w & _HI  # high bit clear = last byte of the varint
    low = t & (~t + _ONE)  # lowest such byte's bit 7 (0 when none)
    nbytes = (np.bitwise_count(low - _ONE).astype(np.int64) + 1) >> 3
    x = w & ((low << _ONE) - _ONE) & _LO7
    # Squeeze out the continuation bits: 7-bit groups -> 14 -> 28 -> 56 contiguous bits.
    x = (x & _C1) | ((x & _C1H) >> _ONE)
    x = (x & _C2) | ((x & _C2H) >> _U(2))
    x = (x & _C3) | ((x & _C3H) >> _U(4))
    return x, nbytes, t != 0


def varints_at(body: Body, pos: I64) -> tuple[U64, I64, Bools]:
    """Decode varints at byte offsets; returns (value, length, bad) where bad flags overlong ones."""
    val, nb, ok = varint_words(body.u64[pos])
    bad = np.zeros(pos.size, np.bool_)
    if not ok.all():
        i = np.flatnonzero(~ok)
        w = body.u64[pos[i] + 8]
        b8, b9 = w & _U(0xFF), (w >> _EIGHT) & _U(0xFF)
        nine = b8 < 0x80
        ten = ~nine & (b9 < 0x80)
        val[i] |= ((b8 & _U(0x7F)) << _U(56)) | (np.where(ten, b9 & _ONE, _U(0)) << _U(63))
        nb[i] = np.where(nine, 9, 10)
        # Bits past 64 in the tenth byte are dropped, as gogoproto's generated Unmarshal (what
        # Prometheus runs) and upb do; only an eleventh byte is an error.
        bad[i] = ~nine & ~ten
    return val, nb, bad


@dataclass(slots=True)
class Decoded:
    """The field starting at each given offset, as parallel arrays."""

    tag: I64  # field number << 3 | wire type
    start: I64  # payload start: after the length for LEN fields, after the tag otherwise
    end: I64
    bad: Bools  # the bytes at this offset are not a valid field inside its limit


def decode_at(body: Body, pos: I64, lim: I64) -> Decoded:
    """Decode one field header at each offset (vectorized), each bounded by its ``lim``."""
    u8 = body.u8
    t8 = u8[pos]
    v8 = u8[pos + 1]
    if (_LEN_TAG[t8] & (v8 < 0x80)).all():
        # All one-byte LEN tags with one-byte lengths (labels, samples, series): a few ops.
        start = pos + 2
        end = start + v8
        return Decoded(t8.astype(np.int64), start, end, end > lim)
    tag = t8.astype(np.int64)
    val = v8.astype(np.int64)
    wire = tag & 7
    has_varint = _HAS_VARINT[wire]
    vpos = pos + 1
    vlen = has_varint
    bad = np.zeros(pos.size, np.bool_)
    # Byte gathers cover one-byte tags and one-byte varints, by far the common case; the rest is
    # redone with full varint decoding.
    slow = (tag >= 0x80) | ((val >= 0x80) & (has_varint == 1))
    if slow.any():
        i = np.flatnonzero(slow)
        t, tlen, tbad = varints_at(body, pos[i])
        w = (t & _SEVEN).astype(np.int64)
        hv = _HAS_VARINT[w]
        v, vl, vbad = varints_at(body, pos[i] + tlen)
        tag[i] = np.minimum(t, _U(1 << 40)).astype(np.int64)
        vpos[i] = pos[i] + tlen
        val[i] = np.minimum(v, MAX_LEN).astype(np.int64)
        vlen[i] = hv * vl
        wire[i] = w
        bad[i] = tbad | (t >= _U(1 << 32)) | (vbad & (hv == 1))
    is_len = wire == WIRE_LEN
    end = vpos + _FIXED[wire] + vlen + is_len * val
    bad |= _BAD_WIRE[wire] | (tag < 8) | (end > lim)
    return Decoded(tag, vpos + is_len * vlen, end, bad)


def _explain(data: Any, pos: int, lim: int, msg: str) -> DecodeError:
    """Describe the invalid field at ``pos`` precisely (scalar code: only on the error path)."""

    def varint(p: int) -> tuple[int, int] | None:
        v = shift = 0
        for i in range(10):
            if p + i >= lim:
                return None
            b = int(data[p + i])
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v & (1 << 64) - 1, i + 1
        return -1, 10

    tag = varint(pos)
    if tag is None:
        return DecodeError(f"{msg}: truncated field tag", pos)
    if tag[0] < 0:
        return DecodeError(f"{msg}: field tag varint is too long", pos)
    fnum, wire = tag[0] >> 3, tag[0] & 7
    if fnum == 0 or fnum >= 1 << 29:
        return DecodeError(f"{msg}: invalid field number {fnum}", pos)
    what = f"{msg}: field {fnum}"
    if wire in (3, 4):
        return DecodeError(f"{what} uses the deprecated group wire type {wire}, which is not supported", pos)
    if wire > 5:
        return DecodeError(f"{what} has invalid wire type {wire}", pos)
    vpos = pos + tag[1]
    if wire in (WIRE_I64, WIRE_I32):
        size = 8 if wire == WIRE_I64 else 4
        return DecodeError(f"{what}: truncated {size}-byte value (message ends at byte {lim})", pos)
    val = varint(vpos)
    if val is None:
        return DecodeError(f"{what}: truncated varint (message ends at byte {lim})", vpos)
    if val[0] < 0:
        return DecodeError(f"{what}: varint is longer than 10 bytes", vpos)
    return DecodeError(
        f"{what}: length {val[0]} runs past the end of the enclosing message at byte {lim}", pos
    )


def raise_bad(body: Body, pos: I64, lim: I64, bad: Bools, msg: str) -> None:
    """Raise for the first flagged field (flags are only ever set on true field starts)."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _explain(body.u8, int(pos[i]), int(lim[i]), msg)


@dataclass(frozen=True, slots=True)
class Fields:
    """All fields of a set of messages, sorted by offset (so grouped by message)."""

    region: I64  # index of the enclosing message in the arrays given to ``scan``
    tag: I64  # field number << 3 | wire type
    start: I64  # payload start (for VARINT fields: the varint itself)
    end: I64


def field_offset(f: Fields, i: int) -> int:
    """Byte offset of field ``i``'s tag (recomputed from its payload: only for error messages)."""

    def vlen(v: int) -> int:
        return max(1, (v.bit_length() + 6) // 7)

    tag, start, end = int(f.tag[i]), int(f.start[i]), int(f.end[i])
    return start - vlen(tag) - (vlen(end - start) if tag & 7 == WIRE_LEN else 0)


def ranges_index(starts: I64, ends: I64) -> tuple[I64, I64]:
    """Every offset in the ranges, and the index of its range."""
    lens = ends - starts
    rid = np.repeat(np.arange(lens.size, dtype=np.int64), lens)
    shift = starts - (np.cumsum(lens) - lens)
    return np.arange(rid.size, dtype=np.int64) + shift[rid], rid


def take(d: Decoded, idx: I64) -> Decoded:
    return Decoded(d.tag[idx], d.start[idx], d.end[idx], d.bad[idx])
