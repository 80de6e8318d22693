"""Vectorized JSON pieces in Prometheus's exact spelling: floats, timestamps, strings, label sets.

Everything here works on whole Arrow/numpy arrays: a range result of millions of points is
formatted by a handful of Arrow compute passes, never by a Python call per point
(DESIGN.md "vectorized end to end"). The scalar helpers are the reference each vectorized
function is tested against, and serve single values (a scalar result, an error message).

Prometheus's rules (``util/jsonutil/marshal.go``, ``promql/value.go``):

* sample values of vectors, matrices and exemplars: ``strconv.FormatFloat(v, 'f', -1, 64)``
  (shortest digits that round-trip), switching to ``'e'`` when ``|v| < 1e-6`` or
  ``|v| >= 1e21`` (``1e-07``, ``1e+21``); ``NaN``, ``+Inf``, ``-Inf``; ``-0`` for negative zero.
* a *scalar* result is ``'f'`` always (``Scalar.MarshalJSON``): ``1e-7`` is ``0.0000001``.
* timestamps: milliseconds written as ``<sec>.<3-digit ms>``, the fraction left out when zero.
* strings: JSON with Go's HTML escaping (``<`` is ``\\u003c``), as jsoniter's standard config.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from promlake.promql2sql.gostr import format_float_f

LARGE = pa.large_string()
_E_MIN = 1e-6
_E_MAX = 1e21


def lit(text: str) -> pa.Scalar:
    """A large_string scalar (Arrow's join kernels want every argument of one string type)."""
    return pa.scalar(text, LARGE)


# --- scalar reference implementations ---------------------------------------------------


def marshal_float(value: float) -> str:
    """``jsonutil.MarshalFloat`` for one value (without the quotes)."""
    a = abs(value)
    if math.isnan(value) or math.isinf(value) or a == 0 or _E_MIN <= a < _E_MAX:
        return format_float_f(value)
    # Outside [1e-6, 1e21) Python's repr is in exponent form with the same shortest digits.
    mantissa, _, exp = repr(value).partition("e")
    return f"{mantissa}e{exp[0]}{int(exp[1:]):02d}"


def marshal_timestamp(ms: int) -> str:
    """``jsonutil.MarshalTimestamp``: ``1435781451.781``, ``4``, ``1.050``."""
    sign = "-" if ms < 0 else ""
    sec, frac = divmod(abs(ms), 1000)
    return f"{sign}{sec}.{frac:03d}" if frac else f"{sign}{sec}"


def json_number(value: float) -> str:
    """Go's ``encoding/json`` spelling of a float64 (scalar and string result timestamps)."""
    a = abs(value)
    if a == 0 or _E_MIN <= a < _E_MAX:
        return format_float_f(value)
    text = marshal_float(value)
    # encoding/json cleans e-07 to e-7 (and e+07 stays e+07... only the negative case is cleaned)
    mantissa, _, exp = text.partition("e")
    if exp.startswith("-0"):
        exp = "-" + exp[2:]
    return f"{mantissa}e{exp}"


_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_string(text: str) -> str:
    """A JSON string literal the way Go's standard encoder writes it."""
    out = json.dumps(text, ensure_ascii=False)
    if any(ch in out for ch in _HTML):
        out = "".join(_HTML.get(ch, ch) for ch in out)
    return out


def go_json(text: str) -> str:
    """Apply Go's HTML escaping to JSON text made by another encoder (escapes only occur in strings)."""
    return "".join(_HTML.get(ch, ch) for ch in text) if any(ch in text for ch in _HTML) else text


# --- vectorized ---------------------------------------------------------------------------


def _strings(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Plain large_string array from a (chunked, possibly dictionary-encoded) string array."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr.cast(LARGE)


def floats(values: np.ndarray) -> pa.Array:
    """``MarshalFloat`` of every value (without quotes), as one large_string array."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    text = pc.cast(pa.array(v), LARGE)  # Arrow's shortest round-trip digits
    if len(v) == 0:
        return text
    a = np.abs(v)
    finite = np.isfinite(v)
    nonzero = finite & (a != 0)
    want_e = nonzero & ((a < _E_MIN) | (a >= _E_MAX))
    has_e = np.asarray(pc.match_substring(text, "e"), dtype=bool)
    fixed = nonzero & ~want_e & has_e  # Arrow used an exponent where Go writes all digits
    if fixed.any():
        text = pc.replace_with_mask(text, pa.array(fixed), _expand(pc.filter(text, pa.array(fixed))))
    odd = want_e & ~has_e  # never seen from Arrow; keep the exact answer anyway
    if odd.any():
        exact = pa.array([marshal_float(x) for x in v[odd].tolist()], LARGE)
        text = pc.replace_with_mask(text, pa.array(odd), exact)
    if want_e.any():
        # Go writes at least two exponent digits: 1e-07, 1.5e+300.
        text = pc.replace_substring_regex(text, r"e([+-])(\d)$", "e\\10\\2")
    if not finite.all():
        special = np.where(np.isnan(v), "NaN", np.where(v > 0, "+Inf", "-Inf"))
        text = pc.replace_with_mask(text, pa.array(~finite), pa.array(special[~finite], LARGE))
    return text


def _expand(text: pa.Array) -> pa.Array:
    """``d.ddde±k`` strings (|v| in [1e-6, 1e21)) written out in fixed notation."""
    parts = pc.split_pattern(text, "e")
    mantissa = pc.list_element(parts, 0)
    exps = np.asarray(pc.cast(pc.utf8_ltrim(pc.list_element(parts, 1), "+"), pa.int64()))
    negative = np.asarray(pc.starts_with(mantissa, "-"), dtype=bool)
    digits = pc.replace_substring(pc.replace_substring(mantissa, "-", ""), ".", "")
    out: list[pa.Array] = []
    order: list[np.ndarray] = []
    for k in np.unique(exps).tolist():
        rows = np.flatnonzero(exps == k)
        d = digits.take(pa.array(rows))
        if k < 0:
            fixed = pc.binary_join_element_wise(lit("0." + "0" * (-k - 1)), d, lit(""))
        else:
            n = k + 1
            short = np.asarray(pc.less_equal(pc.utf8_length(d), n), dtype=bool)
            padded = pc.utf8_rpad(d, width=n, padding="0")
            pointed = pc.binary_join_element_wise(
                pc.utf8_slice_codeunits(d, 0, n), pc.utf8_slice_codeunits(d, n), lit(".")
            )
            fixed = pc.if_else(pa.array(short), padded, pointed)
        out.append(fixed)
        order.append(rows)
    result = pa.concat_arrays(out).take(pa.array(np.argsort(np.concatenate(order), kind="stable")))
    sign = pa.array(np.where(negative, "-", ""), LARGE)
    return pc.binary_join_element_wise(sign, result, lit(""))


def timestamps(ms: np.ndarray) -> pa.Array:
    """``MarshalTimestamp`` of every millisecond timestamp, as one large_string array."""
    t = np.ascontiguousarray(ms, dtype=np.int64)
    a = np.abs(t)
    sec = pc.cast(pa.array(a // 1000), LARGE)
    frac = a % 1000
    text = sec
    if frac.any():
        padded = pc.utf8_lpad(pc.cast(pa.array(frac), LARGE), width=3, padding="0")
        text = pc.if_else(pa.array(frac != 0), pc.binary_join_element_wise(sec, padded, lit(".")), sec)
    if (t < 0).any():
        text = pc.if_else(pa.array(t < 0), pc.binary_join_element_wise(lit("-"), text, lit("")), text)
    return text


def timestamps_on_grid(ms: np.ndarray, start: int, step: int) -> pa.Array:
    """``timestamps`` for points of a range query: format the step grid once, then take."""
    t = np.asarray(ms, dtype=np.int64)
    if len(t) == 0 or step <= 0:
        return timestamps(t)
    off = t - start
    idx = off // step
    if (off < 0).any() or (off % step).any():
        return timestamps(t)
    grid = timestamps(start + np.arange(int(idx.max()) + 1, dtype=np.int64) * step)
    return grid.take(pa.array(idx))


_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"))


def strings(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """JSON string literals (quoted, escaped as Go does) of every string in ``arr``.

    A dictionary-encoded array is escaped once per distinct string, then expanded.
    """
    if isinstance(arr, pa.ChunkedArray):
        chunks = [strings(c) for c in arr.chunks]
        return pa.concat_arrays(chunks) if chunks else pa.array([], LARGE)
    if pa.types.is_dictionary(arr.type):
        return strings(arr.dictionary).take(arr.indices)
    text = arr.cast(LARGE)
    rare = np.asarray(pc.match_substring_regex(text, "[\\x00-\\x1f\\x{2028}\\x{2029}]"), dtype=bool)
    for old, new in _ESCAPES:
        text = pc.replace_substring(text, old, new)
    quoted = pc.binary_join_element_wise(lit('"'), text, lit('"'), lit(""))
    if rare.any():  # control characters: a few label values at most
        exact = pa.array(
            [json_string(s) for s in pc.filter(arr.cast(LARGE), pa.array(rare)).to_pylist()], LARGE
        )
        quoted = pc.replace_with_mask(quoted, pa.array(rare), exact)
    return quoted


def join_groups(pieces: pa.Array, counts: np.ndarray, sep: str) -> pa.Array:
    """One string per group: ``counts[i]`` consecutive pieces joined with ``sep``."""
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), pieces.cast(LARGE))
    return pc.binary_join(lists, lit(sep))


def concat(pieces: pa.Array, trim: int = 0) -> bytes:
    """The pieces back to back, minus ``trim`` trailing bytes: one copy of Arrow's value buffer.

    A string array's values sit contiguously in one buffer, so concatenation needs no join.
    """
    arr = pieces.cast(LARGE)
    if len(arr) == 0:
        return b""
    if arr.null_count:
        arr = pc.fill_null(arr, lit(""))
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    start, end = int(offsets[0]), int(offsets[-1]) - trim
    return bytes(arr.buffers()[2][start:end].to_pybytes()) if end > start else b""


def join_all(pieces: pa.Array, sep: str = ",") -> bytes:
    """All pieces joined with ``sep`` into one UTF-8 byte string."""
    if not sep:
        return concat(pieces)
    return concat(pc.binary_join_element_wise(pieces.cast(LARGE), lit(sep), lit("")), trim=len(sep.encode()))


def label_objects(
    owner: np.ndarray, names: pa.Array | pa.ChunkedArray, values: pa.Array | pa.ChunkedArray, n: int
) -> pa.Array:
    """``n`` JSON objects ``{"name":"value",...}``, keys sorted; row i belongs to ``owner[i]``."""
    own = np.asarray(owner, dtype=np.int64)
    if len(own):
        plain = pa.table({"o": own, "n": _strings(names)})
        order = pc.sort_indices(plain, [("o", "ascending"), ("n", "ascending")])
        own = own[np.asarray(order)]
        pairs = pc.binary_join_element_wise(strings(names).take(order), strings(values).take(order), lit(":"))
    else:
        pairs = pa.array([], LARGE)
    counts = np.bincount(own, minlength=n) if len(own) else np.zeros(n, np.int64)
    return pc.binary_join_element_wise(lit("{"), join_groups(pairs, counts, ","), lit("}"), lit(""))


def map_objects(maps: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One JSON object per MAP<string, string> (a result's labels), keys sorted."""
    if isinstance(maps, pa.ChunkedArray):
        maps = maps.combine_chunks() if maps.num_chunks else pa.array([], maps.type)
    offsets = maps.offsets.to_numpy()
    first, last = int(offsets[0]), int(offsets[-1])
    owner = np.repeat(np.arange(len(maps)), np.diff(offsets))
    return label_objects(
        owner, maps.keys.slice(first, last - first), maps.items.slice(first, last - first), len(maps)
    )
