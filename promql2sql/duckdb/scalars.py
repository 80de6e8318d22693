"""Scalars and the operators that produce them or turn them into vectors."""

from __future__ import annotations

import sqlglot.expressions as exp

from .. import plan as p
from ..errors import ExecutionError
from .context import Compiler, Scal, Str, Timeline, Vec, handles, num, table, tmpl
from .elementwise import go_max, go_min


@handles(p.Literal)
def literal(c: Compiler, node: p.Literal, tl: Timeline) -> Scal:
    value = exp.cast(num(node.value), "DOUBLE")
    return Scal(c.cte(tmpl("SELECT t, :v AS v FROM :s", v=value, s=table(c.steps(tl))), "lit"))


@handles(p.StringValue)
def string(c: Compiler, node: p.StringValue, tl: Timeline) -> Str:
    return Str(node.value)


@handles(p.StepTime)
def step_time(c: Compiler, node: p.StepTime, tl: Timeline) -> Scal:
    return Scal(c.cte(tmpl("SELECT t, t / 1000.0 AS v FROM :s", s=table(c.steps(tl))), "time"))


@handles(p.VectorOf)
def vector_of(c: Compiler, node: p.VectorOf, tl: Timeline) -> Vec:
    s = c.compile(node.arg, tl)
    assert isinstance(s, Scal)
    series = c.cte(
        tmpl("SELECT 0::BIGINT AS sk, MAP()::MAP(VARCHAR, VARCHAR) AS labels, FALSE AS drop_name"), "series"
    )
    return Vec(c.cte(tmpl("SELECT 0::BIGINT AS sk, t, v FROM :p", p=table(s.points)), "vector"), series)


@handles(p.ScalarFunction)
def scalar_function(c: Compiler, node: p.ScalarFunction, tl: Timeline) -> Scal:
    if node.func == "pi":
        return Scal(c.cte(tmpl("SELECT t, pi() AS v FROM :s", s=table(c.steps(tl))), "pi"))
    if node.func == "scalar":
        v = c.compile(node.args[0], tl)
        assert isinstance(v, Vec)
        # One series at a step gives its value; none or several give NaN (funcScalar).
        body = tmpl(
            "SELECT s.t, CASE WHEN count(p.v) = 1 THEN any_value(p.v) ELSE 'nan'::DOUBLE END AS v "
            "FROM :steps AS s LEFT JOIN :p AS p ON p.t = s.t GROUP BY s.t",
            steps=table(c.steps(tl)), p=table(v.points),
        )  # fmt: skip
        return Scal(c.cte(body, "scalar"))
    if node.func in ("min_of", "max_of"):
        a, b = (c.compile(x, tl) for x in node.args)
        assert isinstance(a, Scal) and isinstance(b, Scal)
        # funcMinOf / funcMaxOf: Go's math.Min / math.Max, NaN and infinities included.
        fn = go_min if node.func == "min_of" else go_max
        value = fn(exp.column("v", "a"), exp.column("v", "b"))
        body = tmpl(
            "SELECT a.t, :v AS v FROM :a AS a JOIN :b AS b ON a.t = b.t",
            v=value,
            a=table(a.points),
            b=table(b.points),
        )
        return Scal(c.cte(body, node.func))
    raise ExecutionError(f"function {node.func}() is not supported by the DuckDB backend yet")
