"""Operators that change labels or result order: label_replace, label_join, sort*, absent.

Label changes are computed per series (never per point); a series whose new label set equals
another's keeps one identity (``hash`` of the label MAP).
"""

from __future__ import annotations

import re

import sqlglot.expressions as exp

from .. import plan as p
from ..errors import ExecutionError
from .context import Compiler, Scal, Timeline, Vec, handles, table, tmpl

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _go_to_re2_replacement(repl: str) -> str:
    """Go's Regexp.Expand syntax ($1, ${1}, ${name}, $$) -> DuckDB's regexp_replace (\\1)."""
    out, i = [], 0
    while i < len(repl):
        ch = repl[i]
        if ch == "$" and i + 1 < len(repl):
            if repl[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            m = re.match(r"\{(\w+)\}|(\w+)", repl[i + 1 :])
            if m:
                name = m.group(1) or m.group(2)
                out.append(f"\\{name}" if name.isdigit() and len(name) == 1 else "")
                i += 1 + m.end()
                continue
        out.append("\\\\" if ch == "\\" else ch)
        i += 1
    return "".join(out)


@handles(p.LabelFunction)
def label_function(c: Compiler, node: p.LabelFunction, tl: Timeline) -> Vec:
    arg = c.compile(node.arg, tl)
    assert isinstance(arg, Vec)
    if node.func == "label_replace":
        dst, repl, src, regex = node.strings
        if not _LABEL_NAME.match(dst) and dst != "__name__":
            raise ExecutionError(f'invalid destination label name in label_replace(): {dst}')
        # Fully anchored, dot matches newline: like every Prometheus regex.
        pattern = f"^(?s:{regex})$"
        value = tmpl(
            "CASE WHEN regexp_full_match(coalesce(labels[:src], ''), :pat) "
            "THEN regexp_replace(coalesce(labels[:src], ''), :pat, :repl) END",
            src=exp.Literal.string(src), pat=exp.Literal.string(pattern),
            repl=exp.Literal.string(_go_to_re2_replacement(repl)),
        )  # fmt: skip
        dst_lit = exp.Literal.string(dst)
    else:
        dst, sep, *srcs = node.strings
        if not _LABEL_NAME.match(dst):
            raise ExecutionError(f"invalid destination label name in label_join(): {dst}")
        parts = exp.Array(expressions=[tmpl("coalesce(labels[:s], '')", s=exp.Literal.string(s)) for s in srcs])
        value = tmpl("array_to_string(:parts, :sep)", parts=parts, sep=exp.Literal.string(sep))
        dst_lit = exp.Literal.string(dst)
    # Replace (or remove, when empty) the destination label; keep entries sorted by name.
    new_labels = tmpl(
        "CASE WHEN :value IS NULL THEN labels ELSE map_from_entries(list_sort(list_concat("
        "list_filter(map_entries(labels), lambda e: e.key <> :dst), "
        "CASE WHEN :value = '' THEN [] ELSE [{'key': :dst, 'value': :value}] END))) END",
        value=value, dst=dst_lit,
    )  # fmt: skip
    relabeled = c.cte(
        tmpl("SELECT sk AS old, :labels AS labels, drop_name FROM :s", labels=new_labels, s=table(arg.series)),
        "relabel",
    )
    series = c.cte(tmpl("SELECT DISTINCT hash(labels) AS sk, labels, drop_name FROM :r", r=table(relabeled)), "series")
    points = c.cte(
        tmpl("SELECT hash(r.labels) AS sk, x.t, x.v FROM :x AS x JOIN :r AS r ON r.old = x.sk", x=table(arg.points), r=table(relabeled)),
        node.func,
    )
    return Vec(points, series)


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
    series = c.cte(tmpl("SELECT 0::BIGINT AS sk, map(:k, :v) AS labels, FALSE AS drop_name", k=keys, v=values), "series")
    body = tmpl(
        "SELECT 0::BIGINT AS sk, s.t, 1.0 AS v FROM :steps AS s WHERE NOT EXISTS (SELECT 1 FROM :x AS x WHERE x.t = s.t)",
        steps=table(c.steps(tl)), x=table(arg.points),
    )  # fmt: skip
    return Vec(c.cte(body, "absent"), series)


__all__ = ["Scal"]
