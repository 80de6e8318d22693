"""Label matcher semantics (Prometheus 3.x) and the vectorized series selection."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promlake.engine.matchers import (
    LabelMatcher,
    MatcherError,
    MatchType,
    compile_matcher,
    matches_empty,
    select_series,
)

MISSING = None  # the series has no such label

# (op, matcher value, label value or MISSING, expected)
CASES: list[tuple[str, str, str | None, bool]] = [
    # A missing label reads as "" (Prometheus): the empty-value cases.
    ("=", "", MISSING, True),
    ("=", "", "x", False),
    ("!=", "", MISSING, False),
    ("!=", "", "x", True),
    ("=", "x", MISSING, False),
    ("!=", "x", MISSING, True),
    ("!=", "x", "x", False),
    ("!=", "x", "y", True),
    ("=~", ".*", MISSING, True),
    ("=~", ".*", "anything", True),
    ("!~", ".*", MISSING, False),
    ("!~", ".*", "x", False),
    ("=~", ".+", MISSING, False),
    ("=~", ".+", "x", True),
    ("!~", ".+", MISSING, True),
    ("!~", ".+", "x", False),
    ("=~", "", MISSING, True),
    ("=~", "", "x", False),
    ("!~", "x", MISSING, True),
    ("!~", "x", "x", False),
    ("=~", "x?", MISSING, True),
    ("=~", "x?", "x", True),
    # Full anchoring: the regex must match the whole value.
    ("=~", "fo", "foo", False),
    ("=~", "oo", "foo", False),
    ("=~", "fo+", "foo", True),
    ("=~", "^foo$", "foo", True),
    ("=~", "a^", "a", False),
    ("=~", r"\Afoo\z", "foo", True),
    ("=~", "foo$", "foo\n", False),  # Go/RE2 `$` is end of text; Python's would match here
    # Alternation, literal sets and groups.
    ("=~", "a|b|c", "b", True),
    ("=~", "a|b|c", "ab", False),
    ("=~", "a|b|", MISSING, True),
    ("!~", "a|b", "c", True),
    ("=~", "foo|foobar", "foobar", True),
    ("=~", "(a|b)c", "bc", True),
    ("=~", "(?:api|web)-[0-9]+", "web-12", True),
    ("=~", "(?P<n>a)|(?<m>b)", "b", True),
    ("=~", "a.b|c", "a.b", True),
    ("=~", "a.b|c", "axb", True),
    # Character classes; Perl classes are ASCII-only, as in Go.
    ("=~", "[a-c]+", "abcab", True),
    ("=~", "[a-c]+", "abcd", False),
    ("=~", "[^a]", "\n", True),
    ("=~", "[]a]+", "]a]", True),
    ("=~", "[[:alpha:]]+", "abcXYZ", True),
    ("=~", "[[:alpha:]]+", "abc1", False),
    ("=~", r"\d+", "123", True),
    ("=~", r"\d", "٣", False),
    ("=~", r"\w+", "héllo", False),
    ("=~", r"\s", "\v", False),
    ("=~", "[[:space:]]", "\v", True),
    # Unicode values.
    ("=", "héllo", "héllo", True),
    ("=~", "h.llo", "héllo", True),
    ("=~", "..", "日本", True),
    ("=~", r"\pL+", "Ωmega", True),
    ("=~", r"\p{Greek}+", "αβγ", True),
    ("=~", r"\p{Greek}+", "abc", False),
    ("=~", "🔥.*", "🔥 fire", True),
    ("=~", "(?i)api", "APi", True),
    ("=~", "(?i)k", "\u212a", True),  # Kelvin sign folds to k in Go and RE2
    ("=~", "(?i)σ", "ς", True),
    ("=~", "(?i)straße", "STRASSE", False),  # simple folding only
    # Newlines in values: `.` matches "\n" since Prometheus 3.0 (^(?s:...)$).
    ("=", "a\nb", "a\nb", True),
    ("=~", "a.b", "a\nb", True),
    ("=~", ".*", "line1\nline2", True),
    ("=~", "a.*", "a\n", True),
    ("=~", "(?-s:a.b)", "a\nb", False),
    ("=~", "(?m)a$\nb", "a\nb", True),
    ("=~", "a\nb|c", "a\nb", True),
    # \Q...\E quotes as in Go, also when \E is missing.
    ("=~", r"\Qa.b\E", "a.b", True),
    ("=~", r"\Qa.b\E", "axb", False),
    ("=~", r"\Qa.b", "a.b", True),
    ("=~", r"x\Q)(\E+", "x)((", True),
    ("=~", r"\Qa\b\E", "a\\b", True),
    # Flags and escapes both engines share.
    ("=~", "(?U)a+", "aaa", True),
    ("=~", r"\x{48}i", "Hi", True),
    ("=~", r"a{2,3}", "aaaa", False),
    ("=~", r"a{,3}", "a{,3}", True),  # not a repetition in Go: literal braces
]


def _one_series_table(value: str | None) -> pa.Table:
    rows = [(7, "__name__", "m")] + ([(7, "l", value)] if value is not None else [])
    return pa.table(
        {
            "series_id": pa.array([r[0] for r in rows], pa.int64()),
            "name": [r[1] for r in rows],
            "value": [r[2] for r in rows],
        }
    )


@pytest.mark.parametrize(("op", "pattern", "value", "expected"), CASES)
def test_matcher_semantics(op: str, pattern: str, value: str | None, expected: bool) -> None:
    m = compile_matcher("l", op, pattern)
    assert m.matches("" if value is None else value) is expected
    # The vectorized path agrees with the scalar one, including for a missing label.
    got = select_series(_one_series_table(value), np.array([7], np.int64), [m])
    assert got.tolist() == ([7] if expected else [])


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(a", "error parsing regexp: missing closing ): `(a`"),
        ("[a", "error parsing regexp: missing closing ]: `[a`"),
        ("a)", "error parsing regexp: unexpected ): `a)`"),
        ("a**", "error parsing regexp: invalid nested repetition operator: `**`"),
        ("*", "error parsing regexp: missing argument to repetition operator: `*`"),
        ("a{1001}", "error parsing regexp: invalid repeat count: `{1001}`"),
        ("(?=a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"),
        ("(?x)a", "error parsing regexp: invalid or unsupported Perl syntax: `(?x`"),
        (r"\Z", "error parsing regexp: invalid escape sequence: `\\Z`"),
        (r"\1", "error parsing regexp: invalid escape sequence: `\\1`"),
        (r"\C", "error parsing regexp: invalid escape sequence: `\\C`"),  # RE2 alone accepts it
        ("(?P<é>a)", "error parsing regexp: invalid named capture: `(?P<é>`"),  # likewise
        (r"\p{Nope}", "error parsing regexp: invalid character class range: `\\p{Nope}`"),
        ("a\\", "error parsing regexp: trailing backslash at end of expression"),
        (r"\pL{1000}", "error parsing regexp: expression too large"),  # Go accepts: RE2 limit
    ],
)
def test_invalid_regex(pattern: str, message: str) -> None:
    for op in ("=~", "!~"):
        with pytest.raises(MatcherError) as e:
            compile_matcher("l", op, pattern)
        assert str(e.value).startswith(message)
        assert e.value.regex == pattern
        assert isinstance(e.value, ValueError)
    # Equality matchers never parse their value.
    assert compile_matcher("l", "=", pattern).matches(pattern)


def test_bad_operator_and_direct_construction() -> None:
    with pytest.raises(MatcherError):
        compile_matcher("l", "==", "x")
    with pytest.raises(MatcherError):
        LabelMatcher("l", MatchType.RE, "(")
    m = LabelMatcher("l", MatchType.NRE, "a|b")
    assert m == compile_matcher("l", "!~", "a|b")
    assert hash(m) == hash(compile_matcher("l", "!~", "a|b"))
    assert matches_empty(m) and not matches_empty(compile_matcher("l", "=~", "a|b"))


# ---- select_series against a per-series oracle ----------------------------------------------

NAMES = ["__name__", "job", "env", "i"]
VALUES = ["up", "api", "db", "a", "ab", "x", "é", "Ω", "a\nb", "\n", "API", "1", "k"]
PATTERNS = [
    "",
    ".*",
    ".+",
    "a.*",
    ".*b",
    "a|b|ab",
    "api|db",
    "(?i)api",
    "[^a]*",
    "a.b",
    ".",
    r"\Qa\E.*",
    "up|",
    "(a|b)+",
    r"\d",
    "é|Ω",
    "(?s:.)+",
    "(?-s:.)*",
    "[[:alpha:]]+",
    "k",
]


@st.composite
def indexes(draw: st.DrawFn) -> tuple[list[int], list[dict[str, str]]]:
    n = draw(st.integers(0, 25))
    ids = sorted(draw(st.sets(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n)))
    series = [draw(st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), max_size=4)) for _ in ids]
    return ids, series


matcher_st = st.builds(
    compile_matcher,
    st.sampled_from([*NAMES, "absent"]),
    st.sampled_from(["=", "!=", "=~", "!~"]),
    st.one_of(st.sampled_from(PATTERNS), st.sampled_from(VALUES)),
)


def _table(ids: list[int], series: list[dict[str, str]], chunks: int, dictionary: bool) -> pa.Table:
    rows = [(sid, k, v) for sid, labels in zip(ids, series, strict=True) for k, v in labels.items()]
    rows.reverse()  # the index need not be sorted
    cols = {
        "series_id": pa.array([r[0] for r in rows], pa.int64()),
        "name": pa.array([r[1] for r in rows], pa.string()),
        "value": pa.array([r[2] for r in rows], pa.string()),
    }
    if dictionary:
        cols["name"] = cols["name"].dictionary_encode()
        cols["value"] = cols["value"].dictionary_encode()
    table = pa.table(cols)
    if chunks > 1 and table.num_rows:
        size = -(-table.num_rows // chunks)
        table = pa.concat_tables([table.slice(o, size) for o in range(0, table.num_rows, size)])
    return table


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(indexes(), st.lists(matcher_st, max_size=4), st.integers(1, 3), st.booleans())
def test_select_series_matches_oracle(
    index: tuple[list[int], list[dict[str, str]]], ms: list[LabelMatcher], chunks: int, dictionary: bool
) -> None:
    ids, series = index
    expected = [
        sid
        for sid, labels in zip(ids, series, strict=True)
        if all(m.matches(labels.get(m.name, "")) for m in ms)
    ]
    got = select_series(_table(ids, series, chunks, dictionary), np.array(ids, np.int64), ms)
    assert got.dtype == np.int64
    assert got.tolist() == expected


def test_ids_outside_all_ids_are_ignored() -> None:
    table = _table([1, 2, 3], [{"__name__": "up"}] * 3, 1, False)
    got = select_series(table, np.array([1, 3], np.int64), [compile_matcher("__name__", "=", "up")])
    assert got.tolist() == [1, 3]
    assert select_series(table, np.array([1, 2, 3], np.int64), []).tolist() == [1, 2, 3]


# ---- performance (printed, not asserted; budgets live in benchmarks/) -----------------------


@pytest.mark.slow
def test_select_series_perf_print() -> None:
    n = 100_000
    rng = np.random.default_rng(0)
    ids = np.sort(rng.choice(2**62, size=n, replace=False).astype(np.int64))
    cols = {
        "__name__": np.array([f"metric_{i % 200}" for i in range(n)]),
        "job": np.array([f"job_{i % 20}" for i in range(n)]),
        "instance": np.array([f"host-{i % 5000}:9100" for i in range(n)]),
        "env": np.array(["prod", "staging", "dev"])[np.arange(n) % 3],
        "region": np.array([f"r{i % 7}" for i in range(n)]),
        "pod": np.array([f"pod-{i}" for i in range(n)]),
    }
    table = pa.table(
        {
            "series_id": pa.array(np.tile(ids, len(cols))),
            "name": pa.array(np.repeat(list(cols), n)),
            "value": pa.array(np.concatenate(list(cols.values()))),
        }
    )
    queries = {
        'metric_7{instance=~"host-1.*"}': [("__name__", "=", "metric_7"), ("instance", "=~", "host-1.*")],
        '{pod=~"pod-1.*5"} (100k distinct)': [("pod", "=~", "pod-1.*5")],
        '{job=~"job_1|job_2", env!="dev"}': [("job", "=~", "job_1|job_2"), ("env", "!=", "dev")],
    }
    for label, spec in queries.items():
        ms = [compile_matcher(*s) for s in spec]
        select_series(table, ids, ms)  # warm-up
        t0 = time.perf_counter()
        reps = 5
        for _ in range(reps):
            got = select_series(table, ids, ms)
        ms_per = (time.perf_counter() - t0) / reps * 1e3
        print(f"\n{label}: {len(got)} of {n} series, {table.num_rows} label rows: {ms_per:.1f} ms")
