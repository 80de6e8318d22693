"""Label-set helpers shared by the operators that rebuild labels: SQL on label MAPs, Go texts.

Labels are MAP(VARCHAR, VARCHAR) with entries sorted by name (see ``context``); every helper
here keeps that order, so equal label sets stay equal MAPs. The SQL helpers run once per
series. ``go_labels`` renders a label set the way Go's ``labels.Labels.String()`` does, for
error messages that list series (``found duplicate series for the match group ...``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import sqlglot.expressions as exp

from ..gostr import go_quote
from .context import tmpl

# __name__ and the type-and-unit metadata labels travel together (schema.IsMetadataLabel).
METADATA_LABELS = ("__name__", "__type__", "__unit__")

_LEGACY_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def names_array(names: Iterable[str]) -> exp.Expression:
    """A VARCHAR[] literal (typed, so an empty list still binds in ``list_contains``)."""
    return exp.cast(exp.Array(expressions=[exp.Literal.string(n) for n in names]), "VARCHAR[]")


def keep_labels(labels: exp.Expression, names: Iterable[str]) -> exp.Expression:
    """Only the named labels (``labels.Builder.Keep``)."""
    return tmpl(
        "map_from_entries(list_filter(map_entries(:labels), lambda e: list_contains(:names, e.key)))",
        labels=labels, names=names_array(names),
    )  # fmt: skip


def drop_labels(labels: exp.Expression, names: Iterable[str]) -> exp.Expression:
    """Every label but the named ones (``labels.Builder.Del``)."""
    return tmpl(
        "map_from_entries(list_filter(map_entries(:labels), lambda e: NOT list_contains(:names, e.key)))",
        labels=labels, names=names_array(names),
    )  # fmt: skip


def signature(labels: exp.Expression, names: Iterable[str], on: bool) -> exp.Expression:
    """The vector-matching signature (``Labels.MatchLabels``): ``on`` keeps the names,
    ``ignoring`` drops them and ``__name__``."""
    return keep_labels(labels, names) if on else drop_labels(labels, ["__name__", *names])


def copy_labels(labels: exp.Expression, source: exp.Expression, names: Iterable[str]) -> exp.Expression:
    """``labels`` with each named label set from ``source``, or removed where ``source`` has
    no (or an empty) value: the ``group_left(<names>)`` include rule of ``resultMetric``."""
    arr = names_array(names)
    return tmpl(
        "map_from_entries(list_sort(list_concat("
        "list_filter(map_entries(:labels), lambda e: NOT list_contains(:names, e.key)), "
        "list_filter(map_entries(:source), lambda e: list_contains(:names, e.key) AND e.value <> ''))))",
        labels=labels, source=source, names=arr,
    )  # fmt: skip


def go_label_name(name: str) -> str:
    return name if _LEGACY_NAME.match(name) else go_quote(name)


def go_labels(labels: Mapping[str, str] | None) -> str:
    """``labels.Labels.String()``: ``{a="1", b="2"}``, names sorted, values Go-quoted."""
    items = sorted((labels or {}).items())
    return "{" + ", ".join(f"{go_label_name(k)}={go_quote(v)}" for k, v in items) + "}"
