"""Float equality of the test harness (FORMAT.md section 7.1)."""

from __future__ import annotations

import math
import sys

from promlake.promql2sql.series import is_stale

__all__ = ["EPSILON", "almost_equal"]

EPSILON = 1e-6  # upstream's defaultEpsilon: relative error allowed for sample values
_MIN_NORMAL = sys.float_info.min
_MAX_FLOAT = sys.float_info.max


def almost_equal(a: float, b: float) -> bool:
    """Upstream's ``almost.Equal`` with its epsilon, telling stale markers from other NaNs."""
    if is_stale(a) or is_stale(b):
        return is_stale(a) and is_stale(b)
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    diff = abs(a - b)
    total = abs(a) + abs(b)
    if a == 0 or b == 0 or total < _MIN_NORMAL:
        # Next to zero a relative error means nothing: only a tiny absolute one is accepted,
        # so in practice an expected 0 needs an exact 0.
        return diff < EPSILON * _MIN_NORMAL
    return diff / min(total, _MAX_FLOAT) < EPSILON
