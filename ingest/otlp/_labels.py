"""Long-format label sets of the OTLP translation and the steps shared by its parts.

``Labels`` is the translation's unit: label rows (owner, name, value) for many label sets at
once. Attribute keys become label names once per distinct key; keys that collide after
sanitizing merge their values as Prometheus's label builder does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import names as nm
from ._values import assemble
from .batch import EMPTY_STRINGS, I64


class TranslationError(ValueError):
    """The request cannot be translated (Prometheus refuses it as a whole too)."""


@dataclass(frozen=True)
class Labels:
    """Long-format label sets: row i is ``names[i]=values[i]`` of set ``owner[i]``."""

    owner: I64
    names: pa.StringArray
    values: pa.StringArray
    n: int


def sanitize_keys(keys: pa.StringArray) -> pa.StringArray:
    """Label names for attribute keys, computed once per distinct key."""
    if not len(keys):
        return EMPTY_STRINGS
    enc = (
        pc.dictionary_encode(keys).combine_chunks()
        if isinstance(keys, pa.ChunkedArray)
        else pc.dictionary_encode(keys)
    )
    try:
        dictionary = pa.array([nm.build_label_name(k) for k in enc.dictionary.to_pylist()], pa.string())
    except nm.NameError_ as exc:
        raise TranslationError(str(exc)) from None
    return dictionary.take(enc.indices)


def _ranks(a: pa.StringArray) -> I64:
    """Each string's rank in byte order (equal strings, equal ranks)."""
    if not len(a):
        return np.zeros(0, np.int64)
    uniq = pc.unique(a)
    order = np.asarray(pc.array_sort_indices(uniq))
    rank = np.empty(len(uniq), np.int64)
    rank[order] = np.arange(len(uniq))
    return rank[np.asarray(pc.index_in(a, value_set=uniq))]


def fold_collisions(
    owner: I64, names: pa.StringArray, keys: pa.StringArray, values: pa.StringArray
) -> Labels:
    """Sort rows by (owner, label name, original key) and merge rows that share a label name
    the way Prometheus's label builder does (values joined with ';', empty ones skipped)."""
    n_rows = owner.size
    if not n_rows:
        return Labels(owner, EMPTY_STRINGS, EMPTY_STRINGS, 0)
    nr, kr = _ranks(names), _ranks(keys)
    order = np.lexsort((np.arange(n_rows), kr, nr, owner))
    owner, nr = owner[order], nr[order]
    take = pa.array(order)
    names, keys, values = names.take(take), keys.take(take), values.take(take)
    dup = np.zeros(n_rows, np.bool_)
    dup[1:] = (owner[1:] == owner[:-1]) & (nr[1:] == nr[:-1])
    if dup.any():
        # Rare: a Python step per colliding group only.
        first = np.flatnonzero(~dup)
        group = np.cumsum(~dup) - 1
        colliding = np.unique(group[dup])
        bounds = np.append(first, n_rows)
        merged = []
        for g in colliding.tolist():
            cur = ""
            for v in values.slice(int(bounds[g]), int(bounds[g + 1] - bounds[g])).to_pylist():
                cur = v if cur == "" else f"{cur};{v}"
            merged.append(cur)
        plain = np.setdiff1d(np.arange(first.size), colliding)
        vals = assemble(
            first.size,
            [(plain, values.take(pa.array(first[plain]))), (colliding, pa.array(merged, pa.string()))],
        )
        return Labels(owner[first], names.take(pa.array(first)), vals, 0)
    return Labels(owner, names, values, 0)


def concat_labels(parts: list[Labels], n: int) -> Labels:
    parts = [p for p in parts if p.owner.size]
    if not parts:
        return Labels(np.zeros(0, np.int64), EMPTY_STRINGS, EMPTY_STRINGS, n)
    return Labels(
        np.concatenate([p.owner for p in parts]),
        pa.concat_arrays([p.names.cast(pa.string()) for p in parts]),
        pa.concat_arrays([p.values.cast(pa.string()) for p in parts]),
        n,
    )


def const(value: str, n: int) -> pa.StringArray:
    return pa.array([value], pa.string()).take(pa.array(np.zeros(n, np.int64)))
