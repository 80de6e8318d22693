"""promlake.engine: the lake (head, WAL, Parquet blocks, compaction, retention, series index).

Entry points: ``Lake`` (open a lake directory), ``Lake.appender()`` (the only way to write),
``Lake.snapshot()``/``Lake.sql()`` (read). See README.md and FORMAT.md in this folder.
"""

from promlake.engine.appender import Appender, CommitResult
from promlake.engine.labels import SeriesBatch
from promlake.engine.lake import Lake

__all__ = ["Appender", "CommitResult", "Lake", "SeriesBatch"]
