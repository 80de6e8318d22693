"""PromQL parser: query text to a typed :mod:`~promlake.promql2sql.ast` tree.

A hand-written precedence-climbing parser reproducing Prometheus 3.14's yacc
grammar (``promql/parser/generated_parser.y``), its type checks
(``checkAST``, in :mod:`.check`) and its error messages, positions included.

>>> parse_expr("sum by (job) (rate(http_requests_total[5m]))").type
<ValueType.VECTOR: 'vector'>
>>> parse_expr("foo{")
Traceback (most recent call last):
  ...
promlake.promql2sql.errors.ParseError: 1:5: parse error: unexpected end of input inside braces

Binding, loosest first: ``or``; ``and unless``; comparisons and ``</ >/``;
``+ -``; ``* / % atan2``; unary ``+ -``; ``^`` (right-associative); then the
postfix modifiers ``[range]``, ``[range:step]``, ``offset``, ``@``,
``anchored`` and ``smoothed``, which attach to the closest operand.
"""

from __future__ import annotations

from .ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    Cardinality,
    Expr,
    Matcher,
    MatchOp,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
)
from .check import check_ast
from .durations import format_duration, parse_duration
from .errors import ParseError, PositionRange
from .gostr import go_quote
from .modifiers import apply_at, apply_extended, apply_offset, apply_range
from .parse_base import ParserBase, ParserOptions, _Stop
from .parse_durations import parse_offset_duration
from .regex import RegexSyntaxError, check_regex
from .series import parse_series_desc
from .signatures import EXPERIMENTAL_AGGREGATORS, PARAM_AGGREGATORS, Function, ValueType, get_function
from .tokens import SPELLING, Tok, Token, is_aggregator

__all__ = ["ParserOptions", "format_duration", "parse_duration", "parse_expr", "parse_series_desc"]

_BINARY_PREC = {
    Tok.LOR: 1,
    Tok.LAND: 2,
    Tok.LUNLESS: 2,
    Tok.EQLC: 3,
    Tok.NEQ: 3,
    Tok.LTE: 3,
    Tok.LSS: 3,
    Tok.GTE: 3,
    Tok.GTR: 3,
    Tok.TRIM_UPPER: 3,
    Tok.TRIM_LOWER: 3,
    Tok.ADD: 4,
    Tok.SUB: 4,
    Tok.MUL: 5,
    Tok.DIV: 5,
    Tok.MOD: 5,
    Tok.ATAN2: 5,
    Tok.POW: 6,
}
_POW_PREC = 6
_MATCH_OPS: dict[Tok, MatchOp] = {Tok.EQL: "=", Tok.NEQ: "!=", Tok.EQL_REGEX: "=~", Tok.NEQ_REGEX: "!~"}
# Keywords that may still name a metric where an expression starts.
_METRIC_KEYWORDS = frozenset({
    Tok.BY, Tok.WITHOUT, Tok.FILL, Tok.FILL_LEFT, Tok.FILL_RIGHT, Tok.LAND, Tok.LOR, Tok.LUNLESS,
    Tok.OFFSET, Tok.ANCHORED, Tok.SMOOTHED, Tok.METRIC_IDENTIFIER, Tok.IDENTIFIER,
})  # fmt: skip
# Words that are functions when "(" follows and metric names otherwise.
_FUNCTION_KEYWORDS = frozenset({Tok.START, Tok.END, Tok.STEP, Tok.RANGE, Tok.MAX_OF, Tok.MIN_OF})
# Keywords accepted as label names in by(...), on(...) and friends (upstream's maybe_label).
_LABEL_KEYWORDS = frozenset({
    Tok.AVG, Tok.BOOL, Tok.BOTTOMK, Tok.BY, Tok.COUNT, Tok.COUNT_VALUES, Tok.GROUP, Tok.GROUP_LEFT,
    Tok.GROUP_RIGHT, Tok.FILL, Tok.FILL_LEFT, Tok.FILL_RIGHT, Tok.IDENTIFIER, Tok.IGNORING, Tok.LAND,
    Tok.LOR, Tok.LUNLESS, Tok.MAX, Tok.METRIC_IDENTIFIER, Tok.MIN, Tok.OFFSET, Tok.ON, Tok.QUANTILE,
    Tok.STDDEV, Tok.STDVAR, Tok.SUM, Tok.TOPK, Tok.START, Tok.END, Tok.ATAN2, Tok.LIMITK,
    Tok.LIMIT_RATIO, Tok.STEP, Tok.RANGE, Tok.ANCHORED, Tok.SMOOTHED, Tok.MAX_OF, Tok.MIN_OF,
})  # fmt: skip
_FILL_KINDS = (Tok.FILL, Tok.FILL_LEFT, Tok.FILL_RIGHT)
# Tokens that can start an expression (upstream's FIRST(expr)).
_EXPR_START = frozenset(
    _METRIC_KEYWORDS
    | _FUNCTION_KEYWORDS
    | {Tok.NUMBER, Tok.DURATION, Tok.STRING, Tok.LEFT_PAREN, Tok.LEFT_BRACE, Tok.ADD, Tok.SUB}
    | {kind for kind in Tok if is_aggregator(kind)}
)
_AFTER_GROUP_MODIFIER = _EXPR_START | frozenset(_FILL_KINDS)
_PLACEHOLDER = NumberLiteral(value=0.0)
_TOO_DEEP = "expression is nested too deeply"


def _span(first: Token, last: Token) -> PositionRange:
    return PositionRange(first.pos, last.end)


def _valid_label_name(name: str) -> bool:
    # UTF-8 validation mode: any non-empty valid UTF-8 string is a label name.
    return name != "" and not any("\ud800" <= ch <= "\udfff" for ch in name)


class _ExprParser(ParserBase):
    def parse(self) -> Expr:
        if self.peek().kind is Tok.EOF:
            self.error("no expression found in input", PositionRange(0, 0))
            raise _Stop
        expr = self.binary(0)
        if self.peek().kind is not Tok.EOF:
            self.unexpected()
        return expr

    # --- operators ----------------------------------------------------------------
    def binary(self, min_prec: int) -> Expr:
        lhs = self.unary()
        while True:
            op = self.peek()
            prec = _BINARY_PREC.get(op.kind)
            if prec is None or prec < min_prec:
                return lhs
            self.advance()
            matching, return_bool = self.bin_modifiers()
            # "^" is right-associative; everything else associates to the left.
            rhs = self.binary(prec if op.kind is Tok.POW else prec + 1)
            lhs = self.new_binary(op, lhs, rhs, matching, return_bool)

    def new_binary(
        self, op: Token, lhs: Expr, rhs: Expr, matching: VectorMatching, return_bool: bool
    ) -> BinaryExpr:
        node = BinaryExpr(
            op=SPELLING[op.kind],
            lhs=lhs,
            rhs=rhs,
            return_bool=return_bool,
            matching=matching,
            pos=PositionRange(lhs.pos.start, rhs.pos.end),
        )
        has_fill = matching.fill_lhs is not None or matching.fill_rhs is not None
        if has_fill and not self.options.binop_fill_modifiers:
            self.error("binop fill modifiers are experimental and not enabled", node.pos)
        return node

    def bin_modifiers(self) -> tuple[VectorMatching, bool]:
        """``[bool] [on|ignoring (..) [group_left|group_right [(..)]]] [fill*(..)]``."""
        return_bool = False
        if self.at(Tok.BOOL):
            self.advance()
            return_bool = True
        card, on = Cardinality.ONE_TO_ONE, False
        labels: tuple[str, ...] = ()
        include: tuple[str, ...] = ()
        if self.at(Tok.ON, Tok.IGNORING):
            on = self.advance().kind is Tok.ON
            labels = self.grouping_labels()
            if self.at(Tok.GROUP_LEFT, Tok.GROUP_RIGHT):
                left = self.advance().kind is Tok.GROUP_LEFT
                card = Cardinality.MANY_TO_ONE if left else Cardinality.ONE_TO_MANY
                # "(" right after group_x is its label list, never the operand.
                # goyacc takes no default reduction in a state that can shift
                # "error", so anything but an operand or fill() here is
                # reported as a bad grouping list.
                if self.at(Tok.LEFT_PAREN) or self.peek().kind not in _AFTER_GROUP_MODIFIER:
                    include = self.grouping_labels()
        fill_lhs = fill_rhs = None
        if self.at(*_FILL_KINDS):
            first = self.advance().kind
            value = self.fill_value()
            if first is Tok.FILL:
                fill_lhs = fill_rhs = value
            else:
                other = Tok.FILL_RIGHT if first is Tok.FILL_LEFT else Tok.FILL_LEFT
                second = None
                if self.at(other):
                    self.advance()
                    second = self.fill_value()
                fill_lhs, fill_rhs = (value, second) if first is Tok.FILL_LEFT else (second, value)
        matching = VectorMatching(card, labels, on, include, fill_lhs, fill_rhs)
        return matching, return_bool

    def fill_value(self) -> float:
        self.expect(Tok.LEFT_PAREN)
        sign = self.advance() if self.at(Tok.ADD, Tok.SUB) else None
        if not self.at(Tok.NUMBER, Tok.DURATION):
            self.unexpected()
        value = self.number_literal().value
        self.expect(Tok.RIGHT_PAREN)
        return -value if sign is not None and sign.kind is Tok.SUB else value

    def unary(self) -> Expr:
        sign = self.peek()
        if sign.kind not in (Tok.ADD, Tok.SUB):
            return self.postfix(self.primary())
        self.advance()
        # A sign binds like "*": only "^" (and postfix modifiers) bind tighter.
        operand = self.binary(_POW_PREC)
        if isinstance(operand, NumberLiteral):
            value = -operand.value if sign.kind is Tok.SUB else operand.value
            return NumberLiteral(
                value=value, duration=operand.duration, pos=PositionRange(sign.pos, operand.pos.end)
            )
        return UnaryExpr(
            op="-" if sign.kind is Tok.SUB else "+",
            expr=operand,
            pos=PositionRange(sign.pos, operand.pos.end),
        )

    def postfix(self, expr: Expr) -> Expr:
        while True:
            kind = self.peek().kind
            if kind is Tok.LEFT_BRACKET:
                expr = apply_range(self, expr)
            elif kind is Tok.OFFSET:
                self.advance()
                with self.context("offset", "number, duration, step(), or range()"):
                    duration = parse_offset_duration(self)
                expr = apply_offset(self, expr, duration)
            elif kind is Tok.AT:
                expr = apply_at(self, expr)
            elif kind in (Tok.ANCHORED, Tok.SMOOTHED):
                self.advance()
                expr = apply_extended(self, expr, "anchored" if kind is Tok.ANCHORED else "smoothed")
            else:
                return expr

    # --- operands -----------------------------------------------------------------
    def primary(self) -> Expr:
        tok = self.peek()
        kind = tok.kind
        if kind in (Tok.NUMBER, Tok.DURATION):
            return self.number_literal()
        if kind is Tok.STRING:
            self.advance()
            return StringLiteral(value=self.unquote(tok), pos=PositionRange(tok.pos, tok.end))
        if kind is Tok.LEFT_PAREN:
            self.advance()
            inner = self.binary(0)
            close = self.expect(Tok.RIGHT_PAREN)
            return ParenExpr(expr=inner, pos=_span(tok, close))
        if kind is Tok.LEFT_BRACE:
            return self.vector_selector(None)
        follows = self.peek2().kind
        if kind is Tok.IDENTIFIER or kind in _FUNCTION_KEYWORDS:
            if follows is Tok.LEFT_PAREN:
                return self.call()
            return self.vector_selector(self.advance())
        if is_aggregator(kind):
            if follows in (Tok.LEFT_PAREN, Tok.BY, Tok.WITHOUT):
                return self.aggregate()
            return self.vector_selector(self.advance())
        if kind in _METRIC_KEYWORDS:
            return self.vector_selector(self.advance())
        self.unexpected()
        raise AssertionError("unreachable")

    def call(self) -> Call:
        name = self.advance()
        # Upstream looks the name up when the whole call is reduced, so errors
        # inside the arguments are reported first.
        args = self.call_args()
        func = get_function(name.val)
        if func is None:
            self.error(f"unknown function with name {go_quote(name.val)}", _span(name, name))
            func = Function(name.val, (), ValueType.VECTOR)
        elif func.experimental and not self.options.experimental_functions:
            self.error(f"function {go_quote(name.val)} is not enabled", _span(name, name))
        return Call(func=func, args=tuple(args), pos=PositionRange(name.pos, self.last_closing))

    def call_args(self) -> list[Expr]:
        self.expect(Tok.LEFT_PAREN)
        args: list[Expr] = []
        if not self.at(Tok.RIGHT_PAREN):
            args.append(self.binary(0))
            while self.at(Tok.COMMA):
                comma = self.advance()
                if self.peek().kind not in _EXPR_START:
                    # Upstream reduces "args ," as a trailing comma before it
                    # looks at what follows, so this error always comes first.
                    self.error("trailing commas not allowed in function call args", _span(comma, comma))
                    if not self.at(Tok.RIGHT_PAREN):
                        raise _Stop
                    break
                args.append(self.binary(0))
        self.expect(Tok.RIGHT_PAREN)
        return args

    def aggregate(self) -> Expr:
        op_tok = self.advance()
        op = SPELLING[op_tok.kind]
        grouping: tuple[str, ...] = ()
        without = False
        with self.context("aggregation", ""):
            if self.at(Tok.BY, Tok.WITHOUT):
                without = self.advance().kind is Tok.WITHOUT
                grouping = self.grouping_labels()
                args = self.call_args()
            else:
                args = self.call_args()
                if self.at(Tok.BY, Tok.WITHOUT):
                    without = self.advance().kind is Tok.WITHOUT
                    grouping = self.grouping_labels()
        pos = PositionRange(op_tok.pos, self.last_closing)
        if not args:
            self.error("no arguments for aggregate expression provided", pos)
            return _PLACEHOLDER
        wanted = 1
        param: Expr | None = None
        if op in PARAM_AGGREGATORS:
            if op in EXPERIMENTAL_AGGREGATORS and not self.options.experimental_functions:
                self.error(
                    f"{op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions",
                    pos,
                )
                return _PLACEHOLDER
            wanted, param = 2, args[0]
        if len(args) != wanted:
            self.error(
                f"wrong number of arguments for aggregate expression provided, expected {wanted}, got {len(args)}",
                pos,
            )
            return _PLACEHOLDER
        return AggregateExpr(op=op, expr=args[-1], param=param, grouping=grouping, without=without, pos=pos)

    def grouping_labels(self) -> tuple[str, ...]:
        """``( label, ... )`` after by/without/on/ignoring/group_x."""
        if not self.at(Tok.LEFT_PAREN):
            self.unexpected("grouping opts", '"("')
        self.advance()
        labels: list[str] = []
        if self.at(Tok.RIGHT_PAREN):
            self.advance()
            return ()
        while True:
            tok = self.peek()
            if tok.kind in _LABEL_KEYWORDS:
                name = tok.val
            elif tok.kind is Tok.STRING:
                name = self.unquote(tok)
            else:
                self.unexpected("grouping opts", "label")
            self.advance()
            if not _valid_label_name(name):
                self.error(f"invalid label name for grouping: {go_quote(name)}", _span(tok, tok))
            labels.append(name)
            if self.at(Tok.COMMA):
                self.advance()
                if self.at(Tok.RIGHT_PAREN):
                    self.advance()
                    return tuple(labels)
            elif self.at(Tok.RIGHT_PAREN):
                self.advance()
                return tuple(labels)
            else:
                self.unexpected("grouping opts", '"," or ")"')

    # --- selectors ------------------------------------------------------------------
    def vector_selector(self, name_tok: Token | None) -> VectorSelector:
        matchers: list[Matcher] = []
        name = ""
        pos = PositionRange(self.peek().pos, self.peek().pos)
        if name_tok is not None:
            name = name_tok.val
            pos = _span(name_tok, name_tok)
        if self.at(Tok.LEFT_BRACE):
            open_brace = self.peek()
            matchers = self.label_matchers()
            start = name_tok.pos if name_tok is not None else open_brace.pos
            pos = PositionRange(start, self.last_closing)
        if name:
            matchers.append(Matcher("__name__", "=", name))
        return VectorSelector(name=name, matchers=tuple(matchers), pos=pos)

    def label_matchers(self) -> list[Matcher]:
        self.advance()
        matchers: list[Matcher] = []
        if self.at(Tok.RIGHT_BRACE):
            self.advance()
            return matchers
        while True:
            matchers.append(self.label_matcher())
            if self.at(Tok.COMMA):
                self.advance()
                if self.at(Tok.RIGHT_BRACE):
                    break
            elif not self.at(Tok.RIGHT_BRACE):
                self.unexpected("label matching", '"," or "}"')
            else:
                break
        self.advance()
        return matchers

    def label_matcher(self) -> Matcher:
        label = self.peek()
        if label.kind is Tok.IDENTIFIER:
            self.advance()
            name = label.val
            if self.peek().kind not in _MATCH_OPS:
                self.unexpected("label matching", "label matching operator")
        elif label.kind is Tok.STRING:
            self.advance()
            name = self.unquote(label)
            if self.peek().kind not in _MATCH_OPS:
                # A lone quoted string inside braces is the metric name.
                return Matcher("__name__", "=", name)
        else:
            self.unexpected("label matching", 'identifier or "}"')
        op = _MATCH_OPS[self.advance().kind]
        if not self.at(Tok.STRING):
            self.unexpected("label matching", "string")
        value_tok = self.advance()
        value = self.unquote(value_tok)
        if op in ("=~", "!~"):
            try:
                check_regex(value)
            except RegexSyntaxError as err:
                self.error(str(err), PositionRange(label.pos, value_tok.end))
        return Matcher(name, op, value)


def parse_expr(text: str, options: ParserOptions | None = None) -> Expr:
    """Parse a PromQL expression, raising :class:`ParseError` with Prometheus's message."""
    parser = _ExprParser(text, options or ParserOptions())
    try:
        expr = parser.parse()
        if parser.errors:
            raise parser.first_error()
        checked, errors = check_ast(expr, text)
    except _Stop:
        raise parser.first_error() from None
    except RecursionError:
        # Thousands of nested parentheses (or "^" chains); upstream has no
        # limit, but a clean error beats exhausting the interpreter's stack.
        raise ParseError.at(text, _TOO_DEEP, PositionRange(0, 0)) from None
    if errors:
        message, pos = errors[0]
        raise ParseError.at(text, message, pos)
    return checked
