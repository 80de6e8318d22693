"""Returning freed memory to the OS after bursts of allocation (see promlake/_memory.py)."""

from __future__ import annotations

import contextlib
import ctypes
import sys

import pyarrow as pa


def release_unused() -> None:
    """Hand free pages back now, e.g. after a head flush, so RSS tracks live data."""
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
