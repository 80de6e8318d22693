"""Parse errors carry Prometheus 3.14's exact text and position.

Expected strings follow upstream's parser behaviour (``promql/parser``), written
down here by hand; each is what ``str()`` of the error must be.
"""

from __future__ import annotations

import pytest

from promlake.promql2sql import ParseError, ParserOptions, parse_expr
from promlake.promql2sql.errors import PositionRange

CASES = [
    # --- empty input and stray tokens
    ("", "unknown position: parse error: no expression found in input"),
    ("# just a comment\n\n", "1:1: parse error: no expression found in input"),
    ("1+", "1:3: parse error: unexpected end of input"),
    ("1 /", "1:4: parse error: unexpected end of input"),
    ("*1", "1:1: parse error: unexpected <op:*>"),
    ("@@", "1:1: parse error: unexpected <op:@>"),
    ("-=", "1:2: parse error: unexpected \"=\""),
    ("++-++-+-+-<", "1:11: parse error: unexpected <op:<>"),
    ("foo bar", '1:5: parse error: unexpected identifier "bar"'),
    ("sum some_metric by (test)", '1:5: parse error: unexpected identifier "some_metric"'),
    ("a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>"),
    ("foo + group_left(baz) bar", "1:7: parse error: unexpected <group_left>"),
    ("sum (some_metric) without (test) by (test)", "1:34: parse error: unexpected <by>"),
    # --- lexer errors
    (".", "1:1: parse error: unexpected character: '.'"),
    ("2.5.", '1:1: parse error: bad number or duration syntax: "2.5."'),
    ("100..4", '1:1: parse error: bad number or duration syntax: "100.."'),
    ("0deadbeef", '1:1: parse error: bad number or duration syntax: "0de"'),
    ("(1))", "1:5: parse error: unexpected right parenthesis ')'"),
    ("((1)", "1:5: parse error: unclosed left parenthesis"),
    ("1 !~ 1", "1:3: parse error: unexpected character after '!': '~'"),
    ("1 =~ 1", "1:3: parse error: unexpected character after '=': '~'"),
    ("{", "1:2: parse error: unexpected end of input inside braces"),
    ("}", "1:1: parse error: unexpected character: '}'"),
    ("some_metric{a:b=\"b\"}", "1:14: parse error: unexpected character inside braces: ':'"),
    ("foo{1}", "1:5: parse error: unexpected character inside braces: '1'"),
    ("`\\``", "1:4: parse error: unterminated raw string"),
    ('"\\', "1:1: parse error: escape sequence not terminated"),
    ('"\\c"', "1:1: parse error: unknown escape sequence U+0063 'c'"),
    ('"\\x."', "1:1: parse error: illegal character U+002E '.' in escape sequence"),
    ('"\\400"', "1:1: parse error: escape sequence is an invalid Unicode code point"),
    ('some_metric{a="\udcff"}', "1:15: parse error: invalid UTF-8 rune"),
    ("foo{bar=\"baz\"}[", "1:16: parse error: unexpected end of input in duration expression"),
    ("foo[5s x 5s]", "1:8: parse error: unexpected character: 'x', expected ':'"),
    ("foo[step():1m]", "1:12: parse error: unexpected colon before duration in duration expression"),
    # --- label matchers
    ("some_metric{a=b}", '1:15: parse error: unexpected identifier "b" in label matching, expected string'),
    ("foo{gibberish}", '1:14: parse error: unexpected "}" in label matching, expected label matching operator'),
    ("foo{,}", '1:5: parse error: unexpected "," in label matching, expected identifier or "}"'),
    ("foo{__name__ == \"bar\"}", '1:15: parse error: unexpected "=" in label matching, expected string'),
    (
        'foo{__name__="bar" lol}',
        '1:20: parse error: unexpected identifier "lol" in label matching, expected "," or "}"',
    ),
    ('foo{"a"=}', '1:9: parse error: unexpected "}" in label matching, expected string'),
    ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    ('{x=~".*"}', "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    ('foo{__name__="bar"}', '1:1: parse error: metric name must not be set twice: "foo" or "bar"'),
    ('foo{a=~"("}', "1:5: parse error: error parsing regexp: missing closing ): `(`"),
    ('foo{a=~"*"}', "1:5: parse error: error parsing regexp: missing argument to repetition operator: `*`"),
    # --- grouping and binary modifiers
    ("sum without(==)(some_metric)", "1:13: parse error: unexpected <op:==> in grouping opts, expected label"),
    ("sum without(foo,,)(some_metric)", '1:17: parse error: unexpected "," in grouping opts, expected label'),
    ("sum (some_metric) by test", '1:22: parse error: unexpected identifier "test" in grouping opts, expected "("'),
    ("sum by (a b) (x)", '1:11: parse error: unexpected identifier "b" in grouping opts, expected "," or ")"'),
    ('sum by ("") (x)', '1:9: parse error: invalid label name for grouping: ""'),
    ("foo + on(a) group_left", '1:23: parse error: unexpected end of input in grouping opts, expected "("'),
    ("foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators"),
    ("1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
    ("1 and 1", '1:1: parse error: set operator "and" not allowed in binary scalar expression'),
    ("foo == on(bar) 10", "1:1: parse error: vector matching only allowed between instant vectors"),
    ("foo and on(bar) group_left(baz) bar", '1:1: parse error: no grouping allowed for "and" operation'),
    (
        'http_requests{group="production"} + on(instance) group_left(job,instance) cpu_count{type="smp"}',
        '1:35: parse error: label "instance" must not occur in ON and GROUP clause at once',
    ),
    ('"a" + 1', "1:1: parse error: binary expression must contain only scalar and instant vector types"),
    # --- aggregations and calls
    ("sum(foo bar)", '1:9: parse error: unexpected identifier "bar" in aggregation'),
    ("sum(rate(foo[5m]) by (job)", "1:19: parse error: unexpected <by> in aggregation"),
    ("sum by (a)", "1:11: parse error: unexpected end of input in aggregation"),
    ("sum () by (test)", "1:1: parse error: no arguments for aggregate expression provided"),
    (
        "topk(some_metric)",
        "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1",
    ),
    ("topk(some_metric,)", "1:17: parse error: trailing commas not allowed in function call args"),
    ("avg(foo,,bar)", "1:8: parse error: trailing commas not allowed in function call args"),
    ("topk(some_metric, other_metric)", "1:6: parse error: expected type scalar in aggregation parameter, got instant vector"),
    ("count_values(5, other_metric)", "1:14: parse error: expected type string in aggregation parameter, got scalar"),
    ("floor()", '1:1: parse error: expected 1 argument(s) in call to "floor", got 0'),
    ("floor(1)", '1:7: parse error: expected type instant vector in call to function "floor", got scalar'),
    ("hour(a, a, a)", '1:1: parse error: expected at most 1 argument(s) in call to "hour", got 3'),
    ("label_join(x, \"a\")", '1:1: parse error: expected at least 3 argument(s) in call to "label_join", got 2'),
    ("rate(some_metric)", '1:6: parse error: expected type range vector in call to function "rate", got instant vector'),
    ("non_existent_function_far_bar()", '1:1: parse error: unknown function with name "non_existent_function_far_bar"'),
    ("RATE(x[5m])", '1:1: parse error: unknown function with name "RATE"'),
    ("changes(foo(1 [5m]))", "1:15: parse error: ranges only allowed for vector selectors"),
    (
        'info(rate(http_request_counter_total{}[5m]), target_info{foo="bar"})',
        "1:46: parse error: expected label selectors only, got vector selector instead",
    ),
    ('info(http_request_counter_total{namespace="zzz"}, {foo="bar"} == 1)', "1:51: parse error: expected label selectors only"),
    # --- unary, subquery, range, offset, @
    ('-"string"', '1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "string"'),
    ("-test[5m]", '1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "range vector"'),
    ("test[5d] OFFSET 10s [10m:5s]", "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"),
    ("(foo + bar)[5m]", "1:12: parse error: ranges only allowed for vector selectors"),
    ("foo[]", '1:5: parse error: unexpected "]" in subquery or range selector, expected number, duration, step(), or range()'),
    ("foo[5m 1m]", '1:8: parse error: unexpected duration "1m" in subquery or range, expected ":" or "]"'),
    ("foo[5m:1m 2]", '1:11: parse error: unexpected number "2" in subquery selector, expected "]"'),
    ("foo[0m]", "1:5: parse error: duration must be greater than 0"),
    ("foo[-1]", "1:5: parse error: duration must be greater than 0"),
    ("foo[5y1hs]", '1:5: parse error: unknown unit "hs" in duration "5y1hs"'),
    ("foo[5m1h]", '1:5: parse error: not a valid duration string: "5m1h"'),
    ("foo[5mm]", '1:5: parse error: bad number or duration syntax: "5mm"'),
    ("foo[5s/0d]", "1:7: parse error: division by zero"),
    ("foo[5s%0d]", "1:7: parse error: modulo by zero"),
    ("foo offset (4d/0)", "1:15: parse error: division by zero"),
    ("foo offset 9.5e10", "1:12: parse error: duration out of range"),
    ("1 offset 1d", "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
    ("foo offset 1s offset 2s", "1:1: parse error: offset may not be set multiple times"),
    ("some_metric[5m] OFFSET", "1:23: parse error: unexpected end of input in offset, expected number, duration, step(), or range()"),
    ("some_metric OFFSET 1m[5m]", "1:22: parse error: no offset modifiers allowed before range"),
    ("some_metric @ start() [5m]", "1:23: parse error: no @ modifiers allowed before range"),
    ("some_metric[5m] @", "1:18: parse error: unexpected end of input in @, expected timestamp"),
    ("foo @ +Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"),
    ("foo @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"),
    ("rate(some_metric[5m]) @ 1234", "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
    ("foo[step]", '1:9: parse error: unexpected "]" in subquery or range selector, expected number, duration, step(), or range()'),
    ("foo[5m] anchored smoothed", "1:1: parse error: anchored and smoothed modifiers cannot be used together"),
    ("foo[5m:1m] anchored", "1:1: parse error: anchored modifier is not supported for subqueries"),
    ("1[5m] anchored", "1:2: parse error: ranges only allowed for vector selectors"),
    # --- numbers
    ("9" * 400, "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"" + "9" * 400 + '": value out of range'),
]  # fmt: skip


@pytest.mark.parametrize(("query", "message"), CASES, ids=[c[0][:40] or "<empty>" for c in CASES])
def test_error_message(query: str, message: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_expr(query)
    assert str(err.value) == message


def test_feature_flags_off() -> None:
    strict = ParserOptions(
        experimental_functions=False,
        duration_expr=False,
        extended_range_selectors=False,
        binop_fill_modifiers=False,
    )
    expected = {
        "a + fill(0) b": "1:1: parse error: binop fill modifiers are experimental and not enabled",
        "foo[5m] anchored": "1:1: parse error: anchored modifier is experimental and not enabled",
        "foo[5m+1m]": "1:5: parse error: experimental duration expression is not enabled",
        "limitk(1, foo)": "1:1: parse error: limitk() is experimental and must be enabled with "
        "--enable-feature=promql-experimental-functions",
        "mad_over_time(foo[5m])": '1:1: parse error: function "mad_over_time" is not enabled',
    }
    for query, message in expected.items():
        with pytest.raises(ParseError) as err:
            parse_expr(query, strict)
        assert str(err.value) == message, query


def test_error_attributes() -> None:
    with pytest.raises(ParseError) as err:
        parse_expr("sum(rate(foo[5m])) by (job)\n  + bar{")
    error = err.value
    assert (error.line, error.col) == (2, 9)
    assert error.position_range == PositionRange(36, 36)
    assert error.message == "unexpected end of input inside braces"
    assert error.error_type == "bad_data" and error.http_status == 400


def test_columns_count_utf8_bytes() -> None:
    # Prometheus reports byte columns: "é" is two bytes, so "}" sits at column 9.
    with pytest.raises(ParseError) as err:
        parse_expr('{a="é"} }')
    assert str(err.value) == "1:10: parse error: unexpected character: '}'"


def test_pathological_nesting_is_a_clean_error() -> None:
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_expr("(" * 5000 + "1" + ")" * 5000)
