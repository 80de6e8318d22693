"""promlake: a Prometheus-compatible monitoring server on an open columnar lake.

>>> import promlake
>>> lake = promlake.open("data")          # doctest: +SKIP
>>> lake.sql("SELECT count(*) FROM samples")  # doctest: +SKIP
>>> lake.query_range("sum by (job) (rate(up[5m]))", "2026-11-25T00:00:00Z", "2026-11-25T06:00:00Z", "1m")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# Before anything imports numpy, pyarrow or polars: allocator settings (see _memory.py).
import promlake._memory  # noqa: F401

if TYPE_CHECKING:
    from promlake.lake import Lake

__version__ = "0.1.0"


def open(path: str | os.PathLike[str], *, readonly: bool = False, **options: Any) -> Lake:
    """Open (or create) the lake at ``path``; ``readonly=True`` reads a lake another process writes."""
    # Imported here so that `import promlake` (the CLI, ingest code) stays light.
    from promlake.lake import Lake

    return Lake(path, readonly=readonly, **options)


def __getattr__(name: str) -> Any:
    if name == "Lake":
        from promlake.lake import Lake

        return Lake
    raise AttributeError(name)


__all__ = ["Lake", "__version__", "open"]
