"""promlake's side of the storage benchmark, run in a process of its own so its RSS is its own.

``python -m benchmarks.lake_side ram|ingest --spec '<json>' --dir DIR`` prints one JSON object.

- ``ram``: a fresh lake's head takes the last hour of the data; settled RSS before and after, per
  head series. The window is generated beforehand into a file and read back batch by batch, so
  what stays resident at the second reading is what the lake keeps.
- ``ingest``: all the data in time order through ``Appender.append``/``commit`` (only those calls
  are timed, not generation), flushing the head every 2h of data like Prometheus cuts blocks; then
  flush, compact, and the bytes of the Parquet under ``samples/`` and ``series/``, and a check that
  ``count(*)`` of the samples view is what was generated.
"""

from __future__ import annotations

# promlake first: it sets the allocator options a promlake server runs with, and those only
# take effect before numpy, pyarrow and polars are loaded.
import promlake  # isort: skip

import argparse
import contextlib
import ctypes
import gc
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa

from benchmarks.datagen import HOUR_MS, Batch, Generator, LabelSet, Spec


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _settled_rss(pause: float = 2.0, samples: int = 3) -> int:
    """RSS after collecting garbage and asking the allocators to return free pages.

    This mirrors the Prometheus side (forced Go GC, then its scavenger): what remains is what
    the process keeps, not garbage it has not yet handed back.
    """
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    time.sleep(pause)
    readings = []
    for _ in range(samples):
        time.sleep(0.5)
        readings.append(_rss())
    return int(statistics.median(readings))


class _PeakRss:
    """Highest RSS seen by a sampling thread (ru_maxrss would include the parent's, kept across exec)."""

    def __init__(self, every: float = 0.1) -> None:
        self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.peak = max(self.peak, _rss())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, _rss())


class _Batches:
    """SeriesBatch per generated batch: fresh each time (labels decoded per request, as in
    remote write) or, with ``reuse``, one per active set (like Prometheus's scrape cache)."""

    def __init__(self, reuse: bool) -> None:
        from promlake.engine import SeriesBatch

        self.cls = SeriesBatch
        self.reuse = reuse
        self.cache: tuple[LabelSet, Any] | None = None

    def of(self, labels: LabelSet) -> Any:
        if self.reuse and self.cache is not None and self.cache[0] is labels:
            return self.cache[1]
        sb = self.cls.from_arrow(labels.label_series, labels.names, labels.values, labels.n_series)
        self.cache = (labels, sb) if self.reuse else None
        return sb


def _append(lake: Any, maker: _Batches, b: Batch) -> float:
    t0 = time.perf_counter()
    app = lake.appender()
    app.append(maker.of(b.labels), b.series_index, b.ts, b.values)
    app.commit()
    return time.perf_counter() - t0


def _spill_window(gen: Generator, from_round: int, rounds_per_batch: int, path: Path) -> tuple[list[tuple[int, int]], list[LabelSet]]:
    """Write the window's batches to one file; returns (sample count, label set) per batch."""
    index: list[tuple[int, int]] = []
    label_sets: list[LabelSet] = []
    with open(path, "wb") as f:
        for b in gen.batches(rounds_per_batch, from_round=from_round):
            if not label_sets or label_sets[-1] is not b.labels:
                label_sets.append(b.labels)
            index.append((b.n_samples, len(label_sets) - 1))
            for arr in (b.series_index, b.ts, b.values):
                f.write(arr.tobytes())
    return index, label_sets


def measure_ram(spec: Spec, lake_dir: Path, window_hours: float, rounds_per_batch: int, reuse: bool) -> dict[str, Any]:

    window_rounds = min(spec.rounds, round(window_hours * HOUR_MS / spec.interval_ms))
    # Generate first and keep the samples on disk: neither the generator's chunk arrays nor a
    # copy of the window may sit in memory at one of the two readings and not the other.
    lake_dir.mkdir(parents=True, exist_ok=True)
    spill = lake_dir.parent / "ram-window.bin"
    gen = Generator(spec)
    index, label_sets = _spill_window(gen, spec.rounds - window_rounds, rounds_per_batch, spill)
    del gen
    maker = _Batches(reuse)
    with promlake.open(lake_dir) as lake, open(spill, "rb") as f:
        rss_idle = _settled_rss()
        n = 0
        seconds = 0.0
        for count, ls in index:
            b = Batch(label_sets[ls], np.fromfile(f, np.int32, count), np.fromfile(f, np.int64, count),
                      np.fromfile(f, np.float64, count))
            seconds += _append(lake, maker, b)
            n += count
        del b
        maker.cache = None
        rss_after = _settled_rss()
        stats = lake.stats()
    spill.unlink()
    # Active series = every series the window wrote (the lake is fresh). promlake's head is a
    # small memtable flushed to Parquet in the background, so it may hold few of them at the
    # moment of the reading; what counts is the process's memory for all of them.
    head_series = stats["series"]
    return {
        "window_hours": window_rounds * spec.interval_ms / HOUR_MS,
        "samples": n,
        "head_series": head_series,
        "head_samples": stats["head_samples"],
        "head_bytes_reported": stats.get("head_bytes"),
        "rss_idle": rss_idle,
        "rss_after": rss_after,
        "append_seconds": seconds,
        "samples_per_second": n / seconds if seconds else None,
        "ram_per_series": (rss_after - rss_idle) / head_series,
        "rss_per_series": rss_after / head_series,
    }


def _tree_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.exists() else 0


def measure_ingest(spec: Spec, lake_dir: Path, rounds_per_batch: int, reuse: bool,
                   flush_every_hours: float = 2.0) -> dict[str, Any]:

    gen = Generator(spec)
    maker = _Batches(reuse)
    append_s = flush_s = 0.0
    n = n_batches = flushes = 0
    flush_every = int(flush_every_hours * HOUR_MS)
    next_flush = spec.start_ms + flush_every
    t_all = time.perf_counter()
    peak = _PeakRss()
    with promlake.open(lake_dir) as lake:
        for b in gen.batches(rounds_per_batch):
            append_s += _append(lake, maker, b)
            n += b.n_samples
            n_batches += 1
            if b.ts[-1] >= next_flush:
                t0 = time.perf_counter()
                lake.flush()
                flush_s += time.perf_counter() - t0
                flushes += 1
                next_flush += flush_every
        t0 = time.perf_counter()
        lake.flush()
        flush_s += time.perf_counter() - t0
        wall = time.perf_counter() - t_all
        t0 = time.perf_counter()
        compacted = lake.compact()
        compact_s = time.perf_counter() - t0
        counted = int(lake.sql("SELECT count(*) AS n FROM samples")["n"][0])
        series = int(lake.sql("SELECT count(DISTINCT series_id) AS n FROM series")["n"][0])
        stats = lake.stats()
    if counted != n:
        raise AssertionError(f"the lake holds {counted} samples, {n} were appended")
    samples_bytes, series_bytes = _tree_bytes(lake_dir / "samples"), _tree_bytes(lake_dir / "series")
    other = {p.name: _tree_bytes(p) for p in lake_dir.iterdir() if p.is_dir() and p.name not in ("samples", "series")}
    return {
        "samples": n,
        "series": series,
        "batches": n_batches,
        "reuse_series_batches": reuse,
        "append_seconds": append_s,
        "samples_per_second": n / append_s,
        "flushes": flushes + 1,
        "flush_seconds": flush_s,
        "samples_per_second_with_flushes": n / (append_s + flush_s),
        "wall_seconds_incl_generation": wall,
        "compact_seconds": compact_s,
        "compactions": len(compacted),
        "blocks": stats.get("blocks"),
        "bytes": samples_bytes + series_bytes,
        "samples_bytes": samples_bytes,
        "series_bytes": series_bytes,
        "other_dir_bytes": other,
        "bytes_per_sample": (samples_bytes + series_bytes) / n,
        "peak_rss_sampled": peak.stop(),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["ram", "ingest"])
    ap.add_argument("--spec", required=True, help="JSON of datagen.Spec fields")
    ap.add_argument("--dir", required=True, type=Path)
    ap.add_argument("--rounds-per-batch", type=int, default=1)
    ap.add_argument("--window-hours", type=float, default=1.0)
    ap.add_argument("--reuse-series", action="store_true")
    a = ap.parse_args(argv)
    spec = Spec(**json.loads(a.spec))
    if a.mode == "ram":
        out = measure_ram(spec, a.dir, a.window_hours, a.rounds_per_batch, a.reuse_series)
    else:
        out = measure_ingest(spec, a.dir, a.rounds_per_batch, a.reuse_series)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
