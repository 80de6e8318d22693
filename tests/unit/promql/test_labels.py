"""Label functions and result ordering beyond the float corpus: Go's ``Regexp.Expand`` template
rules in label_replace (named groups, more than nine groups, malformed references), UTF-8
label names, and sort_by_label's natural order against a reference of ``natsort.Compare``."""

from __future__ import annotations

import functools
import random
import re

import duckdb
import numpy as np
import pytest
import sqlglot.expressions as exp

import promlake
from promlake.engine import SeriesBatch
from promlake.promql2sql.duckdb.labels import _template_parts, natural_sort_key, valid_label_name
from promlake.promql2sql.errors import ExecutionError

SERIES = [
    {"__name__": "m", "src": "abcdefghijkl", "i": "a10"},
    {"__name__": "m", "src": "xyz", "i": "a9"},
    {"__name__": "m", "src": "", "i": "a09b"},
    {"__name__": "m", "src": "q", "i": ""},
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    lake = promlake.open(tmp_path_factory.mktemp("labels"))
    batch = SeriesBatch.from_dicts(SERIES)
    app = lake.appender()
    app.append(
        batch, np.arange(len(SERIES)), np.zeros(len(SERIES), np.int64), np.arange(len(SERIES), dtype=float)
    )
    app.commit()
    yield lake.engine
    lake.close()


def _labels(res) -> list[dict[str, str]]:
    return [dict(r["labels"]) for r in res.series.to_pylist()]


@pytest.mark.parametrize(
    ("template", "want"),
    [
        ("$$1", ["$1"]),
        ("${1}x", [1, "x"]),
        ("$1x", []),  # the name is "1x": no such group
        ("$01", []),  # leading zero: a name, not a number
        ("$name-$2", [1, "-", 2]),
        ("${name", ["${name"]),  # malformed: "$" is literal
        ("a$", ["a$"]),
        ("$3", []),  # out of range
        ("$0", [0]),
    ],
)
def test_template_parts(template, want):
    assert _template_parts(template, {"name": 1}, 2) == want


def test_label_replace_expansion(engine):
    res = engine.instant(
        'label_replace(m{src="abcdefghijkl"}, "dst", "${12}$11-$first-$$-${0}", "src", '
        '"(?P<first>a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)")',
        0,
    )
    assert _labels(res)[0]["dst"] == "lk-a-$-abcdefghijkl"
    # No match: the series is unchanged; an empty result removes the label.
    res = engine.instant('label_replace(m{src="xyz"}, "src", "", "src", "x.*")', 0)
    assert "src" not in _labels(res)[0]


def test_label_names_are_utf8(engine):
    res = engine.instant('label_replace(m{src="q"}, "a.b", "$1", "src", "(.*)")', 0)
    assert _labels(res)[0]["a.b"] == "q"
    assert valid_label_name("ä-b") and not valid_label_name("") and not valid_label_name("\udcff")
    with pytest.raises(ExecutionError, match="invalid regular expression in label_replace"):
        engine.instant('label_replace(m, "dst", "", "src", "(")', 0)


def test_label_replace_name_survives_delayed_drop(engine):
    res = engine.instant('label_replace(abs(m{src="q"}), "__name__", "n_$1", "__name__", "(.*)")', 0)
    assert _labels(res)[0]["__name__"] == "n_m"
    # Not matched: the pending drop stays.
    res = engine.instant('label_replace(abs(m{src="q"}), "__name__", "x", "__name__", "nomatch")', 0)
    assert "__name__" not in _labels(res)[0]


def test_absent_labels(engine):
    res = engine.instant('absent(nope{job=~"x", job="a", b="", c="1", c="2", d="4"})', 0)
    assert _labels(res) == [{"d": "4", "job": "a"}]


# --- natural sort ---------------------------------------------------------------------------


def _natsort_less(a: str, b: str) -> bool:
    """natsort.Compare (facette/natsort at the commit Prometheus pins), for reference."""
    ca, cb = re.findall(r"[0-9]+|[^0-9]+", a), re.findall(r"[0-9]+|[^0-9]+", b)
    for i, x in enumerate(ca):
        if i >= len(cb):
            return False
        y = cb[i]
        xi = int(x) if x.isdigit() and int(x) < 2**63 else None
        yi = int(y) if y.isdigit() and int(y) < 2**63 else None
        if xi is not None and yi is not None:
            if xi == yi:
                if i == len(ca) - 1:
                    return True
                if i == len(cb) - 1:
                    return False
                continue
            return xi < yi
        if x == y:
            if i == len(ca) - 1:
                return True
            if i == len(cb) - 1:
                return False
            continue
        return x.encode() < y.encode()
    return False


def test_natural_sort_key_matches_natsort():
    rng = random.Random(7)
    alphabet = ["0", "1", "2", "9", "a", "b", ".", "-", "Z", "é"]
    words = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(300)})
    # Leading zeros make natsort inconsistent (01 vs 1 both "less"); keep to comparable words.
    words = [w for w in words if not re.search(r"(^|[^0-9])0[0-9]", w)]
    key = natural_sort_key(exp.column("w"))
    sql = exp.select("w").from_("words").order_by(exp.Ordered(this=key), "w").sql("duckdb")
    con = duckdb.connect()
    con.execute("CREATE TABLE words (w VARCHAR)")
    con.executemany("INSERT INTO words VALUES (?)", [[w] for w in words])
    got = [r[0] for r in con.execute(sql).fetchall()]

    def cmp(a: str, b: str) -> int:
        return -1 if _natsort_less(a, b) else 1

    want = sorted(words, key=functools.cmp_to_key(cmp))
    assert got == want


def test_sort_by_label_is_natural(engine):
    res = engine.instant('sort_by_label(m, "i")', 0)
    assert [d.get("i", "") for d in _labels(res)] == ["", "a9", "a09b", "a10"]
