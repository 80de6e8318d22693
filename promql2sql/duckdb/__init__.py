"""The DuckDB backend: plan -> sqlglot expressions -> SQL text, run by DuckDB.

Importing this package registers every operator's lowering (``context.HANDLERS``).
"""

from . import aggregate, binary, elementwise, histograms, info, labels, range_functions, scalars, selectors  # noqa: F401  # noqa: F401
from .context import Compiler, Mat, Querier, Scal, Str, Timeline, Vec

__all__ = ["Compiler", "Mat", "Querier", "Scal", "Str", "Timeline", "Vec"]
