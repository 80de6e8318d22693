"""The lexer: token kinds, positions, keywords, numbers, durations and strings."""

from __future__ import annotations

import pytest

from promlake.promql2sql import parse_expr
from promlake.promql2sql.ast import Call, MatrixSelector, NumberLiteral, StringLiteral, VectorSelector
from promlake.promql2sql.lexer import tokenize
from promlake.promql2sql.tokens import Tok


def kinds(text: str) -> list[str]:
    return [t.kind.name for t in tokenize(text)]


def test_positions_and_values() -> None:
    tokens = tokenize('rate(foo{a="b"}[5m])')
    assert [(t.kind.name, t.pos, t.val) for t in tokens] == [
        ("IDENTIFIER", 0, "rate"),
        ("LEFT_PAREN", 4, "("),
        ("IDENTIFIER", 5, "foo"),
        ("LEFT_BRACE", 8, "{"),
        ("IDENTIFIER", 9, "a"),
        ("EQL", 10, "="),
        ("STRING", 11, '"b"'),
        ("RIGHT_BRACE", 14, "}"),
        ("LEFT_BRACKET", 15, "["),
        ("DURATION", 16, "5m"),
        ("RIGHT_BRACKET", 18, "]"),
        ("RIGHT_PAREN", 19, ")"),
        ("EOF", 20, ""),
    ]


def test_keywords_are_case_insensitive_but_not_inside_braces() -> None:
    assert kinds("SUM BY offset Bool") == ["SUM", "BY", "OFFSET", "BOOL", "EOF"]
    assert kinds("{sum='x'}") == ["LEFT_BRACE", "IDENTIFIER", "EQL", "STRING", "RIGHT_BRACE", "EOF"]
    assert kinds("foo:bar :baz") == ["METRIC_IDENTIFIER", "METRIC_IDENTIFIER", "EOF"]


def test_fill_is_a_keyword_only_before_a_parenthesis() -> None:
    assert kinds("fill + fill (1)") == [
        "IDENTIFIER",
        "ADD",
        "FILL",
        "LEFT_PAREN",
        "NUMBER",
        "RIGHT_PAREN",
        "EOF",
    ]


def test_comments_are_skipped() -> None:
    assert kinds("foo # trailing comment\n+ bar") == ["IDENTIFIER", "ADD", "IDENTIFIER", "EOF"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("1.5e3", 1500.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1E-2", 0.01),
        ("0x1F", 31.0),
        ("0X_1f", 31.0),
        ("0755", 493.0),
        ("09", 9.0),
        ("1_000", 1000.0),
        ("00_1_23_4.56_7_8", 1234.5678),
        ("Inf", float("inf")),
        ("-INF", float("-inf")),
    ],
)
def test_numbers(text: str, value: float) -> None:
    node = parse_expr(text)
    assert isinstance(node, NumberLiteral) and node.value == value and not node.duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("1y", 31_536_000.0), ("2w1d", 1_296_000.0)],
)
def test_durations_are_number_literals(text: str, seconds: float) -> None:
    node = parse_expr(text)
    assert isinstance(node, NumberLiteral) and node.value == seconds and node.duration


def test_duration_keywords_inside_brackets() -> None:
    assert kinds("x[STep()+1m:range()]") == [
        "IDENTIFIER", "LEFT_BRACKET", "STEP", "LEFT_PAREN", "RIGHT_PAREN", "ADD", "DURATION",
        "COLON", "RANGE", "LEFT_PAREN", "RIGHT_PAREN", "RIGHT_BRACKET", "EOF",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"a\\tb"', "a\tb"),
        ("'it\\'s'", "it's"),
        ('"\\u70ac \\U0001F600"', "炬 😀"),
        ('"\\101\\x42"', "AB"),
        ("`no \\n escapes`", "no \\n escapes"),
        ('"\\xff"', "\udcff"),  # an invalid UTF-8 byte survives as a surrogate escape
    ],
)
def test_strings(text: str, value: str) -> None:
    node = parse_expr(text)
    assert isinstance(node, StringLiteral) and node.value == value


def test_quoted_utf8_names() -> None:
    node = parse_expr('{"my.metric", "service.name"=~"a.*"}')
    assert isinstance(node, VectorSelector) and node.name == ""
    assert [(m.name, m.op, m.value) for m in node.matchers] == [
        ("__name__", "=", "my.metric"),
        ("service.name", "=~", "a.*"),
    ]


def test_positions_in_the_tree() -> None:
    node = parse_expr("sum(rate(foo[5m] offset 1m)) by (job)")
    assert node.pos.start == 0 and node.pos.end == 37
    call = node.expr
    assert isinstance(call, Call) and (call.pos.start, call.pos.end) == (4, 27)
    matrix = call.args[0]
    assert isinstance(matrix, MatrixSelector) and (matrix.pos.start, matrix.pos.end) == (9, 26)
    assert matrix.range_ms == 300_000 and matrix.vector_selector.offset_ms == 60_000
    assert tokenize("x")[0].kind is Tok.IDENTIFIER
