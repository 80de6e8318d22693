"""Vectorized protobuf wire-format scanning with numpy.

A protobuf message is a sequence of ``(tag varint, payload)`` fields. Where each field starts
is inherently sequential (it depends on every earlier length), so instead of a loop per field
this module finds the fields of *all messages of one nesting level at once*:

* **walk**: one cursor per message, all advanced together by one field per numpy round. The
  number of rounds is the number of fields in the longest message, which is small for the
  leaves of a remote-write request (labels, samples, time series).
* **pointer doubling**, for messages with many fields (the top-level request, a series with
  thousands of samples): every byte that could start a field ("candidates", at first only
  bytes equal to the one-byte tag of a known field) gets the offset where the next field would
  start; the chain from the message start is then followed with ``log2(fields)`` rounds of
  ``next = next[next]``. A chain that leaves the candidate set meets an unknown field: that
  field is decoded exactly, its tag byte joins the candidates and the chain is resumed.

Positions are byte offsets into the body (int64). Varints are decoded from unaligned 8-byte
little-endian loads (``Body.u64``), with a fix-up for the rare 9- and 10-byte ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._schema import WIRE_I32, WIRE_I64, WIRE_LEN, Lookahead, Schema, lookahead
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
_MAX_LEN = _U(1 << 40)
# A message with more fields than this left (estimated) is handed to pointer doubling.
_WALK_HORIZON = 32


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
        val[i] = np.minimum(v, _MAX_LEN).astype(np.int64)
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


def scan(body: Body, starts: I64, ends: I64, schema: Schema) -> Fields:
    """Find every field of the ``schema`` messages at ``[starts[i], ends[i])`` (disjoint, sorted)."""
    msg = schema.name
    act = np.flatnonzero(ends > starts)
    cur, lim = starts[act], ends[act]
    walked: list[tuple[I64, I64, Decoded, int]] = []
    far: list[tuple[I64, I64, I64]] = []
    step = 0
    while act.size:
        d = decode_at(body, cur, lim)
        raise_bad(body, cur, lim, d.bad, msg)
        walked.append((act, cur, d, step))
        more = np.flatnonzero(d.end < lim)
        # Messages with many fields left go to pointer doubling; checked at powers of two so a
        # long walk costs few checks.
        if more.size and step & (step - 1) == 0:
            flen = float((d.end - cur).mean())
            long = (lim[more] - d.end[more]) > _WALK_HORIZON * flen
            if long.any():
                i = more[long]
                far.append((act[i], d.end[i], lim[i]))
                more = more[~long]
        act, cur, lim = act[more], d.end[more], lim[more]
        step += 1
    empty = np.zeros(0, np.int64)
    reg = _cat([a for a, _, _, _ in walked]) if walked else empty
    parts = [
        _cat([getattr(d, name) for _, _, d, _ in walked]) if walked else empty
        for name in ("tag", "start", "end")
    ]
    if len(walked) <= 1 and not far:
        return Fields(reg, *parts)
    # Region r was active in walk steps 0..k-1 exactly, so its k-th field goes to off[r] + k,
    # and the fields found by doubling follow its walked ones in offset order.
    steps = np.repeat(np.arange(len(walked), dtype=np.int64), [a.size for a, _, _, _ in walked])
    counts = np.bincount(reg, minlength=starts.size)
    walk_counts = counts
    if far:
        freg, fcur, flim = (np.concatenate(x) for x in zip(*far, strict=True))
        order = np.argsort(fcur, kind="stable")
        lreg, lparts = _scan_long(body, freg[order], fcur[order], flim[order], schema)
        counts = counts + np.bincount(lreg, minlength=starts.size)
    off = np.cumsum(counts) - counts
    slot = off[reg] + steps
    if far:
        rank = np.arange(lreg.size, dtype=np.int64) - np.searchsorted(lreg, lreg, "left")
        slot = np.concatenate((slot, off[lreg] + walk_counts[lreg] + rank))
        reg = np.concatenate((reg, lreg))
        parts = [np.concatenate((a, b)) for a, b in zip(parts, lparts, strict=True)]
    return Fields(*(_place(a, slot) for a in (reg, *parts)))


def field_offset(f: Fields, i: int) -> int:
    """Byte offset of field ``i``'s tag (recomputed from its payload: only for error messages)."""

    def vlen(v: int) -> int:
        return max(1, (v.bit_length() + 6) // 7)

    tag, start, end = int(f.tag[i]), int(f.start[i]), int(f.end[i])
    return start - vlen(tag) - (vlen(end - start) if tag & 7 == WIRE_LEN else 0)


def _cat(arrays: list[Any]) -> Any:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _place(a: Any, slot: I64) -> Any:
    out = np.empty_like(a)
    out[slot] = a
    return out


def ranges_index(starts: I64, ends: I64) -> tuple[I64, I64]:
    """Every offset in the ranges, and the index of its range."""
    lens = ends - starts
    rid = np.repeat(np.arange(lens.size, dtype=np.int64), lens)
    shift = starts - (np.cumsum(lens) - lens)
    return np.arange(rid.size, dtype=np.int64) + shift[rid], rid


def _candidates(body: Body, cur: I64, lim: I64, hint: Bools) -> tuple[I64, I64, Bools | None]:
    """Offsets inside the ranges whose byte is hinted, with their range index (sorted), and the
    body-wide hinted mask when it was computed."""
    vals = [int(v) for v in np.flatnonzero(hint)]  # Python ints keep comparisons in uint8

    def hinted(data: NDArray[np.uint8]) -> Bools:
        if len(vals) > 6:
            return hint[data]
        mask = data == vals[0]
        for v in vals[1:]:
            mask |= data == v
        return mask

    if int((lim - cur).sum()) * 4 < body.n:
        pos, rid = ranges_index(cur, lim)
        keep = hinted(body.u8[pos])
        return pos[keep], rid[keep], None
    mask = hinted(body.u8[: body.n])
    lo, hi = int(cur[0]), int(lim[-1])
    c = np.flatnonzero(mask[lo:hi])
    c += lo
    if cur.size == 1:
        return c, np.zeros(c.size, np.int64), mask
    r = np.searchsorted(cur, c, "right") - 1
    keep = c < lim[r]
    return c[keep], r[keep], mask


def _len_fields(body: Body, pos: I64, lim: I64) -> Decoded:
    """Fields known to start with a one-byte LEN tag: only the length varint is decoded."""
    t8 = body.u8[pos]
    ln = body.u8[pos + 1].astype(np.int64)
    start = pos + 2
    end = start + ln
    bad = np.zeros(pos.size, np.bool_)
    slow = ln >= 0x80
    if slow.any():
        i = np.flatnonzero(slow)
        v, vl, vbad = varints_at(body, pos[i] + 1)
        start[i] = pos[i] + 1 + vl
        end[i] = start[i] + np.minimum(v, _MAX_LEN).astype(np.int64)
        bad[i] = vbad
    bad |= end > lim
    return Decoded(t8.astype(np.int64), start, end, bad)


def _link(cand: I64, end: I64, bad: Bools, lim: I64, cur: I64, mask: Bools | None) -> tuple[I64, I64]:
    """Successor id of every candidate (``m`` = reached its message end, ``m + 1`` = escaped),
    and the id of the candidate at each ``cur`` (``m + 1`` when it is not one)."""
    m = cand.size
    sink, esc = m, m + 1
    j = np.full(m, esc, np.int64)
    s = np.full(cur.size, esc, np.int64)
    if m:
        ok = ~bad & (end < lim)
        if mask is not None:
            # Only ends that land on a hinted byte can be candidates: search just those.
            ok &= mask[np.minimum(end, mask.size - 1)]
        i = np.flatnonzero(ok)
        jc = np.minimum(np.searchsorted(cand, end[i]), m - 1)
        j[i] = np.where(cand[jc] == end[i], jc, esc)
        sc = np.minimum(np.searchsorted(cand, cur), m - 1)
        s = np.where(cand[sc] == cur, sc, esc)
    nxt = np.empty(m + 2, np.int64)
    nxt[:m] = np.where(~bad & (end == lim), sink, j)
    nxt[m:] = (sink, esc)
    return nxt, s


def _follow(nxt: I64, starts: I64) -> I64:
    """Nodes on the chains from ``starts`` through ``nxt`` (terminals are the last two ids)."""
    m = nxt.size - 2
    jump, s = nxt, starts
    parts = [starts]
    while True:
        t = jump[s]
        t = t[t < m]
        if not t.size:
            return np.concatenate(parts)
        parts.append(t)
        s = np.concatenate((s, t))
        jump = jump[jump]


def _lookahead_ok(body: Body, c: I64, la: Lookahead) -> I64:
    """Indices of the candidates whose following bytes look like the start of their payload
    message (see ``Lookahead``). Only one-byte inner lengths are checked; others pass."""
    u8 = body.u8
    b1 = u8[c + 1]
    p = c + 2
    p += b1 >= 0x80  # a two-byte length (longer ones are rare enough to be judged by byte 2)
    key = u8[c].astype(np.intp)
    key <<= 8
    key |= u8[p]
    ok = la.first.ravel()[key]
    ok |= b1 == 0
    i = np.flatnonzero(ok)
    k = la.pick.ravel()[key[i]]
    q = p[i]
    l2 = u8[q + 1]
    ok2 = la.second.ravel()[(k << 8) | u8[q + 2]] | (k == 0) | (l2 == 0) | (l2 >= 0x80)
    return i[ok2]


def _greedy(cand: I64, crid: I64, d: Decoded, cur: I64, lim: I64, mask: Bools | None) -> I64 | None:
    """The chains' members if the candidates not covered by an earlier candidate's field form
    complete chains (start at ``cur``, link end to start, end at ``lim``); else None.

    Exact whenever it returns: a verified chain from the message start is the only one. It
    fails only when a stray candidate's field reaches across a true boundary; candidates whose
    field does not end on a hinted byte are dropped first, which makes that rare.
    """
    if not cand.size:
        return None
    end, clim = d.end, lim[crid]
    if mask is not None:
        ok = mask[np.minimum(end, mask.size - 1)] | (end == clim)
    else:
        j = np.minimum(np.searchsorted(cand, end), cand.size - 1)
        ok = (cand[j] == end) | (end == clim)
    k = np.flatnonzero(ok & ~d.bad)
    if not k.size:
        return None
    # Following the chain one field at a time would keep a candidate iff it starts at or after
    # the end of every earlier *kept* one. Approximate that fixed point with running maxima,
    # each pass counting only the ends of the previous pass's survivors (stray candidates
    # inside a true field stop covering the next true field after one pass).
    ek, ck = end[k], cand[k]
    on = np.ones(k.size, np.bool_)
    for _ in range(4):
        reach = np.maximum.accumulate(np.where(on, ek, 0))
        nxt = np.ones(k.size, np.bool_)
        nxt[1:] = ck[1:] >= reach[:-1]
        if (nxt == on).all():
            break
        on = nxt
    k = k[on]
    r = crid[k]
    brk = np.flatnonzero(r[1:] != r[:-1])
    first = np.concatenate(([0], brk + 1))
    last = np.concatenate((brk, [k.size - 1]))
    if first.size != cur.size or not (r[first] == np.arange(cur.size)).all():
        return None
    link = end[k[:-1]] == cand[k[1:]]
    link[brk] = True
    if link.all() and (cand[k[first]] == cur).all() and (end[k[last]] == lim).all():
        return k
    return None


def _scan_long(body: Body, reg: I64, cur: I64, lim: I64, schema: Schema) -> tuple[I64, list[Any]]:
    """Fields of messages with many fields, by pointer doubling over candidate bytes."""
    msg = schema.name
    hint = np.zeros(256, np.bool_)
    hint[list(schema.hints)] = True
    la: Lookahead | None = lookahead(schema)
    out: list[tuple[I64, I64, Decoded]] = []
    while reg.size:
        cand, crid, mask = _candidates(body, cur, lim, hint)
        if la is not None:
            keep = _lookahead_ok(body, cand, la)
            cand, crid = cand[keep], crid[keep]
        clim = lim[crid]
        hv = np.flatnonzero(hint)
        len_only = ((hv & 7) == WIRE_LEN).all() and (hv < 0x80).all()
        d = _len_fields(body, cand, clim) if len_only else decode_at(body, cand, clim)
        members = _greedy(cand, crid, d, cur, lim, mask)
        if members is not None:
            out.append((reg[crid[members]], cand[members], _take(d, members)))
            break
        nxt, s = _link(cand, d.end, d.bad, clim, cur, mask)
        members = np.sort(_follow(nxt, s[s < cand.size]))
        mpos, mrid = cand[members], crid[members]
        md = _take(d, members)
        out.append((reg[mrid], mpos, md))
        # Where each chain stopped: the end of its last member, or its start if it had none.
        esc_pos = cur.copy()
        if members.size:
            last = np.append(mrid[1:] != mrid[:-1], True)
            lrid = mrid[last]
            raise_bad(body, mpos[last], lim[lrid], md.bad[last], msg)
            esc_pos[lrid] = md.end[last]
        pend = esc_pos < lim
        if not pend.any():
            break
        # The chain met a field that is not a candidate (an unknown field, or one the lookahead
        # filter rejected): decode it exactly, hint its first byte, drop the filter, and resume.
        la = None
        reg, cur, lim = reg[pend], esc_pos[pend], lim[pend]
        e = decode_at(body, cur, lim)
        raise_bad(body, cur, lim, e.bad, msg)
        out.append((reg, cur, e))
        hint[body.u8[cur]] = True
        more = e.end < lim
        reg, cur, lim = reg[more], e.end[more], lim[more]
    regs = np.concatenate([r for r, _, _ in out])
    if len(out) == 1:
        d = out[0][2]
        return regs, [d.tag, d.start, d.end]
    o = np.argsort(np.concatenate([p for _, p, _ in out]), kind="stable")
    return regs[o], [
        np.concatenate([getattr(d, name) for _, _, d in out])[o] for name in ("tag", "start", "end")
    ]


def _take(d: Decoded, idx: I64) -> Decoded:
    return Decoded(d.tag[idx], d.start[idx], d.end[idx], d.bad[idx])
