"""Returning freed memory to the OS after bursts of allocation (see promlake/_memory.py)."""

from __future__ import annotations

import contextlib
import ctypes
import sys
import threading
import time

import pyarrow as pa


def release_unused() -> None:
    """Hand free pages back now, e.g. after a head flush, so RSS tracks live data."""
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


# Seconds between the first write of a burst and the release that follows it: writes within
# it share one release, so a steady stream of requests pays one malloc_trim per interval.
RELEASE_INTERVAL_S = 1.0


class _Releaser:
    """Runs ``release_unused`` on a daemon thread shortly after ``soon()`` is called.

    Why: remote write allocates and frees a few MB per request (decoded body, per-request
    arrays, WAL record, index and cache growth) from several threads (the request worker
    pool, the head flusher). glibc keeps the freed chunks of that churn in its heaps, and
    free() only ever returns the top of a heap: measured with bench_ingest (100k series, 4M
    samples), the settled server held 135 MB of free chunks (malloc_info: 114 MB in the
    worker threads' arena, 21 MB in the main heap), and one malloc_trim after the last write
    gave back 53 MB of resident pages, ~530 B/series of its 1,300 B/series RSS growth (with
    this: ~730 B/series). Trimming after every request costs too much (1.4 ms a request on
    average, p99 12 ms, 2.8 s over the 2,040 requests, holding each arena's lock), so
    requests only ask for a release: one runs per interval while writes keep coming (0.1-1%
    of the time), and one after they stop.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._due = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def soon(self) -> None:
        self._due.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="memory-release", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.interval_s)
            self._due.clear()  # writes from here on ask for the next release
            release_unused()


_releaser = _Releaser(RELEASE_INTERVAL_S)


def release_soon() -> None:
    """Ask for ``release_unused`` within ``RELEASE_INTERVAL_S`` (cheap; for request paths)."""
    _releaser.soon()
