"""Allocator settings for a long-running server: give freed memory back to the OS.

promlake's hot data lives in numpy/Arrow buffers that are allocated and freed in bursts
(a commit, a head flush, a query). With default settings three allocators keep those freed
pages for reuse: glibc (one arena per thread), Arrow's mimalloc pool and Polars' jemalloc.
Measured in benchmarks/bench_storage.py, that retention, not live data, was most of the RSS
of a lake holding 10k active series (~5 kB/series, against ~0.1 kB of live index and head).
These settings must run before Polars and pyarrow are imported, so ``promlake/__init__``
imports this module first; a user's explicit environment settings win.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

# jemalloc inside the Polars wheel reads this (prefixed) variable once, when Polars loads.
os.environ.setdefault("_RJEM_MALLOC_CONF", "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000")
# Arrow's system pool frees through glibc, which the arena cap below keeps compact.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

_M_ARENA_MAX = -8
if sys.platform.startswith("linux") and "MALLOC_ARENA_MAX" not in os.environ:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, 2)
