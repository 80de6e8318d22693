"""The Python API's lake: storage plus PromQL and SQL, returning Polars DataFrames.

``promlake.open(path)`` returns this object. It composes the storage engine's ``Lake``
(appending, flushing, SQL views) with the PromQL engine, which sits above storage and so cannot
live inside it.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import polars as pl

from promlake.engine.lake import Lake as StorageLake
from promlake.promql2sql.engine import Engine
from promlake.promql2sql.result import QueryResult
from promlake.promql2sql.signatures import ValueType

TimeLike = int | float | dt.datetime | str


def to_ms(t: TimeLike) -> int:
    """Milliseconds since the epoch from Unix seconds, a datetime, or an RFC 3339 string."""
    if isinstance(t, dt.datetime):
        return int(t.timestamp() * 1000)
    if isinstance(t, str):
        return int(dt.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)
    return round(float(t) * 1000)


class Lake:
    """A promlake lake opened from Python (see ``promlake.open``)."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False, **options: Any) -> None:
        self.storage = StorageLake(path, readonly=readonly, **options)
        self.engine = Engine(self.storage)

    def __getattr__(self, name: str) -> Any:
        # Everything of the storage lake (appender, flush, compact, sql, stats, ...) as is.
        return getattr(self.storage, name)

    def query(self, expr: str, time: TimeLike | None = None) -> pl.DataFrame:
        """Evaluate PromQL at one time (default: now): one row per series (or per sample)."""
        t = to_ms(time) if time is not None else int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        return result_frame(self.engine.instant(expr, t))

    def query_range(self, expr: str, start: TimeLike, end: TimeLike, step: float | str) -> pl.DataFrame:
        """Evaluate PromQL over a range: one row per series per step."""
        from promlake.promql2sql.durations import parse_duration

        step_ms = parse_duration(step) if isinstance(step, str) else round(step * 1000)
        return result_frame(self.engine.range(expr, to_ms(start), to_ms(end), step_ms))

    def close(self, flush: bool = True) -> None:
        self.storage.close(flush=flush)

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def result_frame(result: QueryResult) -> pl.DataFrame:
    """A query result as a long frame: metric, labels, timestamp (UTC), value."""
    points = pl.from_arrow(result.points)
    assert isinstance(points, pl.DataFrame)
    points = points.with_columns(timestamp=pl.from_epoch(pl.col("t"), time_unit="ms").dt.replace_time_zone("UTC"))
    if result.type is ValueType.SCALAR:
        return points.select("timestamp", pl.col("v").alias("value"))
    series = pl.from_arrow(result.series)
    assert isinstance(series, pl.DataFrame)
    joined = points.join(series, on="series", how="left", maintain_order="left")
    return joined.select(
        pl.col("labels").map.get("__name__").alias("metric") if "labels" in joined.columns else pl.lit(None).alias("metric"),
        "labels",
        "timestamp",
        pl.col("v").alias("value"),
    )
