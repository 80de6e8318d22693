"""Every expression and series line of the promqltest corpus goes through our front end."""

from __future__ import annotations

import _promql_corpus as corpus  # test-local helper (pytest puts this folder on sys.path)
import pytest

from promlake.promql2sql import ParseError, parse_expr, parse_series_desc, prettify, to_string

pytestmark = pytest.mark.skipif(not corpus.CORPUS.is_dir(), reason="conformance corpus not checked out")

EVALS = list(corpus.evals()) if corpus.CORPUS.is_dir() else []
SERIES = list(corpus.series_lines()) if corpus.CORPUS.is_dir() else []


def test_corpus_inventory() -> None:
    # FORMAT.md section 11: 2,214 evals; 32 "expect fail" plus 3 "eval_fail".
    assert len(EVALS) == 2214
    assert sum(e.fails for e in EVALS) == 35
    assert len(SERIES) > 4000


@pytest.mark.parametrize("case", EVALS, ids=lambda e: e.id)
def test_eval_expression(case: corpus.Eval) -> None:
    """Every query parses, and printing it gives text that parses back to the same tree.

    The harness parses each query before running it, so all of them must
    parse; expected failures in the corpus happen at evaluation time.  Should
    one ever expect a parse error, its message must be ours exactly.
    """
    if case.fails and case.fail_message and "parse error" in case.fail_message:
        with pytest.raises(ParseError) as err:
            parse_expr(case.expr)
        assert str(err.value) == case.fail_message
        return
    tree = parse_expr(case.expr)
    text = to_string(tree)
    again = parse_expr(text)
    assert again == tree
    assert to_string(again) == text
    assert parse_expr(prettify(tree)) == tree


def test_no_corpus_failure_is_a_parse_error() -> None:
    # Documented in FORMAT.md 6.1; guards the branch above against silent drift.
    messages = [e.fail_message for e in EVALS if e.fail_message]
    assert messages and not any("parse error" in m for m in messages)


@pytest.mark.parametrize("path", corpus.files() if corpus.CORPUS.is_dir() else [], ids=lambda p: p.name)
def test_series_lines_parse(path: corpus.Path) -> None:
    """Load lines and expected results, grouped per file (there are over 4,000)."""
    failures = []
    for case in SERIES:
        if case.file != path.name:
            continue
        try:
            labels, _ = parse_series_desc(case.text)
        except ParseError as err:
            failures.append(f"{case.file}:{case.line}: {err}")
            continue
        assert list(labels) == sorted(labels)
    assert not failures
