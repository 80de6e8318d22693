"""Vector matching for arithmetic and comparisons: ``on``/``ignoring``, ``group_*``, ``fill*``.

Follows ``VectorBinop`` and ``resultMetric`` (promql/engine.go). ``group_right`` is evaluated as
``group_left`` with the operands swapped, as upstream does, so one side is always the "many"
side (M) and the other the "one" side (O); values are swapped back for the operator.

Per series (never per point) each side gets its matching signature and a hash of it (``kh``).
Points then form *pairs* on (kh, t):

- matched pairs: an M point and the O point of its signature at that step;
- with ``fill_right`` (upstream ``FillValues.RHS``, also under ``group_right``): M points whose
  signature has no O point at that step, paired with the fill value;
- with ``fill_left`` (``FillValues.LHS``): O points whose signature has no M point, likewise.

The result labels depend only on the pair of series (``resultMetric``), so they are computed
once per distinct (M series, O series) pair. Arithmetic removes ``__name__``/``__type__``/
``__unit__`` at once (``changesMetricSchema``); ``bool`` marks the name for delayed removal;
a filtering comparison keeps the name and, as upstream, does not inherit a pending drop.

Matching errors are checked by one assertion query per operator, reporting the earliest step
first, in upstream's order within a step: duplicates on the "one" side, then two "many"
series in one match group (one-to-one) or two results with one label set (many-to-one).
"""

from __future__ import annotations

from typing import Any

import sqlglot.expressions as exp

from .. import plan as p
from ..ast import Cardinality, VectorMatching
from ..errors import ExecutionError
from .context import Compiler, Vec, num, table, tmpl
from .labelset import METADATA_LABELS, copy_labels, drop_labels, go_labels, keep_labels, signature

ARITHMETIC = {"+", "-", "*", "/", "%", "^", "atan2"}

_ONE_DUP = 1
_MANY_DUP = 2


def keyed_series(c: Compiler, v: Vec, m: VectorMatching, side: str) -> str:
    """(sk, labels, key, kh): each series with its matching signature and the signature's hash."""
    key = signature(exp.column("labels"), m.matching_labels, m.on)
    body = tmpl(
        "SELECT sk, labels, key, hash(key) AS kh FROM (SELECT sk, labels, :key AS key FROM :s)",
        key=key, s=table(v.series),
    )  # fmt: skip
    return c.cte(body, f"sig_{side}")


def keyed_points(c: Compiler, v: Vec, keyed: str, side: str) -> str:
    """(sk, t, v, kh): points with their series' signature hash."""
    body = tmpl(
        "SELECT x.sk, x.t, x.v, s.kh FROM :x AS x JOIN :s AS s ON s.sk = x.sk",
        x=table(v.points), s=table(keyed),
    )  # fmt: skip
    return c.cte(body, f"kp_{side}")


def vector_binop(c: Compiler, node: p.Binary, lhs: Vec, rhs: Vec, value_of: Any) -> Vec:
    """Arithmetic or comparison between two instant vectors.

    ``value_of(a, b)`` builds the operator's SQL over the original left and right values
    (a comparison gives its condition).
    """
    m = node.matching or VectorMatching()
    swapped = m.card is Cardinality.ONE_TO_MANY
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    ks_m, ks_o = keyed_series(c, many, m, "m"), keyed_series(c, one, m, "o")
    kp_m, kp_o = keyed_points(c, many, ks_m, "m"), keyed_points(c, one, ks_o, "o")
    pairs = c.cte(_pairs(kp_m, kp_o, m), "pairs")
    pair_series = c.cte(_pair_labels(node, m, pairs, ks_m, ks_o), "pair_series")
    c.assertions.append((_errors(c, m, kp_m, kp_o, ks_o, pairs, pair_series), _error_message(m, swapped)))

    mv, ov = exp.column("mv", "p"), exp.column("ov", "p")
    a, b = (ov, mv) if swapped else (mv, ov)
    value = value_of(a, b)
    body = tmpl(
        "SELECT ps.sk, p.t FROM :pairs AS p JOIN :ps AS ps ON ps.pid = p.pid",
        pairs=table(pairs),
        ps=table(pair_series),
    )
    is_cmp = node.op not in ARITHMETIC
    if not is_cmp:
        body = body.select(value.as_("v"))
    elif node.return_bool:
        body = body.select(exp.cast(value, "DOUBLE").as_("v"))
    else:
        # vectorElemBinop keeps the left operand's value (the "one" side under group_right).
        body = body.select(a.as_("v")).where(value)
    drop = exp.true() if (is_cmp and node.return_bool) else exp.false()
    series = c.cte(
        tmpl("SELECT DISTINCT sk, labels, :drop AS drop_name FROM :ps", drop=drop, ps=table(pair_series)),
        "series",
    )
    return Vec(c.cte(body, "binop"), series)


def _pairs(kp_m: str, kp_o: str, m: VectorMatching) -> exp.Expression:
    """(pid, msk, osk, kh, t, mv, ov): matched and filled operand pairs at each step."""
    parts = [
        "SELECT hash(l.sk, r.sk) AS pid, l.sk AS msk, r.sk AS osk, l.kh, l.t, l.v AS mv, r.v AS ov "
        "FROM :m AS l JOIN :o AS r ON r.kh = l.kh AND r.t = l.t"
    ]
    if m.fill_rhs is not None:
        parts.append(
            "SELECT hash(l.sk, NULL::BIGINT), l.sk, NULL::BIGINT, l.kh, l.t, l.v, :fill_o FROM :m AS l "
            "WHERE NOT EXISTS (SELECT 1 FROM :o AS r WHERE r.kh = l.kh AND r.t = l.t)"
        )
    if m.fill_lhs is not None:
        parts.append(
            "SELECT hash(NULL::BIGINT, r.sk), NULL::BIGINT, r.sk, r.kh, r.t, :fill_m, r.v FROM :o AS r "
            "WHERE NOT EXISTS (SELECT 1 FROM :m AS l WHERE l.kh = r.kh AND l.t = r.t)"
        )
    subs: dict[str, exp.Expression] = {"m": table(kp_m), "o": table(kp_o)}
    if m.fill_rhs is not None:
        subs["fill_o"] = exp.cast(num(m.fill_rhs), "DOUBLE")
    if m.fill_lhs is not None:
        subs["fill_m"] = exp.cast(num(m.fill_lhs), "DOUBLE")
    return tmpl(" UNION ALL ".join(parts), **subs)


def _pair_labels(node: p.Binary, m: VectorMatching, pairs: str, ks_m: str, ks_o: str) -> exp.Expression:
    """(pid, sk, labels) per distinct pair of series: ``resultMetric``.

    The base is the "many" series' labels, or, for a filled "many" side, the signature of the
    "one" series (upstream fills with ``MatchLabels``). Included labels come from the "one"
    series, or from the "many" series' signature when the "one" side was filled.
    """
    base: exp.Expression = tmpl("CASE WHEN p.msk IS NULL THEN os.key ELSE ms.labels END")
    if node.op in ARITHMETIC:
        base = drop_labels(base, METADATA_LABELS)
    if m.card is Cardinality.ONE_TO_ONE:
        base = keep_labels(base, m.matching_labels) if m.on else drop_labels(base, m.matching_labels)
    if m.include:
        source = tmpl("CASE WHEN p.osk IS NULL THEN ms.key ELSE os.labels END")
        base = copy_labels(base, source, m.include)
    inner = tmpl(
        "SELECT p.pid, :labels AS labels FROM (SELECT DISTINCT pid, msk, osk FROM :pairs) AS p "
        "LEFT JOIN :ms AS ms ON ms.sk = p.msk LEFT JOIN :os AS os ON os.sk = p.osk",
        labels=base, pairs=table(pairs), ms=table(ks_m), os=table(ks_o),
    )  # fmt: skip
    return tmpl("SELECT pid, hash(labels) AS sk, labels FROM (:inner)", inner=inner)


def _errors(
    c: Compiler, m: VectorMatching, kp_m: str, kp_o: str, ks_o: str, pairs: str, pair_series: str
) -> exp.Expression:
    """The first matching error, as (t, kind, match group, [two offending label sets])."""
    # Upstream returns early (before any check) when a side is empty and nothing is filled.
    filled = m.fill_lhs is not None or m.fill_rhs is not None
    many_present = (
        exp.true() if filled else tmpl("EXISTS (SELECT 1 FROM :m AS l WHERE l.t = r.t)", m=table(kp_m))
    )
    one_dups = tmpl(
        "SELECT r.t, :kind AS kind, any_value(s.key) AS grp, list(s.labels ORDER BY s.labels)[1:2] AS dups "
        "FROM :o AS r JOIN :s AS s ON s.sk = r.sk WHERE :present GROUP BY r.t, r.kh HAVING count(*) > 1",
        kind=num(_ONE_DUP), o=table(kp_o), s=table(ks_o), present=many_present,
    )  # fmt: skip
    if m.card is Cardinality.ONE_TO_ONE:
        # Two "many" series in one match group, matched or filled (matchedSigsPresent).
        many_dups = tmpl(
            "SELECT t, :kind AS kind, NULL AS grp, NULL AS dups FROM :pairs WHERE msk IS NOT NULL "
            "GROUP BY t, kh HAVING count(*) > 1",
            kind=num(_MANY_DUP), pairs=table(pairs),
        )  # fmt: skip
    else:
        # Two results of one match group with one label set (matchedSigs).
        many_dups = tmpl(
            "SELECT p.t, :kind AS kind, NULL AS grp, NULL AS dups FROM :pairs AS p "
            "JOIN :ps AS ps ON ps.pid = p.pid GROUP BY p.t, p.kh, ps.sk HAVING count(*) > 1",
            kind=num(_MANY_DUP), pairs=table(pairs), ps=table(pair_series),
        )  # fmt: skip
    both = exp.union(one_dups, many_dups, distinct=False)
    return tmpl("SELECT kind, grp, dups FROM :both ORDER BY t, kind LIMIT 1", both=both.subquery("e"))


def _error_message(m: VectorMatching, swapped: bool) -> Any:
    one_side = "left" if swapped else "right"

    def message(row: tuple[Any, ...]) -> str:
        kind, group, dups = row
        if kind == _ONE_DUP:
            # Upstream orders the two series by their printed form for a stable message.
            first, second = sorted(go_labels(d) for d in dups)
            return (
                f"found duplicate series for the match group {go_labels(group)} on the {one_side} hand-side "
                f"of the operation: [{first}, {second}];many-to-many matching not allowed: "
                "matching labels must be unique on one side"
            )
        if m.card is Cardinality.ONE_TO_ONE:
            return (
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
            )
        return "multiple matches for labels: grouping labels must ensure unique matches"

    return message


__all__ = ["ARITHMETIC", "ExecutionError", "keyed_points", "keyed_series", "vector_binop"]
