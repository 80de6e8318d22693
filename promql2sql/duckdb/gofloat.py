"""Go's float formatting as SQL expressions: ``strconv.FormatFloat(v, 'f', -1, 64)`` and ``%g``.

Label values (``count_values``) and annotation texts must spell numbers exactly as Go does,
and the values live in DuckDB, so the formatting is SQL too (vectorized, one expression).
DuckDB casts a DOUBLE to its shortest round-trip digits (``1.2345e+17``, ``0.1``,
``100.0``) like Go's shortest formatting does; only the layout differs. The cast is
parsed into sign, digits and decimal point, then laid out Go's way:

- ``'f'``: never an exponent (``1e+20`` -> ``100000000000000000000``);
- ``%g`` / ``%v`` (shortest): exponent form when the exponent is < -4 or >= 6
  (``1e+06``, ``1.5e-05``), at least two exponent digits.

Both spell the specials ``NaN``, ``+Inf``, ``-Inf``, and keep the sign of ``-0``.
"""

from __future__ import annotations

import sqlglot.expressions as exp

from .context import tmpl

# sign, integer digits, fraction digits, exponent of DuckDB's shortest cast.
_SHORTEST = r"^(-?)([0-9]+)(?:\.([0-9]*))?(?:e([-+][0-9]+))?$"


def _decimal(x: exp.Expression) -> exp.Expression:
    """A one-element list of {sgn, d, pt}: ``x`` = sgn 0.d × 10^pt, ``d`` without padding zeros.

    A list with one struct binds the parsed parts to a lambda argument (SQL has no ``let``).
    """
    parts = tmpl(
        "regexp_extract(:x::VARCHAR, :re, ['sgn', 'ip', 'fp', 'ex'])", x=x, re=exp.Literal.string(_SHORTEST)
    )
    raw = tmpl(
        "list_transform([:m], lambda m: {'sgn': m.sgn, 'raw': m.ip || rtrim(m.fp, '0'), "
        "'pt': length(m.ip) + coalesce(TRY_CAST(m.ex AS INTEGER), 0)})",
        m=parts,
    )  # fmt: skip
    return tmpl(
        "list_transform(:r, lambda r: {'sgn': r.sgn, 'd': rtrim(ltrim(r.raw, '0'), '0'), "
        "'pt': r.pt - (length(r.raw) - length(ltrim(r.raw, '0')))})",
        r=raw,
    )  # fmt: skip


# Lay out {sgn, d, pt} without an exponent (strconv's fmtF with shortest digits).
_LAYOUT_F = (
    "r.sgn || CASE WHEN r.pt <= 0 THEN '0.' || repeat('0', -r.pt) || r.d "
    "WHEN r.pt >= length(r.d) THEN r.d || repeat('0', r.pt - length(r.d)) "
    "ELSE r.d[1:r.pt] || '.' || r.d[r.pt + 1:] END"
)
# strconv's fmtE with shortest digits: d.ddde±XX.
_LAYOUT_E = (
    "r.sgn || r.d[1:1] || CASE WHEN length(r.d) > 1 THEN '.' || r.d[2:] ELSE '' END || 'e' "
    "|| CASE WHEN r.pt - 1 < 0 THEN '-' ELSE '+' END || CASE WHEN abs(r.pt - 1) < 10 THEN '0' ELSE '' END "
    "|| abs(r.pt - 1)::VARCHAR"
)


def _special(x: exp.Expression, finite: exp.Expression) -> exp.Expression:
    return tmpl(
        "CASE WHEN isnan(:x) THEN 'NaN' WHEN :x = 'inf'::DOUBLE THEN '+Inf' WHEN :x = '-inf'::DOUBLE THEN '-Inf' "
        "WHEN :x = 0 THEN CASE WHEN signbit(:x) THEN '-0' ELSE '0' END ELSE :f END",
        x=x, f=finite,
    )  # fmt: skip


def go_format_f(x: exp.Expression) -> exp.Expression:
    """``strconv.FormatFloat(x, 'f', -1, 64)`` of a DOUBLE expression."""
    layout = tmpl(f"list_transform(:dec, lambda r: {_LAYOUT_F})[1]", dec=_decimal(x))
    return _special(x, layout)


def go_format_g(x: exp.Expression) -> exp.Expression:
    """Go's ``%g`` / ``%v`` of a float64 (shortest digits) for a DOUBLE expression."""
    layout = tmpl(
        f"list_transform(:dec, lambda r: CASE WHEN r.pt - 1 < -4 OR r.pt - 1 >= 6 THEN {_LAYOUT_E} "
        f"ELSE {_LAYOUT_F} END)[1]",
        dec=_decimal(x),
    )  # fmt: skip
    return _special(x, layout)
