"""The typed plan: a few named PromQL operators between the AST and a backend.

The planner (``planner.py``) resolves what the AST leaves open (``@ start()``, duration
expressions, the default subquery step, function lookups) so a backend only lowers these
operators. Nodes are frozen and hashable, so a subtree used twice is compiled once.
``explain(plan)`` prints the tree for golden files and ``promlake translate --plan``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TypeAlias

from .ast import Matcher, VectorMatching
from .signatures import ValueType


@dataclass(frozen=True, slots=True)
class Literal:
    """A scalar constant."""

    value: float
    type = ValueType.SCALAR


@dataclass(frozen=True, slots=True)
class StringValue:
    value: str
    type = ValueType.STRING


@dataclass(frozen=True, slots=True)
class StepTime:
    """``time()``: the evaluation time of each step, in seconds."""

    type = ValueType.SCALAR


@dataclass(frozen=True, slots=True)
class InstantSelect:
    """Instant alignment: at each step, the newest sample within the lookback window.

    ``at_ms`` pins the evaluation time (``@``); ``offset_ms`` shifts it back. A stale marker
    as the newest sample means "no value", as in Prometheus.
    """

    matchers: tuple[Matcher, ...]
    offset_ms: int
    at_ms: int | None
    lookback_ms: int
    smoothed: bool = False  # ``x smoothed``: interpolated between the samples around each step
    with_st: bool | None = None  # True: points also carry the sample's st (start_timestamp())
    type = ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class RangeSelect:
    """A range window: the samples in ``(t - range, t]`` of each step (stale markers dropped)."""

    matchers: tuple[Matcher, ...]
    range_ms: int
    offset_ms: int
    at_ms: int | None
    # Experimental ``anchored`` / ``smoothed`` windows also read samples up to one lookback
    # delta before the range (and, smoothed, after it): ``lookback_ms`` says how far.
    anchored: bool = False
    smoothed: bool = False
    lookback_ms: int = 0
    type = ValueType.MATRIX


@dataclass(frozen=True, slots=True)
class Subquery:
    """``inner[range:step]``: the inner expression evaluated at step-aligned times, as a matrix."""

    inner: Node
    range_ms: int
    step_ms: int
    offset_ms: int
    at_ms: int | None
    type = ValueType.MATRIX


@dataclass(frozen=True, slots=True)
class RangeFunction:
    """A function of a range vector (``rate``, ``*_over_time``, ...), one value per window."""

    func: str
    matrix: RangeSelect | Subquery
    params: tuple[Node, ...] = ()
    arg_pos: tuple[str, ...] = ()  # ``line:col`` of each call argument, for annotations
    type = ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class Elementwise:
    """A per-sample function of an instant vector (math, clamp, round, date parts, ...)."""

    func: str
    arg: Node
    params: tuple[Node, ...] = ()
    type = ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class ScalarFunction:
    """A function returning a scalar (``scalar(v)``, ``pi()``)."""

    func: str
    args: tuple[Node, ...] = ()
    type = ValueType.SCALAR


@dataclass(frozen=True, slots=True)
class VectorOf:
    """``vector(s)``: a one-series, label-less vector."""

    arg: Node
    type = ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class LabelFunction:
    """``label_replace`` / ``label_join``: new labels per series, values untouched."""

    func: str
    arg: Node
    strings: tuple[str, ...]
    type = ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class Aggregate:
    """``op [by|without (labels)] (param, expr)``.

    ``param_pos`` is the ``line:col`` of the parameter, cited by its annotations.
    """

    op: str
    arg: Node
    grouping: tuple[str, ...]
    without: bool
    param: Node | None = None
    param_pos: str = ""
    type = ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic, comparison and set operators on scalars and vectors."""

    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    matching: VectorMatching | None = None

    @property
    def type(self) -> ValueType:
        if self.lhs.type is ValueType.SCALAR and self.rhs.type is ValueType.SCALAR:
            return ValueType.SCALAR
        return ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class Absent:
    """``absent(v)`` / ``absent_over_time(m)``: one series with ``labels`` where ``arg`` is empty."""

    arg: Node
    labels: tuple[tuple[str, str], ...]
    type = ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class Sort:
    """Ordering of an instant query's result (``sort``, ``sort_desc``, ``sort_by_label*``)."""

    arg: Node
    desc: bool
    by_labels: tuple[str, ...] = ()
    type = ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class HistogramFold:
    """Classic histograms: series grouped by every label but ``le``, buckets folded per step.

    ``func`` is ``quantile`` (``params``: the quantiles; ``quantile_label`` names the label
    ``histogram_quantiles`` adds) or ``fraction`` (``params``: lower, upper). ``arg_pos`` and
    ``param_pos`` are the ``line:col`` positions annotations cite.
    """

    func: str
    arg: Node
    params: tuple[Node, ...]
    quantile_label: str | None = None
    arg_pos: str = ""
    param_pos: tuple[str, ...] = ()
    type = ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class Info:
    """``info(v, {selector})``: ``arg`` enriched with data labels of matching info series.

    ``info_series`` selects the info metrics, aligned like the first argument (its @ and
    offset); ``name_matchers`` tell which ``arg`` series are info series themselves (left
    alone); ``data_labels`` limits the labels added (empty: all); ``drop_unmatched`` drops a
    sample no info series matched (a data matcher rejects the empty value).
    """

    arg: Node
    info_series: InstantSelect
    name_matchers: tuple[Matcher, ...]
    data_labels: tuple[str, ...]
    drop_unmatched: bool
    type = ValueType.VECTOR


Node: TypeAlias = (
    Literal | StringValue | StepTime | InstantSelect | RangeSelect | Subquery | RangeFunction
    | Elementwise | ScalarFunction | VectorOf | LabelFunction | Aggregate | Binary | Absent | Sort
    | HistogramFold | Info
)  # fmt: skip


def explain(node: Node, indent: int = 0) -> str:
    """An indented, deterministic dump of the plan (one operator per line)."""
    pad = "  " * indent
    attrs = []
    kids: list[Node] = []
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple) and value and all(_is_node(v) for v in value):
            kids.extend(value)
        elif _is_node(value):
            kids.append(value)
        elif value is not None and value != ():
            attrs.append(f"{f.name}={_fmt(value)}")
    line = f"{pad}{type(node).__name__}[{node.type.value}]" + (f" {' '.join(attrs)}" if attrs else "")
    return "\n".join([line, *(explain(k, indent + 1) for k in kids)])


def _is_node(v: object) -> bool:
    return type(v).__module__ == __name__ and not isinstance(v, type)


def _fmt(v: object) -> str:
    if isinstance(v, tuple) and v and isinstance(v[0], Matcher):
        return "{" + ", ".join(str(m) for m in v) + "}"
    if isinstance(v, VectorMatching):
        on = "on" if v.on else "ignoring"
        s = f"{v.card.value} {on}({', '.join(v.matching_labels)})"
        s += f" include({', '.join(v.include)})" if v.include else ""
        s += f" fill_left({v.fill_lhs!r})" if v.fill_lhs is not None else ""
        return s + (f" fill_right({v.fill_rhs!r})" if v.fill_rhs is not None else "")
    return repr(v)
