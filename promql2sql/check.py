"""Type checking after parsing, as upstream's ``checkAST`` does it.

Besides reporting errors (in upstream's order, so the first one matches),
the pass settles vector matching the way upstream does in place: set
operators become many-to-many, and matching is dropped unless both operands
are instant vectors.  It returns the settled tree.
"""

from __future__ import annotations

from dataclasses import replace

from .ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    Cardinality,
    Expr,
    Matcher,
    MatrixSelector,
    ParenExpr,
    SubqueryExpr,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
)
from .errors import PositionRange
from .gostr import go_quote
from .regex import RegexSyntaxError
from .signatures import ValueType

__all__ = ["check_ast"]

_COMPARISONS = frozenset({"==", "!=", "<=", "<", ">=", ">"})
_SET_OPS = frozenset({"and", "or", "unless"})
_SCALAR_PARAM_AGGREGATORS = frozenset({"topk", "bottomk", "quantile", "limitk", "limit_ratio"})
_SPACE = " \t\n\r"
_S, _V = ValueType.SCALAR, ValueType.VECTOR


class _Checker:
    def __init__(self, text: str) -> None:
        self.text = text
        self.errors: list[tuple[str, PositionRange]] = []

    def error(self, message: str, pos: PositionRange) -> None:
        self.errors.append((message, pos))

    def expect(self, node: Expr, want: ValueType, context: str) -> Expr:
        checked = self.check(node)
        if checked.type is not want:
            self.error(
                f"expected type {want.documented} in {context}, got {checked.type.documented}", node.pos
            )
        return checked

    def check(self, node: Expr, *, bypass_empty_check: bool = False) -> Expr:
        if isinstance(node, AggregateExpr):
            return self.aggregate(node)
        if isinstance(node, BinaryExpr):
            return self.binary(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, ParenExpr):
            inner = self.check(node.expr)
            return node if inner is node.expr else replace(node, expr=inner)
        if isinstance(node, UnaryExpr):
            inner = self.check(node.expr)
            if inner.type not in (_S, _V):
                self.error(
                    "unary expression only allowed on expressions of type scalar or instant vector, "
                    f"got {go_quote(inner.type.documented)}",
                    node.pos,
                )
            return node if inner is node.expr else replace(node, expr=inner)
        if isinstance(node, SubqueryExpr):
            inner = self.check(node.expr)
            if inner.type is not _V:
                self.error(
                    f"subquery is only allowed on instant vector, got {inner.type.value} instead", node.pos
                )
            return node if inner is node.expr else replace(node, expr=inner)
        if isinstance(node, MatrixSelector):
            self.selector(node.vector_selector, bypass_empty_check=False)
            return node
        if isinstance(node, VectorSelector):
            self.selector(node, bypass_empty_check=bypass_empty_check)
        return node

    def aggregate(self, node: AggregateExpr) -> Expr:
        inner = self.expect(node.expr, _V, "aggregation expression")
        param = node.param
        if param is not None and node.op in _SCALAR_PARAM_AGGREGATORS:
            param = self.expect(param, _S, "aggregation parameter")
        elif param is not None and node.op == "count_values":
            param = self.expect(param, ValueType.STRING, "aggregation parameter")
        if inner is node.expr and param is node.param:
            return node
        return replace(node, expr=inner, param=param)

    def call(self, node: Call) -> Expr:
        func, args = node.func, node.args
        declared = len(func.arg_types)
        name = go_quote(func.name)
        if func.variadic == 0:
            if declared != len(args):
                self.error(f"expected {declared} argument(s) in call to {name}, got {len(args)}", node.pos)
        elif func.min_args > len(args):
            self.error(
                f"expected at least {func.min_args} argument(s) in call to {name}, got {len(args)}", node.pos
            )
        elif func.max_args is not None and func.max_args < len(args):
            self.error(
                f"expected at most {func.max_args} argument(s) in call to {name}, got {len(args)}", node.pos
            )
        # info()'s second argument is a bare label selector for the info series.
        bypass_index = -1
        if func.name == "info" and len(args) > 1:
            data = args[1]
            if data.type is not _V:
                self.error(
                    f"expected type instant vector in call to function {name}, got {data.type.documented}",
                    node.pos,
                )
            if isinstance(data, VectorSelector) and data.name:
                self.error("expected label selectors only, got vector selector instead", data.pos)
            elif isinstance(data, VectorSelector):
                bypass_index = 1
            else:
                self.error("expected label selectors only", data.pos)
        checked: list[Expr] = []
        for i, arg in enumerate(args):
            if i >= declared and func.variadic == 0:
                checked.extend(args[i:])
                break
            want = func.arg_types[min(i, declared - 1)]
            result = self.check(arg, bypass_empty_check=i == bypass_index)
            if result.type is not want:
                self.error(
                    f"expected type {want.documented} in call to function {name}, got {result.type.documented}",
                    arg.pos,
                )
            checked.append(result)
        if all(new is old for new, old in zip(checked, args, strict=True)):
            return node
        return replace(node, args=tuple(checked))

    def _operator_span(self, node: BinaryExpr) -> PositionRange:
        # The operator with its modifiers, trimmed of surrounding whitespace.
        start, end = node.lhs.pos.end, node.rhs.pos.start - 1
        while start < len(self.text) and self.text[start] in _SPACE:
            start += 1
        while end > 0 and self.text[end] in _SPACE:
            end -= 1
        return PositionRange(start, end)

    def binary(self, node: BinaryExpr) -> Expr:
        # Long chains ("a or b or c ...") are left-deep; walk their spine with a
        # loop so thousands of terms do not exhaust Python's recursion limit.
        # The order of checks (left subtree, right subtree, node) is upstream's.
        spine: list[BinaryExpr] = []
        current: Expr = node
        while isinstance(current, BinaryExpr):
            spine.append(current)
            current = current.lhs
        settled = self.check(current)
        for link in reversed(spine):
            settled = self.binary_node(link, settled, self.check(link.rhs))
        return settled

    def binary_node(self, node: BinaryExpr, lhs: Expr, rhs: Expr) -> BinaryExpr:
        lt, rt = lhs.type, rhs.type
        op, matching = node.op, node.matching
        assert matching is not None
        if node.return_bool and op not in _COMPARISONS:
            self.error("bool modifier can only be used on comparison operators", self._operator_span(node))
        if op in _COMPARISONS and not node.return_bool and lt is _S and rt is _S:
            self.error("comparisons between scalars must use BOOL modifier", self._operator_span(node))
        if op in _SET_OPS and matching.card is Cardinality.ONE_TO_ONE:
            matching = replace(matching, card=Cardinality.MANY_TO_MANY)
        if matching.on:
            for label in matching.matching_labels:
                if label in matching.include:
                    self.error(
                        f"label {go_quote(label)} must not occur in ON and GROUP clause at once",
                        self._operator_span(node),
                    )
        for side, side_type in ((lhs, lt), (rhs, rt)):
            if side_type not in (_S, _V):
                self.error("binary expression must contain only scalar and instant vector types", side.pos)
        has_fill = matching.fill_lhs is not None or matching.fill_rhs is not None
        settled_matching: VectorMatching | None = matching
        if lt is not _V or rt is not _V:
            if matching.matching_labels:
                self.error("vector matching only allowed between instant vectors", node.pos)
            if has_fill:
                self.error("filling in missing series only allowed between instant vectors", node.pos)
            settled_matching = None
        elif op in _SET_OPS:
            if matching.card in (Cardinality.ONE_TO_MANY, Cardinality.MANY_TO_ONE):
                self.error(f"no grouping allowed for {go_quote(op)} operation", node.pos)
            if matching.card is not Cardinality.MANY_TO_MANY:
                self.error("set operations must always be many-to-many", node.pos)
            if has_fill:
                self.error("filling in missing series not allowed for set operators", node.pos)
        if (lt is _S or rt is _S) and op in _SET_OPS:
            self.error(f"set operator {go_quote(op)} not allowed in binary scalar expression", node.pos)
        return replace(node, lhs=lhs, rhs=rhs, matching=settled_matching)

    def selector(self, node: VectorSelector, *, bypass_empty_check: bool) -> None:
        if node.name:
            # The last matcher is the one implied by the name outside the braces.
            for matcher in node.matchers[:-1]:
                if matcher.name == "__name__":
                    self.error(
                        f"metric name must not be set twice: {go_quote(node.name)} or {go_quote(matcher.value)}",
                        node.pos,
                    )
            return
        if bypass_empty_check:
            return
        # Selecting every series by accident (e.g. {job=~".*"}) is refused.
        if not any(not _matches_empty(m) for m in node.matchers):
            self.error("vector selector must contain at least one non-empty matcher", node.pos)


def _matches_empty(matcher: Matcher) -> bool:
    try:
        return matcher.matches("")
    except RegexSyntaxError:
        return False


def check_ast(expr: Expr, text: str) -> tuple[Expr, list[tuple[str, PositionRange]]]:
    """Check ``expr`` (parsed from ``text``); return the settled tree and the errors found."""
    checker = _Checker(text)
    settled = checker.check(expr)
    return settled, checker.errors
