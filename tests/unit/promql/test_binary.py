"""Binary operators and vector matching beyond what the float corpus pins down: Go's float
rules for ``%``/``^``/``atan2``/NaN comparisons, the exact matching error messages (label sets
printed the Go way), upstream's label and name rules for comparisons and ``group_right``, and
``min_of``/``max_of`` with infinities and NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest

import promlake
from promlake.engine import SeriesBatch
from promlake.promql2sql.duckdb.labelset import go_labels
from promlake.promql2sql.errors import ExecutionError

STEP = 60_000

SERIES: list[tuple[dict[str, str], float]] = [
    ({"__name__": "a", "job": "x", "instance": "1"}, 10.0),
    ({"__name__": "a", "job": "x", "instance": "2"}, 20.0),
    ({"__name__": "b", "job": "x"}, 3.0),
    ({"__name__": "b", "job": "y"}, 4.0),
    ({"__name__": "dup", "a.b": 'q"1', "job": "x"}, 1.0),
    ({"__name__": "dup", "a.b": "q\n2", "job": "x"}, 2.0),
    ({"__name__": "other", "job": "x"}, 5.0),
    ({"__name__": "neg", "job": "x"}, -7.0),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    lake = promlake.open(tmp_path_factory.mktemp("binary"))
    sets = [labels for labels, _ in SERIES]
    batch = SeriesBatch.from_dicts(sets)
    app = lake.appender()
    app.append(batch, np.arange(len(sets)), np.zeros(len(sets), np.int64), np.array([v for _, v in SERIES]))
    app.commit()
    yield lake.engine
    lake.close()


def _vector(res) -> dict[tuple, float]:
    labels = {r["series"]: tuple(sorted(r["labels"])) for r in res.series.to_pylist()}
    return {labels[r["series"]]: r["v"] for r in res.points.to_pylist()}


def _scalar(engine, q: str) -> float:
    res = engine.instant(q, 0)
    return res.points.column("v").to_pylist()[0]


@pytest.mark.parametrize(
    ("q", "want"),
    [
        ("-7 % 3", -1.0),  # math.Mod: the sign of the dividend
        ("7 % -3", 1.0),
        ("5 % 0", math.nan),
        ("5 % Inf", 5.0),
        ("Inf % 2", math.nan),
        ("1e20 % 3", math.fmod(1e20, 3)),  # exact, not a - b*trunc(a/b)
        ("0 ^ -1", math.inf),
        ("NaN ^ 0", 1.0),
        ("(-8) ^ (1/3)", math.nan),
        ("-8 ^ (1/3)", -2.0),  # unary minus binds looser than ^
        ("1 / 0", math.inf),
        ("-1 / 0", -math.inf),
        ("0 / 0", math.nan),
        ("1 atan2 -1", math.atan2(1, -1)),
        ("NaN == bool NaN", 0.0),
        ("NaN != bool NaN", 1.0),
        ("NaN >= bool -Inf", 0.0),
        ("max_of(NaN, Inf)", math.inf),  # math.Max: +Inf beats NaN
        ("min_of(NaN, -Inf)", -math.inf),
        ("max_of(NaN, 1)", math.nan),
        ("min_of(2, 1)", 1.0),
    ],
)
def test_scalar_go_math(engine, q, want):
    got = _scalar(engine, q)
    assert (math.isnan(got) and math.isnan(want)) or got == want


def test_vector_mod_and_nan_comparisons(engine):
    assert _vector(engine.instant("neg % on() vector(3)", 0)) == {(): -1.0}  # on() keeps no label
    assert _vector(engine.instant("vector(NaN) == vector(NaN)", 0)) == {}
    assert _vector(engine.instant("vector(NaN) != bool vector(NaN)", 0)) == {(): 1.0}


def test_one_side_duplicates_message(engine):
    with pytest.raises(ExecutionError) as err:
        engine.instant("other + on(job) dup", 0)
    assert str(err.value) == (
        'found duplicate series for the match group {job="x"} on the right hand-side of the operation: '
        '[{__name__="dup", "a.b"="q\\"1", job="x"}, {__name__="dup", "a.b"="q\\n2", job="x"}]'
        ";many-to-many matching not allowed: matching labels must be unique on one side"
    )


def test_group_right_duplicates_are_on_the_left(engine):
    with pytest.raises(ExecutionError, match="on the left hand-side of the operation"):
        engine.instant("dup * on(job) group_right a", 0)


def test_many_side_duplicates_need_group_left(engine):
    with pytest.raises(ExecutionError) as err:
        engine.instant("a + on(job) other", 0)
    assert str(err.value) == (
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    )


def test_group_left_results_must_be_unique(engine):
    # Arithmetic drops the names that told the two "many" series apart.
    with pytest.raises(ExecutionError, match="grouping labels must ensure unique matches"):
        engine.instant('{__name__=~"b|other", job="x"} + on(job) group_left b', 0)


def test_no_error_without_a_partner_step(engine):
    # Upstream short-circuits when one side is empty: duplicates on the other side are fine.
    assert _vector(engine.instant("nonexistent + on(job) dup", 0)) == {}


def test_group_right_comparison_keeps_left_value(engine):
    # vectorElemBinop keeps the left operand's value, here the "one" side.
    got = _vector(engine.instant("other < on(job) group_right a", 0))
    assert got == {
        (("__name__", "a"), ("instance", "1"), ("job", "x")): 5.0,
        (("__name__", "a"), ("instance", "2"), ("job", "x")): 5.0,
    }


def test_one_to_one_labels(engine):
    # on() keeps only the matching labels, ignoring() drops them; comparisons keep the name.
    assert _vector(engine.instant("other > on(job) b", 0)) == {(("job", "x"),): 5.0}
    assert _vector(engine.instant("other > ignoring(instance) b", 0)) == {
        (("__name__", "other"), ("job", "x")): 5.0
    }
    assert _vector(engine.instant("other >= bool ignoring(instance) b", 0)) == {(("job", "x"),): 1.0}


def test_filter_does_not_inherit_pending_drop(engine):
    # VectorBinop builds a new sample with DropName = returnBool: abs()'s pending drop is lost.
    got = _vector(engine.instant("abs(other) >= other", 0))
    assert got == {(("__name__", "other"), ("job", "x")): 5.0}
    # Vector/scalar filters pass the element through with its pending drop.
    assert _vector(engine.instant("abs(other) > 1", 0)) == {(("job", "x"),): 5.0}


def test_set_operators_with_on(engine):
    assert set(_vector(engine.instant("a and on(job) b", 0))) == {
        (("__name__", "a"), ("instance", "1"), ("job", "x")),
        (("__name__", "a"), ("instance", "2"), ("job", "x")),
    }
    assert _vector(engine.instant("b unless on(job) a", 0)) == {(("__name__", "b"), ("job", "y")): 4.0}
    assert _vector(engine.instant("b or on(job) a", 0)) == {
        (("__name__", "b"), ("job", "x")): 3.0,
        (("__name__", "b"), ("job", "y")): 4.0,
    }


def test_go_labels():
    assert go_labels({}) == "{}"
    assert (
        go_labels({"b": "2", "__name__": "m", "ä": "x", "a": "é\t"})
        == '{__name__="m", a="é\\t", b="2", "ä"="x"}'
    )


@pytest.mark.parametrize(
    ("q", "want"),
    [
        # clamp is Go's Max(min, Min(max, v)): NaN anywhere wins unless an infinity decides.
        ("clamp(vector(NaN), 0, 10)", math.nan),
        ("clamp(vector(5), NaN, 10)", math.nan),
        ("clamp(vector(-Inf), -Inf, NaN)", -math.inf),
        ("clamp_min(vector(NaN), 0)", math.nan),
        ("clamp_max(vector(-Inf), NaN)", -math.inf),
        ("clamp_max(vector(3), 1)", 1.0),
        ("sinh(vector(1e-10))", 1e-10),
        ("year(vector(-0.5))", 1970.0),  # time.Unix(int64(v), 0) truncates toward zero
    ],
)
def test_elementwise_go_math(engine, q, want):
    got = list(_vector(engine.instant(q, 0)).values())
    assert len(got) == 1
    assert (math.isnan(got[0]) and math.isnan(want)) or got[0] == pytest.approx(want, rel=1e-12)


def test_clamp_with_crossed_bounds_is_empty(engine):
    assert _vector(engine.instant("clamp(vector(5), 10, 0)", 0)) == {}
