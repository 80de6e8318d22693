"""Message schemas as the decoders need them: field numbers, wire types, nesting."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
from numpy.typing import NDArray

WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5
WIRE_NAMES = ("VARINT", "I64", "LEN", "SGROUP", "EGROUP", "I32", "6", "7")


@dataclass(frozen=True, slots=True)
class Field:
    """One field: protobuf number, wire type, name (for errors), and for message-typed fields
    the schema of the message."""

    number: int
    wire: int
    name: str
    packable: bool = False  # repeated scalar: also accepted as one packed LEN field
    message: Schema | None = field(default=None, compare=False)
    # Seldom sent (legacy or non-canonical): not a doubling candidate until first seen.
    rare: bool = False

    @property
    def tag(self) -> int:
        return self.number << 3 | self.wire


@dataclass(frozen=True, slots=True)
class Schema:
    name: str
    fields: tuple[Field, ...]

    @property
    def hints(self) -> tuple[int, ...]:
        """One-byte tags of the fields: the first candidates of pointer doubling."""
        # proto3 packs repeated scalars by default, so the LEN form is the one to expect.
        tags = {f.number << 3 | WIRE_LEN if f.packable else f.tag for f in self.fields if not f.rare}
        return tuple(sorted(t for t in tags if t < 0x80))

    def field(self, number: int) -> Field:
        return next(f for f in self.fields if f.number == number)

    def by_tag(self, tag: int) -> Field | None:
        return next((f for f in self.fields if f.tag == tag), None)


@dataclass(frozen=True, slots=True)
class Lookahead:
    """Tables that tell a true field of a message from a byte that only looks like its tag.

    A real ``TimeSeries`` field is followed by a TimeSeries field tag, and when that is a
    ``Label`` field, by a Label field tag; a Label field tag seen at the top level instead is
    followed by name text. ``first[t, b]``: after a field with tag byte ``t`` the payload may
    start with byte ``b``. ``second[k, b]``: the payload of that first inner field may start
    with ``b``, where ``k = pick[t, b_first]`` (0: no constraint).
    """

    first: NDArray[np.bool_]  # (256, 256)
    pick: NDArray[np.int64]  # (256, 256)
    second: NDArray[np.bool_]  # (K, 256)


def _set(tags: tuple[int, ...]) -> NDArray[np.bool_]:
    out = np.zeros(256, np.bool_)
    out[list(tags)] = True
    return out


@cache
def lookahead(schema: Schema) -> Lookahead:
    first = np.ones((256, 256), np.bool_)
    pick = np.zeros((256, 256), np.int64)
    second = [np.ones(256, np.bool_)]
    for x in schema.fields:
        child = x.message
        if x.wire != WIRE_LEN or child is None or x.tag >= 0x80:
            continue
        first[x.tag] = _set(child.hints)
        for y in child.fields:
            if y.wire == WIRE_LEN and y.message is not None and y.tag < 0x80:
                pick[x.tag, y.tag] = len(second)
                second.append(_set(y.message.hints))
    return Lookahead(first, pick, np.stack(second))
