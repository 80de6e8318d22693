"""Operators that change labels or result order: label_replace, label_join, sort*, absent.

Label changes are computed per series (never per point); a series whose new label set equals
another's keeps one identity (``hash`` of the label MAP).
"""

from __future__ import annotations

import unicodedata

import sqlglot.expressions as exp

from .. import plan as p
from ..errors import ExecutionError
from ..regex import RegexSyntaxError, compile_matcher_regex
from .context import Compiler, Scal, Timeline, Vec, handles, table, tmpl

_NATURAL_CHUNKS = "[0-9]+|[^0-9]+"


def valid_label_name(name: str) -> bool:
    """``model.UTF8Validation.IsValidLabelName``: any non-empty valid UTF-8 string.

    Bytes that are not UTF-8 reach us as lone surrogates (see ``gostr``)."""
    return bool(name) and not any("\ud800" <= ch <= "\udfff" for ch in name)


def _template_parts(repl: str, group_names: dict[str, int], groups: int) -> list[str | int]:
    """Go's ``Regexp.Expand`` template as literal strings and group numbers (``regexp.expand``).

    ``$$`` is a dollar; ``$name``/``${name}`` take the longest run of letters, digits and ``_``;
    a number without leading zeros is a group index, anything else a group name; unknown or
    out-of-range groups expand to nothing; a malformed reference is kept as literal ``$``.
    """
    parts: list[str | int] = []
    lit: list[str] = []
    i = 0
    while i < len(repl):
        ch = repl[i]
        if ch != "$":
            lit.append(ch)
            i += 1
            continue
        if repl[i + 1 : i + 2] == "$":
            lit.append("$")
            i += 2
            continue
        j = i + 1
        brace = repl[j : j + 1] == "{"
        if brace:
            j += 1
        k = j
        while k < len(repl) and (
            repl[k] == "_" or unicodedata.category(repl[k])[0] == "L" or unicodedata.category(repl[k]) == "Nd"
        ):
            k += 1
        name = repl[j:k]
        if not name or (brace and repl[k : k + 1] != "}"):
            lit.append("$")
            i += 1
            continue
        i = k + 1 if brace else k
        if name.isascii() and name.isdigit() and not (name[0] == "0" and len(name) > 1):
            index = int(name)
        else:
            index = group_names.get(name, -1)
        if 0 <= index <= groups:
            parts.append("".join(lit))
            lit = []
            parts.append(index)
    parts.append("".join(lit))
    return [x for x in parts if x != ""]


def _replace_value(src: str, repl: str, regex: str) -> exp.Expression:
    """label_replace's new value for a series, NULL where the regex does not match."""
    try:
        compiled = compile_matcher_regex(regex)
    except RegexSyntaxError as err:
        raise ExecutionError(f"invalid regular expression in label_replace(): {regex}") from err
    # Fully anchored, dot matches newline: like every Prometheus regex.
    pattern = exp.Literal.string(f"^(?s:{regex})$")
    src_value = tmpl("coalesce(labels[:src], '')", src=exp.Literal.string(src))
    names = [f"g{i}" for i in range(1, compiled.groups + 1)]
    groups = tmpl(
        "regexp_extract(:v, :pat, :names)", v=src_value, pat=pattern,
        names=exp.Array(expressions=[exp.Literal.string(n) for n in names]),
    )  # fmt: skip
    pieces: list[exp.Expression] = []
    for part in _template_parts(repl, dict(compiled.groupindex), compiled.groups):
        if isinstance(part, str):
            pieces.append(exp.Literal.string(part))
        elif part == 0:
            pieces.append(src_value.copy())  # the whole (anchored) match
        else:
            pieces.append(
                tmpl("struct_extract(:g, :n)", g=groups.copy(), n=exp.Literal.string(names[part - 1]))
            )
    expanded = exp.func("concat", *pieces) if pieces else exp.Literal.string("")
    return tmpl(
        "CASE WHEN regexp_full_match(:v, :pat) THEN :expanded END",
        v=src_value,
        pat=pattern,
        expanded=expanded,
    )


@handles(p.LabelFunction)
def label_function(c: Compiler, node: p.LabelFunction, tl: Timeline) -> Vec:
    arg = c.compile(node.arg, tl)
    assert isinstance(arg, Vec)
    if node.func == "label_replace":
        dst, repl, src, regex = node.strings
        value = _replace_value(src, repl, regex)
        if not valid_label_name(dst):
            raise ExecutionError(f"invalid destination label name in label_replace(): {dst}")
    else:
        dst, sep, *srcs = node.strings
        for s in srcs:
            if not valid_label_name(s):
                raise ExecutionError(f"invalid source label name in label_join(): {s}")
        if not valid_label_name(dst):
            raise ExecutionError(f"invalid destination label name in label_join(): {dst}")
        parts = exp.Array(
            expressions=[tmpl("coalesce(labels[:s], '')", s=exp.Literal.string(s)) for s in srcs]
        )
        value = tmpl("array_to_string(:parts, :sep)", parts=parts, sep=exp.Literal.string(sep))
    dst_lit = exp.Literal.string(dst)
    # Replace (or remove, when empty) the destination label; keep entries sorted by name.
    new_labels = tmpl(
        "CASE WHEN :value IS NULL THEN labels ELSE map_from_entries(list_sort(list_concat("
        "list_filter(map_entries(labels), lambda e: e.key <> :dst), "
        "CASE WHEN :value = '' THEN [] ELSE [{'key': :dst, 'value': :value}] END))) END",
        value=value, dst=dst_lit,
    )  # fmt: skip
    # Writing __name__ keeps the new name through delayed name removal (evalLabelReplace).
    drop = (
        tmpl("CASE WHEN :value IS NOT NULL THEN FALSE ELSE drop_name END", value=value.copy())
        if dst == "__name__"
        else exp.column("drop_name")
    )
    relabeled = c.cte(
        tmpl(
            "SELECT sk AS old, hash(labels) AS sk, labels, drop_name FROM "
            "(SELECT sk, :labels AS labels, :drop AS drop_name FROM :s)",
            labels=new_labels,
            drop=drop,
            s=table(arg.series),
        ),
        "relabel",
    )
    # One label set is one series (mergeSeriesWithSameLabelset); its pending drop is kept if
    # any merged series had one.
    series = c.cte(
        tmpl(
            "SELECT sk, any_value(labels) AS labels, bool_or(drop_name) AS drop_name FROM :r GROUP BY sk",
            r=table(relabeled),
        ),
        "series",
    )
    points = c.cte(
        tmpl(
            "SELECT r.sk, x.t, x.v FROM :x AS x JOIN :r AS r ON r.old = x.sk",
            x=table(arg.points),
            r=table(relabeled),
        ),
        node.func,
    )
    # Two merged series with a sample at one step is upstream's overlap error.
    c.assertions.append((
        tmpl("SELECT 1 FROM :p GROUP BY sk, t HAVING count(*) > 1 LIMIT 1", p=table(points)),
        "vector cannot contain metrics with the same labelset",
    ))  # fmt: skip
    return Vec(points, series)


def natural_sort_key(value: exp.Expression) -> exp.Expression:
    """A sort key giving ``natsort.Compare``'s order (github.com/facette/natsort, as vendored).

    The string is cut into runs of digits and of non-digits; runs compare in turn, two digit
    runs by their integer value, anything else bytewise; a prefix sorts first. A digit run is
    keyed as ('0', value): against a non-digit run only its first byte matters, and every
    digit compares the same way against a non-digit byte. Runs too long for int64 are
    compared as text, as Go's ``strconv.Atoi`` fails on them.
    """
    return tmpl(
        "list_transform(regexp_extract_all(:v, :chunks), lambda ch: CASE "
        "WHEN regexp_full_match(ch, '[0-9]+') AND TRY_CAST(ch AS BIGINT) IS NOT NULL "
        "THEN {'p': '0', 'n': TRY_CAST(ch AS BIGINT)} ELSE {'p': ch, 'n': 0::BIGINT} END)",
        v=value, chunks=exp.Literal.string(_NATURAL_CHUNKS),
    )  # fmt: skip


@handles(p.Sort)
def sort(c: Compiler, node: p.Sort, tl: Timeline) -> Vec:
    # Ordering is applied to the final result (engine._final_select); values pass through.
    arg = c.compile(node.arg, tl)
    assert isinstance(arg, Vec)
    c.ordering = node
    return arg


@handles(p.Absent)
def absent(c: Compiler, node: p.Absent, tl: Timeline) -> Vec:
    arg = c.compile(node.arg, tl)
    if not isinstance(arg, Vec):
        raise ExecutionError("absent() expects an instant vector")
    keys = exp.Array(expressions=[exp.Literal.string(k) for k, _ in node.labels])
    values = exp.Array(expressions=[exp.Literal.string(v) for _, v in node.labels])
    series = c.cte(
        tmpl("SELECT 0::BIGINT AS sk, map(:k, :v) AS labels, FALSE AS drop_name", k=keys, v=values), "series"
    )
    body = tmpl(
        "SELECT 0::BIGINT AS sk, s.t, 1.0 AS v FROM :steps AS s WHERE NOT EXISTS (SELECT 1 FROM :x AS x WHERE x.t = s.t)",
        steps=table(c.steps(tl)), x=table(arg.points),
    )  # fmt: skip
    return Vec(c.cte(body, "absent"), series)


__all__ = ["Scal"]
