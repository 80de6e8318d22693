"""Finding the fields of all messages of one nesting level at once.

A protobuf message is a sequence of ``(tag varint, payload)`` fields. Where each field starts
is inherently sequential (it depends on every earlier length), so instead of a loop per field:

* **walk**: one cursor per message, all advanced together by one field per numpy round. The
  number of rounds is the number of fields in the longest message, which is small for the
  leaves of a remote-write request (labels, samples, time series).
* **candidates**, for messages with many fields (the top-level request, a series with
  thousands of samples): bytes equal to the one-byte tag of a known field, filtered by
  ``Lookahead`` (the payload must start like the field's message type). The survivors not
  covered by an earlier one's field are, after verification, the fields themselves. If that
  fails (a stray candidate reaching across a true boundary), every candidate gets the offset
  of the next field and the chain from the message start is followed by pointer doubling,
  ``log2(fields)`` rounds of ``next = next[next]``. A chain that stops at a byte that is not a
  candidate meets an unknown field: it is decoded exactly, its tag byte joins the candidates
  and the chain resumes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._schema import WIRE_LEN, Lookahead, Schema, lookahead
from ._wire import (
    _LEN_TAG,
    I64,
    MAX_LEN,
    Body,
    Bools,
    Decoded,
    Fields,
    decode_at,
    raise_bad,
    ranges_index,
    take,
    varints_at,
)

# A message with more fields than this left (estimated) is handed to pointer doubling.
_WALK_HORIZON = 32
# Unknown fields with new tag bytes each cost a round of candidate growth; after this many
# rounds every byte is a candidate, in windows of this many bytes per round (all messages
# together), so even a hostile body costs linear time and bounded memory.
_GROWTH_ROUNDS = 4
_WINDOW_BYTES = 1 << 20


def scan(body: Body, starts: I64, ends: I64, schema: Schema) -> Fields:
    """Find every field of the ``schema`` messages at ``[starts[i], ends[i])`` (disjoint, sorted)."""
    msg = schema.name
    act = np.flatnonzero(ends > starts)
    cur, lim = starts[act], ends[act]
    total = int((lim - cur).sum())
    if act.size and total * 4 >= body.n and total >= act.size * 4096 and _typical(schema) is not None:
        # A few long messages making most of the body (a request): no walk step first.
        typical = _scan_typical(body, act, cur, lim, schema)
        if typical is not None:
            return Fields(typical[0], *typical[1])
    u8 = body.u8
    walked: list[tuple[I64, Any, I64, I64]] = []  # per step: regions, tags, starts, ends
    far: list[tuple[I64, I64, I64]] = []
    step = 0
    while act.size:
        t8 = u8[cur]
        v8 = u8[cur + 1]
        if (_LEN_TAG[t8] & (v8 < 0x80)).all():
            # All one-byte LEN tags with one-byte lengths (labels, samples): a few operations.
            tag: Any = t8
            start = cur + 2
            end = start + v8
            if (end > lim).any():
                raise_bad(body, cur, lim, end > lim, msg)
        else:
            d = decode_at(body, cur, lim)
            raise_bad(body, cur, lim, d.bad, msg)
            tag, start, end = d.tag, d.start, d.end
        walked.append((act, tag, start, end))
        rem = lim - end  # >= 0: fields past their message end were raised above
        more = np.flatnonzero(rem)
        # Messages with many fields left go to pointer doubling; checked at powers of two so a
        # long walk costs few checks.
        if more.size and step & (step - 1) == 0:
            flen = float((end - cur).mean())
            long = rem[more] > _WALK_HORIZON * flen
            if long.any():
                i = more[long]
                far.append((act[i], end[i], lim[i]))
                more = more[~long]
        act, cur, lim = act[more], end[more], lim[more]
        step += 1
    if not walked:
        empty = np.zeros(0, np.int64)
        return Fields(empty, empty, empty, empty)
    reg, tags, begins, ends_ = (_cat([w[k] for w in walked]) for k in range(4))
    parts = [tags.astype(np.int64, copy=False), begins, ends_]
    if len(walked) <= 1 and not far:
        return Fields(reg, *parts)
    # Region r was active in walk steps 0..k-1 exactly, so its k-th field goes to off[r] + k,
    # and the fields found by doubling follow its walked ones in offset order.
    steps = np.repeat(np.arange(len(walked), dtype=np.int64), [w[0].size for w in walked])
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
        parts = [np.concatenate((a, b)) for a, b in zip(parts, lparts, strict=True)]
    # Fields sorted by offset are grouped by region, in region order.
    region = np.repeat(np.arange(starts.size, dtype=np.int64), counts)
    return Fields(region, *(_place(a, slot) for a in parts))


def _cat(arrays: list[Any]) -> Any:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _place(a: Any, slot: I64) -> Any:
    out = np.empty_like(a)
    out[slot] = a
    return out


def _candidates(body: Body, cur: I64, lim: I64, hint: Bools) -> tuple[I64, I64, Bools | None]:
    """Offsets inside the ranges whose byte is hinted, with their range index (sorted), and the
    body-wide hinted mask when it was computed."""
    if hint.all():
        pos, rid = ranges_index(cur, lim)
        return pos, rid, None
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


# Whole-body byte matching runs over blocks of this many bytes: its temporaries stay small
# (cache-resident, and below glibc's 128 KiB mmap threshold: a bigger temporary is mapped
# afresh and page-faulted on every request, which costs more than the comparisons).
_BLOCK = (1 << 17) - 64


@cache
def _typical(schema: Schema) -> tuple[int, int, tuple[int, ...]] | None:
    """(t, y, zs) when the schema's first field is a container of containers (a request's
    ``TimeSeries``, whose first field is ``labels``): a field of it in the usual layout is the
    byte ``t``, a one- or two-byte length, ``y``, a one- or two-byte length, one of ``zs``."""
    f = min(schema.fields, key=lambda x: x.number)
    g = min(f.message.fields, key=lambda x: x.number) if f.message is not None else None
    if f.wire != WIRE_LEN or f.tag >= 0x80 or g is None or g.message is None:
        return None
    if g.wire != WIRE_LEN or g.tag >= 0x80 or not g.message.hints:
        return None
    return f.tag, g.tag, g.message.hints


def _typical_starts(body: Body, lo: int, hi: int, t: int, y: int, zs: tuple[int, ...]) -> I64:
    """Offsets in ``[lo, hi)`` that start a field in the ``_typical`` layout, block by block."""
    u8 = body.u8
    out = []
    for s in range(lo, hi, _BLOCK):
        m = min(_BLOCK, hi - s)
        w = u8[s : s + m + 8]  # the body is padded: reading 8 bytes past its end is safe
        eq: dict[int, Bools] = {}
        for v in (t, y, *zs):
            if v not in eq:
                eq[v] = w == v
        z = eq[zs[0]]
        for v in zs[1:]:
            z = z | eq[v]
        f = z[2 : m + 5] | z[3 : m + 6]  # at q: a grandchild tag after a 1- or 2-byte length
        f &= eq[y][: m + 3]
        p = f[2 : m + 2] | f[3 : m + 3]
        p &= eq[t][:m]
        c = np.flatnonzero(p)
        if c.size:
            out.append(c + s)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _scan_typical(body: Body, reg: I64, cur: I64, lim: I64, schema: Schema) -> tuple[I64, list[Any]] | None:
    """The fields of long messages whose fields are all in the ``_typical`` layout (a request
    of time series, nothing else): candidates from a few byte comparisons per block, kept if
    they verify as complete chains (``_greedy``, exact when it succeeds); else None."""
    typ = _typical(schema)
    if typ is None:
        return None
    t, y, zs = typ
    # The first field must be in that layout (with a true one- or two-byte length), or the
    # pass would be wasted: a request of one huge series, metadata only, another encoder.
    h = body.u8[int(cur[0]) : int(cur[0]) + 7].tolist()
    q = 2 if h[1] < 0x80 else 3 if h[2] < 0x80 else 0
    if not (q and h[0] == t and h[q] == y and {h[q + 2], h[q + 3]} & set(zs)):
        return None
    c = _typical_starts(body, int(cur[0]), int(lim[-1]), *typ)
    if cur.size > 1:
        r = np.searchsorted(cur, c, "right") - 1
        keep = (r >= 0) & (c < lim[np.maximum(r, 0)])
        c, r = c[keep], r[keep]
    else:
        c = c[c >= cur[0]]
        r = np.zeros(c.size, np.int64)
    d = _len_fields(body, c, lim[r])
    # No stray candidates at all (the usual case): one comparison verifies the chain.
    one = cur.size == 1 and c.size and c[0] == cur[0] and d.end[-1] == lim[0]
    if one and not d.bad.any() and (d.end[:-1] == c[1:]).all():
        return np.zeros(c.size, np.int64) + reg[0], [d.tag, d.start, d.end]
    members = _greedy(c, r, d, cur, lim, None)
    if members is None:
        return None
    d = take(d, members)
    return reg[r[members]], [d.tag, d.start, d.end]


def _len_fields(body: Body, pos: I64, lim: I64) -> Decoded:
    """Fields known to start with a one-byte LEN tag: only the length varint is decoded (one-
    and two-byte lengths from two byte gathers, longer ones as full varints)."""
    u8 = body.u8
    t8 = u8[pos]
    b1 = u8[pos + 1]
    ln = b1.astype(np.int64)
    start = pos + 2
    two = b1 >= 0x80
    if two.any():
        b2 = u8[pos + 2]
        ln = np.where(two, ln + (b2.astype(np.int64) << 7) - 0x80, ln)
        start += two
        slow = two & (b2 >= 0x80)
        if slow.any():
            i = np.flatnonzero(slow)
            v, vl, vbad = varints_at(body, pos[i] + 1)
            start[i] = pos[i] + 1 + vl
            ln[i] = np.minimum(v, MAX_LEN).astype(np.int64)
            end = start + ln
            bad = end > lim
            bad[i] |= vbad
            return Decoded(t8.astype(np.int64), start, end, bad)
    end = start + ln
    return Decoded(t8.astype(np.int64), start, end, end > lim)


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
    if int((lim - cur).sum()) * 4 >= body.n:
        # Most of the body (a request's series): try the usual layout first.
        typical = _scan_typical(body, reg, cur, lim, schema)
        if typical is not None:
            return typical
    msg = schema.name
    hint = np.zeros(256, np.bool_)
    hint[list(schema.hints)] = True
    la: Lookahead | None = lookahead(schema)
    out: list[tuple[I64, I64, Decoded]] = []
    rounds = 0
    while reg.size:
        rounds += 1
        if rounds > _GROWTH_ROUNDS:
            hint[:] = True
        every = bool(hint.all())
        upto = np.minimum(lim, cur + max(4096, _WINDOW_BYTES // reg.size)) if every else lim
        cand, crid, mask = _candidates(body, cur, upto, hint)
        if la is not None:
            keep = _lookahead_ok(body, cand, la)
            cand, crid = cand[keep], crid[keep]
        clim = lim[crid]
        hv = np.flatnonzero(hint)
        len_only = ((hv & 7) == WIRE_LEN).all() and (hv < 0x80).all()
        d = _len_fields(body, cand, clim) if len_only else decode_at(body, cand, clim)
        members = None if every else _greedy(cand, crid, d, cur, lim, mask)
        if members is not None:
            out.append((reg[crid[members]], cand[members], take(d, members)))
            break
        nxt, s = _link(cand, d.end, d.bad, clim, cur, mask)
        members = np.sort(_follow(nxt, s[s < cand.size]))
        mpos, mrid = cand[members], crid[members]
        md = take(d, members)
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
        # The chain met a field that is not a candidate (an unknown field, one the lookahead
        # filter rejected, or one past the window): decode it exactly, hint its first byte,
        # drop the filter, and resume.
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
