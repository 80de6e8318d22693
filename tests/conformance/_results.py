"""Hand-built ``QueryResult`` values for the self-tests."""

from __future__ import annotations

import pyarrow as pa

from promlake.promql2sql.result import POINTS_SCHEMA, SERIES_SCHEMA, QueryResult
from promlake.promql2sql.signatures import ValueType

__all__ = ["matrix", "scalar", "string", "vector"]


def _tables(rows: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> tuple[pa.Table, pa.Table]:
    series = pa.table(
        {
            "series": pa.array(range(len(rows)), pa.int32()),
            "labels": pa.array(
                [list(labels.items()) for labels, _ in rows], pa.map_(pa.string(), pa.string())
            ),
        },
        schema=SERIES_SCHEMA,
    )
    index = [i for i, (_, points) in enumerate(rows) for _ in points]
    ts = [t for _, points in rows for t, _ in points]
    vs = [v for _, points in rows for _, v in points]
    points = pa.table(
        {
            "series": pa.array(index, pa.int32()),
            "t": pa.array(ts, pa.int64()),
            "v": pa.array(vs, pa.float64()),
        },
        schema=POINTS_SCHEMA,
    )
    return series, points


def vector(
    *samples: tuple[dict[str, str], float], warnings: tuple[str, ...] = (), infos: tuple[str, ...] = ()
) -> QueryResult:
    """An instant vector, in the given order (at t=0: vectors carry no useful timestamp)."""
    series, points = _tables([(labels, [(0, value)]) for labels, value in samples])
    return QueryResult(ValueType.VECTOR, series, points, warnings=warnings, infos=infos)


def matrix(*rows: tuple[dict[str, str], list[tuple[int, float]]]) -> QueryResult:
    """A range vector, series in the given order."""
    series, points = _tables(list(rows))
    return QueryResult(ValueType.MATRIX, series, points)


def scalar(value: float, t: int = 0) -> QueryResult:
    _, points = _tables([({}, [(t, value)])])
    return QueryResult(ValueType.SCALAR, points=points)


def string(value: str) -> QueryResult:
    return QueryResult(ValueType.STRING, string=value)
