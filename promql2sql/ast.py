"""Typed PromQL syntax tree: frozen, slotted, hashable dataclasses.

The shapes follow Prometheus's ``promql/parser/ast.go`` so the planner can be
checked against upstream behaviour, with three deliberate differences:

* Nodes are immutable.  Where upstream's parser mutates a selector (``offset``,
  ``@``, ``anchored``), ours builds a new one.
* Equality and hashing ignore positions (``pos`` is ``compare=False``): two
  occurrences of ``rate(x[5m])`` are equal, which lets the planner share them.
* Durations are whole milliseconds (``range_ms``, ``offset_ms``...), as the
  engine evaluates them; a duration *expression* (``[5m+step()]``) is kept as a
  :class:`DurationExpr` next to a zero ``*_ms`` value, as upstream does.

Positions are character offsets into the query (see ``errors.position_label``
for Prometheus's byte-based ``line:col``).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from .errors import PositionRange
from .gostr import go_quote
from .regex import compile_matcher_regex
from .signatures import Function, ValueType

__all__ = [
    "AggregateExpr",
    "BinaryExpr",
    "Call",
    "Cardinality",
    "DurationExpr",
    "Expr",
    "Function",
    "MatchOp",
    "Matcher",
    "MatrixSelector",
    "NumberLiteral",
    "ParenExpr",
    "PositionRange",
    "StringLiteral",
    "SubqueryExpr",
    "UnaryExpr",
    "ValueType",
    "VectorMatching",
    "VectorSelector",
    "children",
    "walk",
]

MatchOp: TypeAlias = Literal["=", "!=", "=~", "!~"]
AtPreprocessor: TypeAlias = Literal["start", "end"]
_NO_POS = PositionRange(0, 0)
_LEGACY_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher, ``name op "value"``; ``__name__`` matches the metric name."""

    name: str
    op: MatchOp
    value: str

    def matches(self, value: str) -> bool:
        """Whether a label value satisfies the matcher (regexes are fully anchored)."""
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = compile_matcher_regex(self.value).fullmatch(value) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        # Matcher names that are not legacy-valid are quoted (labels.Matcher.String).
        name = self.name if _LEGACY_NAME.fullmatch(self.name) else go_quote(self.name)
        return f"{name}{self.op}{go_quote(self.value)}"


class Cardinality(enum.Enum):
    """Vector matching cardinality of a binary operation."""

    ONE_TO_ONE = "one-to-one"
    MANY_TO_ONE = "many-to-one"
    ONE_TO_MANY = "one-to-many"
    MANY_TO_MANY = "many-to-many"


def _float_key(value: float | None) -> object:
    # NaN != NaN would make equal trees unequal; compare NaNs by identity of kind.
    if value is not None and math.isnan(value):
        return "NaN"
    return value


@dataclass(frozen=True, slots=True, eq=False)
class VectorMatching:
    """How two instant vectors are matched (``on``/``ignoring``, ``group_*``, ``fill*``)."""

    card: Cardinality = Cardinality.ONE_TO_ONE
    matching_labels: tuple[str, ...] = ()
    on: bool = False
    include: tuple[str, ...] = ()
    fill_lhs: float | None = None
    fill_rhs: float | None = None

    def _key(self) -> tuple[object, ...]:
        return (
            self.card,
            self.matching_labels,
            self.on,
            self.include,
            _float_key(self.fill_lhs),
            _float_key(self.fill_rhs),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VectorMatching) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class NumberLiteral:
    """A float literal; ``duration`` marks one written as a duration (``5m`` is 300)."""

    value: float
    duration: bool = False
    pos: PositionRange = field(default=_NO_POS, compare=False)

    @property
    def type(self) -> ValueType:
        return ValueType.SCALAR

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, NumberLiteral)
            and _float_key(self.value) == _float_key(other.value)
            and self.duration == other.duration
        )

    def __hash__(self) -> int:
        return hash((_float_key(self.value), self.duration))


@dataclass(frozen=True, slots=True, kw_only=True)
class StringLiteral:
    """A string literal, already unquoted."""

    value: str
    pos: PositionRange = field(default=_NO_POS, compare=False)

    @property
    def type(self) -> ValueType:
        return ValueType.STRING


@dataclass(frozen=True, slots=True, kw_only=True)
class DurationExpr:
    """Arithmetic on durations inside ``[...]`` or after ``offset``.

    ``op`` is ``+ - * / % ^`` (binary, or unary with ``lhs`` None), ``step`` or
    ``range`` (no operands), or ``min_of``/``max_of`` (two operands).  ``wrapped``
    records parentheses so the printer can reproduce them.  Operands are
    :class:`NumberLiteral` (in seconds) or nested :class:`DurationExpr`.
    """

    op: Literal["+", "-", "*", "/", "%", "^", "step", "range", "min_of", "max_of"]
    lhs: DurationOperand | None = None
    rhs: DurationOperand | None = None
    wrapped: bool = False
    pos: PositionRange = field(default=_NO_POS, compare=False)

    @property
    def type(self) -> ValueType:
        return ValueType.SCALAR


DurationOperand: TypeAlias = "NumberLiteral | DurationExpr"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class VectorSelector:
    """An instant vector selector with its modifiers.

    ``matchers`` lists the brace matchers in source order followed by the
    ``__name__`` matcher implied by ``name`` (upstream's order).  Equality
    ignores that order.  For a range selector the modifiers live here, on the
    inner selector, as upstream does.
    """

    name: str = ""
    matchers: tuple[Matcher, ...] = ()
    offset_ms: int = 0
    offset_expr: DurationExpr | None = None
    timestamp_ms: int | None = None
    at: AtPreprocessor | None = None
    anchored: bool = False
    smoothed: bool = False
    pos: PositionRange = field(default=_NO_POS, compare=False)

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR

    def _key(self) -> tuple[object, ...]:
        matchers = tuple(sorted(self.matchers, key=lambda m: (m.name, m.op, m.value)))
        return (self.name, matchers, self.offset_ms, self.offset_expr, self.timestamp_ms, self.at,
                self.anchored, self.smoothed)  # fmt: skip

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VectorSelector) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True, slots=True, kw_only=True)
class MatrixSelector:
    """``selector[range]``; offset, ``@`` and anchored/smoothed are on ``vector_selector``."""

    vector_selector: VectorSelector
    range_ms: int = 0
    range_expr: DurationExpr | None = None
    pos: PositionRange = field(default=_NO_POS, compare=False)

    @property
    def type(self) -> ValueType:
        return ValueType.MATRIX


@dataclass(frozen=True, slots=True, kw_only=True)
class SubqueryExpr:
    """``expr[range:step]``; a zero ``step_ms`` without ``step_expr`` means the default step."""

    expr: Expr
    range_ms: int = 0
    range_expr: DurationExpr | None = None
    step_ms: int = 0
    step_expr: DurationExpr | None = None
    offset_ms: int = 0
    offset_expr: DurationExpr | None = None
    timestamp_ms: int | None = None
    at: AtPreprocessor | None = None
    pos: PositionRange = field(default=_NO_POS, compare=False)

    @property
    def type(self) -> ValueType:
        return ValueType.MATRIX


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """A function call; ``func`` is the parser's signature for it."""

    func: Function
    args: tuple[Expr, ...] = ()
    pos: PositionRange = field(default=_NO_POS, compare=False)

    @property
    def type(self) -> ValueType:
        return self.func.return_type


@dataclass(frozen=True, slots=True, kw_only=True)
class AggregateExpr:
    """An aggregation: ``op`` is the lower-case operator (``sum``, ``topk``...)."""

    op: str
    expr: Expr
    param: Expr | None = None
    grouping: tuple[str, ...] = ()
    without: bool = False
    pos: PositionRange = field(default=_NO_POS, compare=False)

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class BinaryExpr:
    """``lhs op rhs``; ``matching`` is None unless both sides are instant vectors."""

    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    matching: VectorMatching | None = None
    pos: PositionRange = field(default=_NO_POS, compare=False)
    # Computed once: chains like "a or b or ..." are thousands deep, and a
    # recursive property would be both slow and recursion-bound.
    _type: ValueType = field(default=ValueType.VECTOR, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        scalar = self.lhs.type is ValueType.SCALAR and self.rhs.type is ValueType.SCALAR
        object.__setattr__(self, "_type", ValueType.SCALAR if scalar else ValueType.VECTOR)

    @property
    def type(self) -> ValueType:
        return self._type

    def _link(self) -> tuple[object, ...]:
        return (self.op, self.return_bool, self.matching, self.rhs)

    def __eq__(self, other: object) -> bool:
        # Compare along the left spine with a loop (see _type).
        if not isinstance(other, BinaryExpr):
            return NotImplemented
        left: Expr = self
        right: Expr = other
        while isinstance(left, BinaryExpr) and isinstance(right, BinaryExpr):
            if left is right:
                return True
            if left._link() != right._link():
                return False
            left, right = left.lhs, right.lhs
        return left == right

    def __hash__(self) -> int:
        links: list[BinaryExpr] = []
        node: Expr = self
        while isinstance(node, BinaryExpr):
            links.append(node)
            node = node.lhs
        value = hash(node)
        for link in reversed(links):
            value = hash((value, *link._link()))
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class UnaryExpr:
    """``-expr`` or ``+expr`` (a sign on a number literal is folded into the literal)."""

    op: Literal["+", "-"]
    expr: Expr
    pos: PositionRange = field(default=_NO_POS, compare=False)

    @property
    def type(self) -> ValueType:
        return self.expr.type


@dataclass(frozen=True, slots=True, kw_only=True)
class ParenExpr:
    """``(expr)``, kept so printing preserves the user's grouping."""

    expr: Expr
    pos: PositionRange = field(default=_NO_POS, compare=False)

    @property
    def type(self) -> ValueType:
        return self.expr.type


Expr: TypeAlias = (
    NumberLiteral
    | StringLiteral
    | VectorSelector
    | MatrixSelector
    | SubqueryExpr
    | Call
    | AggregateExpr
    | BinaryExpr
    | UnaryExpr
    | ParenExpr
    | DurationExpr
)


def children(node: Expr) -> tuple[Expr, ...]:
    """Direct sub-expressions in upstream's order (duration expressions are not visited)."""
    if isinstance(node, AggregateExpr):
        return (node.expr,) if node.param is None else (node.expr, node.param)
    if isinstance(node, BinaryExpr):
        return (node.lhs, node.rhs)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, SubqueryExpr | ParenExpr | UnaryExpr):
        return (node.expr,)
    if isinstance(node, MatrixSelector):
        return (node.vector_selector,)
    return ()


def walk(node: Expr) -> Iterator[Expr]:
    """All nodes of the tree, parents before children (upstream's Inspect order)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))
