"""The parser's view of PromQL functions and aggregations (Prometheus 3.14).

This is the type signature only, mirroring ``promql/parser/functions.go``; how a
function is evaluated lives in the planner's registry, and a test keeps the two
in sync.

``variadic`` follows upstream: 0 means exactly ``len(arg_types)`` arguments.
Otherwise the last listed argument is optional and repeatable: a call takes at
least ``len(arg_types) - 1`` arguments and at most ``len(arg_types) - 1 +
variadic`` (no limit when ``variadic`` is -1); extra arguments have the last
listed type.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "AGGREGATORS",
    "EXPERIMENTAL_AGGREGATORS",
    "FUNCTIONS",
    "PARAM_AGGREGATORS",
    "Function",
    "ValueType",
    "get_function",
]


class ValueType(enum.Enum):
    """The type a PromQL expression evaluates to."""

    NONE = "none"
    SCALAR = "scalar"
    VECTOR = "vector"
    MATRIX = "matrix"
    STRING = "string"

    @property
    def documented(self) -> str:
        """The user-facing name used in error messages (``instant vector``, ``range vector``)."""
        return {ValueType.VECTOR: "instant vector", ValueType.MATRIX: "range vector"}.get(self, self.value)


@dataclass(frozen=True, slots=True)
class Function:
    """Signature of one PromQL function."""

    name: str
    arg_types: tuple[ValueType, ...]
    return_type: ValueType
    variadic: int = 0
    experimental: bool = False

    @property
    def min_args(self) -> int:
        return len(self.arg_types) if self.variadic == 0 else len(self.arg_types) - 1

    @property
    def max_args(self) -> int | None:
        """Upper bound on the argument count, or None when unbounded."""
        if self.variadic == 0:
            return len(self.arg_types)
        if self.variadic < 0:
            return None
        return len(self.arg_types) - 1 + self.variadic


_S, _V, _M, _STR = ValueType.SCALAR, ValueType.VECTOR, ValueType.MATRIX, ValueType.STRING


def _fn(
    name: str,
    args: tuple[ValueType, ...],
    ret: ValueType = _V,
    *,
    variadic: int = 0,
    experimental: bool = False,
) -> Function:
    return Function(name, args, ret, variadic, experimental)


_ELEMENTWISE = [
    "abs",
    "absent",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "ceil",
    "cos",
    "cosh",
    "deg",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "ln",
    "log10",
    "log2",
    "rad",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "tan",
    "tanh",
    "timestamp",
]
_OVER_TIME = [
    "absent_over_time",
    "avg_over_time",
    "changes",
    "count_over_time",
    "delta",
    "deriv",
    "first_over_time",
    "idelta",
    "increase",
    "irate",
    "last_over_time",
    "max_over_time",
    "min_over_time",
    "present_over_time",
    "rate",
    "resets",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
]
_EXPERIMENTAL_OVER_TIME = [
    "mad_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
]
# Date functions take an optional instant vector (default: vector(time())).
_DATE = ["day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year"]

_ALL: list[Function] = [
    *(_fn(name, (_V,)) for name in _ELEMENTWISE),
    *(_fn(name, (_M,)) for name in _OVER_TIME),
    *(_fn(name, (_M,), experimental=True) for name in _EXPERIMENTAL_OVER_TIME),
    *(_fn(name, (_V,), variadic=1) for name in _DATE),
    _fn("clamp", (_V, _S, _S)),
    _fn("clamp_max", (_V, _S)),
    _fn("clamp_min", (_V, _S)),
    _fn("double_exponential_smoothing", (_M, _S, _S), experimental=True),
    _fn("histogram_fraction", (_S, _S, _V)),
    _fn("histogram_quantile", (_S, _V)),
    # histogram_quantiles(v, "label", q1, q2, ... q10).
    _fn("histogram_quantiles", (_V, _STR, _S, _S), variadic=9, experimental=True),
    # info(v [, data-label selector]).
    _fn("info", (_V, _V), variadic=1, experimental=True),
    _fn("label_join", (_V, _STR, _STR, _STR), variadic=-1),
    _fn("label_replace", (_V, _STR, _STR, _STR, _STR)),
    _fn("pi", (), _S),
    _fn("predict_linear", (_M, _S)),
    _fn("quantile_over_time", (_S, _M)),
    _fn("round", (_V, _S), variadic=1),
    _fn("scalar", (_V,), _S),
    _fn("sort_by_label", (_V, _STR), variadic=-1, experimental=True),
    _fn("sort_by_label_desc", (_V, _STR), variadic=-1, experimental=True),
    _fn("start_timestamp", (_V,), experimental=True),
    _fn("time", (), _S),
    _fn("vector", (_S,)),
    # Query-parameter functions; also usable inside duration expressions.
    *(_fn(name, (), _S, experimental=True) for name in ("start", "end", "range", "step")),
    _fn("max_of", (_S, _S), _S, experimental=True),
    _fn("min_of", (_S, _S), _S, experimental=True),
]

FUNCTIONS: dict[str, Function] = {f.name: f for f in sorted(_ALL, key=lambda f: f.name)}

# Aggregation operators.  Those in PARAM_AGGREGATORS take a leading parameter
# (a scalar, or a string label name for count_values).
AGGREGATORS = frozenset(
    [
        "avg",
        "bottomk",
        "count",
        "count_values",
        "group",
        "limitk",
        "limit_ratio",
        "max",
        "min",
        "quantile",
        "stddev",
        "stdvar",
        "sum",
        "topk",
    ]
)
PARAM_AGGREGATORS = frozenset(["bottomk", "count_values", "limitk", "limit_ratio", "quantile", "topk"])
EXPERIMENTAL_AGGREGATORS = frozenset({"limitk", "limit_ratio"})


def get_function(name: str) -> Function | None:
    """The signature of a function by its exact (case-sensitive) name."""
    return FUNCTIONS.get(name)
