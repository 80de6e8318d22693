"""From field locations to columns: wire-type checks, scalar and string columns, packed fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._scan import scan
from ._schema import WIRE_I64, WIRE_LEN, WIRE_NAMES, WIRE_VARINT, Field, Schema
from ._wire import I64, U64, Body, Fields, field_offset, ranges_index, varints_at
from .batch import EMPTY_STRINGS
from .errors import DecodeError

_MAX_LEN = np.uint64(1 << 40)


def check_wires(f: Fields, schema: Schema) -> None:
    """Reject a known field carrying the wrong wire type (protobuf parsers do too)."""
    top = max(x.number for x in schema.fields) + 1
    allowed = np.zeros(top + 1, np.int64)  # bit w set = wire type w accepted; 0 = unknown field
    for x in schema.fields:
        allowed[x.number] |= 1 << x.wire | (1 << WIRE_LEN if x.packable else 0)
    fnum = np.minimum(f.tag >> 3, top)
    ok = allowed[fnum]
    bad = (ok != 0) & ((ok >> (f.tag & 7)) & 1 == 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        x = schema.field(int(fnum[i]))
        got = WIRE_NAMES[int(f.tag[i]) & 7]
        raise DecodeError(
            f"{schema.name}.{x.name} (field {x.number}) has wire type {got}, expected {WIRE_NAMES[x.wire]}",
            field_offset(f, i),
        )


def where_tag(f: Fields, tag: int) -> I64:
    """Indices (into ``f``) of the fields with this tag, in message order."""
    return np.flatnonzero(f.tag == tag)


def last_per_region(f: Fields, tag: int, n: int) -> I64:
    """Per region, the index of the last field with this tag (-1 if none): protobuf's
    last-one-wins rule for singular fields."""
    idx = where_tag(f, tag)
    out = np.full(n, -1, np.int64)
    if idx.size:
        r = f.region[idx]
        last = np.append(r[1:] != r[:-1], True)
        out[r[last]] = idx[last]
    return out


def fixed64_at(body: Body, pos: I64) -> U64:
    return body.u64[pos]


def varint_values(body: Body, pos: I64) -> U64:
    """Varints at offsets already validated by the scan (fields of wire type VARINT)."""
    return varints_at(body, pos)[0]


def flat(body: Body, s: I64, e: I64, schema: Schema) -> list[Any]:
    """Decode messages made only of singular fields (scalars and strings).

    Returns one column per schema field: uint64 (raw bits for I64, the varint for VARINT), or a
    (start, end) pair of offsets for LEN. Absent fields are 0, or an empty range.

    Fast path: a message laid out the canonical way (fields in schema order, each at most once,
    one-byte tags and lengths) is read with a fixed number of vectorized steps, one per schema
    field. Anything else (reordered, repeated or unknown fields, long varints, errors) goes
    through the general scanner, with protobuf's last-one-wins rule.
    """
    u8 = body.u8
    cur = s.copy()
    bad = np.zeros(s.size, np.bool_)
    cols: list[Any] = []
    for x in schema.fields:
        # Two-byte tags never match here; such fields take the general path.
        hit = (cur < e) & (u8[cur] == x.tag) if x.tag < 0x80 else np.zeros(s.size, np.bool_)
        if x.wire == WIRE_I64:
            cols.append(np.where(hit, body.u64[cur + 1], np.uint64(0)))
            cur = cur + hit * 9
        elif x.wire == WIRE_VARINT:
            v, vl, vb = varints_at(body, cur + 1)
            cols.append(np.where(hit, v, np.uint64(0)))
            bad |= hit & vb
            cur = cur + hit * (1 + vl)
        else:
            ln = u8[cur + 1].astype(np.int64)
            vl = np.ones(s.size, np.int64)
            long = hit & (ln >= 0x80)
            if long.any():
                i = np.flatnonzero(long)
                v, vl[i], vb = varints_at(body, cur[i] + 1)
                ln[i] = np.minimum(v, _MAX_LEN).astype(np.int64)
                bad[i] |= vb
            start = np.where(hit, cur + 1 + vl, cur)
            end = np.where(hit, start + ln, cur)
            cols.append((start, end))
            # A length past the message end is a miss; clamping keeps later loads in bounds.
            cur = np.minimum(end, e + 1)
    miss = np.flatnonzero((cur != e) | bad)
    if miss.size:
        general = _flat_general(body, s[miss], e[miss], schema)
        for k, x in enumerate(schema.fields):
            if x.wire == WIRE_LEN:
                cols[k][0][miss], cols[k][1][miss] = general[k]
            else:
                cols[k][miss] = general[k]
    return cols


def _flat_general(
    body: Body, s: I64, e: I64, schema: Schema, group: I64 | None = None, n: int = 0
) -> list[Any]:
    f = scan(body, s, e, schema)
    check_wires(f, schema)
    if group is None:
        n, home = s.size, s
    else:
        # Occurrences of one singular message field merge: per field, the last one wins.
        f = Fields(group[f.region], f.tag, f.start, f.end)
        # Absent strings become empty ranges that keep all ranges in increasing order: at a
        # group's first occurrence, or after the previous group's last one.
        cut = np.flatnonzero(group[1:] != group[:-1])
        first, last = np.concatenate(([0], cut + 1)), np.concatenate((cut, [s.size - 1]))
        ends = np.zeros(n + 1, np.int64)
        ends[group[last] + 1] = e[last]
        home = np.maximum.accumulate(ends)[:n]
        home[group[first]] = s[first]
    cols: list[Any] = []
    for x in schema.fields:
        i = last_per_region(f, x.tag, n)
        has = i >= 0
        j = i[has]
        if x.wire == WIRE_LEN:
            start, end = home.copy(), home.copy()  # absent: an empty range
            start[has], end[has] = f.start[j], f.end[j]
            cols.append((start, end))
            continue
        v = np.zeros(n, np.uint64)
        if x.wire == WIRE_I64:
            v[has] = fixed64_at(body, f.start[j])
        else:
            v[has] = varint_values(body, f.start[j])
        cols.append(v)
    return cols


def flat_merged(body: Body, s: I64, e: I64, group: I64, n: int, schema: Schema) -> list[Any]:
    """Like ``flat``, for a singular message field that may occur several times per parent
    (``group``: the parent of each occurrence): occurrences merge, as protobuf specifies."""
    return _flat_general(body, s, e, schema, group, n)


def strings(body: Body, s: I64, e: I64, what: str) -> pa.StringArray:
    """The UTF-8 strings at ``[s, e)`` (ranges in increasing, non-overlapping order).

    Built without a per-string Python step: a binary array over the body whose elements
    alternate between the wanted ranges and the gaps between them, from which Arrow's ``take``
    copies out the even elements. All-ASCII data (the common case) needs no further check;
    anything else is validated by Arrow's UTF-8 cast.
    """
    k = s.size
    if k == 0:
        return EMPTY_STRINGS
    off = np.empty(2 * k, np.int32 if body.n < 2**31 else np.int64)
    off[0::2] = s
    off[1::2] = e
    kind = pa.binary() if off.dtype == np.int32 else pa.large_binary()
    spans = pa.Array.from_buffers(kind, 2 * k - 1, [None, pa.py_buffer(off), pa.py_buffer(body.u8)])
    out = pc.take(spans, pa.array(np.arange(0, 2 * k, 2, dtype=np.int64)))
    data = out.buffers()[2]
    typ = pa.string() if kind == pa.binary() else pa.large_string()
    if data is None or not data.size or np.frombuffer(data, np.uint8).max() < 0x80:
        result = out.view(typ)
    else:
        try:
            result = out.cast(typ)
        except pa.ArrowInvalid:
            i = _first_invalid(out, typ)
            raise DecodeError(f"{what} is not valid UTF-8", int(s[i])) from None
    return result.cast(pa.string()) if typ != pa.string() else result


def _first_invalid(arr: pa.Array, typ: pa.DataType) -> int:
    """Index of the first element that is not UTF-8, by bisection over Arrow casts."""
    lo, hi = 0, len(arr)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            arr.slice(lo, mid - lo).cast(typ)
            lo = mid
        except pa.ArrowInvalid:
            hi = mid
    return lo


def packed_varints(body: Body, s: I64, e: I64, what: str) -> tuple[U64, I64, I64]:
    """All varints packed in the ranges: (values, range index, offset of each varint)."""
    lens = e - s
    pos, _ = ranges_index(s, e)
    if not pos.size:
        empty = np.zeros(0, np.int64)
        return np.zeros(0, np.uint64), empty, empty
    data = body.u8[pos]
    term = data < 0x80
    nz = np.flatnonzero(lens)
    first_byte = (np.cumsum(lens) - lens)[nz]
    last = first_byte + lens[nz] - 1
    if not term[last].all():
        i = int(np.flatnonzero(~term[last])[0])
        raise DecodeError(f"{what}: truncated packed varint", int(pos[last[i]]))
    starts = np.empty(pos.size, np.bool_)
    starts[0] = True
    starts[1:] = term[:-1]  # each range ends on a terminator, so this also marks range starts
    fi = np.flatnonzero(starts)
    # Symbol references and bucket deltas are mostly one or two bytes: decode those from the
    # gathered bytes, and only longer ones from 8-byte loads.
    b0 = data[fi]
    v = (b0 & 0x7F).astype(np.uint64)
    ci = np.flatnonzero(b0 >= 0x80)
    if ci.size:
        b1 = data[fi[ci] + 1]
        v[ci] |= (b1 & 0x7F).astype(np.uint64) << np.uint64(7)
        j = ci[b1 >= 0x80]
        if j.size:
            v[j], _, vb = varints_at(body, pos[fi[j]])
            if vb.any():
                raise DecodeError(f"{what}: varint is longer than 10 bytes", int(pos[fi[j[vb]][0]]))
    counts = np.add.reduceat(term, first_byte, dtype=np.int64)
    return v, np.repeat(nz, counts), pos[fi]


def packed_fixed64(body: Body, s: I64, e: I64, what: str) -> tuple[U64, I64, I64]:
    """All 8-byte values packed in the ranges: (raw bits, range index, offset of each)."""
    ln = e - s
    if (ln % 8).any():
        i = int(np.flatnonzero(ln % 8)[0])
        raise DecodeError(f"{what}: packed length {int(ln[i])} is not a multiple of 8", int(s[i]))
    n = ln // 8
    rid = np.repeat(np.arange(s.size, dtype=np.int64), n)
    at = s[rid] + 8 * (np.arange(rid.size, dtype=np.int64) - (np.cumsum(n) - n)[rid])
    return body.u64[at], rid, at


def repeated_scalar(body: Body, f: Fields, x: Field, what: str) -> tuple[U64, I64, I64]:
    """A repeated scalar field in both encodings (packed LEN runs and single fields), merged in
    wire order as protobuf requires: (values, region of each, offset of each)."""
    idx_p = where_tag(f, x.number << 3 | WIRE_LEN)
    idx_u = where_tag(f, x.tag)
    parts: list[tuple[U64, I64, I64]] = []
    if idx_p.size:
        dec = packed_fixed64 if x.wire == WIRE_I64 else packed_varints
        v, rid, at = dec(body, f.start[idx_p], f.end[idx_p], what)
        parts.append((v, f.region[idx_p][rid], at))
    if idx_u.size:
        at = f.start[idx_u]
        v = fixed64_at(body, at) if x.wire == WIRE_I64 else varint_values(body, at)
        parts.append((v, f.region[idx_u], at))
    if not parts:
        empty = np.zeros(0, np.int64)
        return np.zeros(0, np.uint64), empty, empty
    if len(parts) == 1:
        return parts[0]
    at = np.concatenate([p[2] for p in parts])
    o = np.argsort(at, kind="stable")
    return np.concatenate([p[0] for p in parts])[o], np.concatenate([p[1] for p in parts])[o], at[o]


def as_int64(v: U64) -> I64:
    """int64 fields travel as two's-complement varints."""
    return v.view(np.int64)


def as_float64(v: U64) -> Any:
    return v.view(np.float64)


def zigzag(v: U64) -> I64:
    """sint32/sint64 wire values."""
    return ((v >> np.uint64(1)) ^ (np.uint64(0) - (v & np.uint64(1)))).view(np.int64)


def enum_names(values: U64, names: Sequence[str]) -> pa.StringArray:
    """Enum values as names; values outside the enum (proto3 keeps them) map to names[0]."""
    idx = np.where(values < len(names), values, 0).astype(np.int64)
    return pa.array(names, pa.string()).take(pa.array(idx))


def submessages(f: Fields, tag: int) -> tuple[I64, I64, I64]:
    """(starts, ends, parent region) of a repeated message field."""
    idx = where_tag(f, tag)
    return f.start[idx], f.end[idx], f.region[idx]
