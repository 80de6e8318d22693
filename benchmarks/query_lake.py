"""promlake's side of the query benchmark, in a process of its own.

``python -m benchmarks.query_lake build --set NAME [--quick] --dir DIR`` appends a query set's data
through the Appender (``lake_side.measure_ingest``: time order, flushes every 2h of data, then
flush + compact, sample count checked) and prints its figures as one JSON line.

``python -m benchmarks.query_lake serve --dir DIR`` opens the lake read-only, prints
``{"ready": true, "open_ms": ...}`` and then answers one JSON request per stdin line with one
JSON line on stdout:

- ``{"op": "run", "expr", "start", "end", "step", "save": path|null}``: one
  ``Engine.range`` call, timed in wall and CPU time (all threads of the process, so DuckDB's
  too). No HTTP and no JSON encoding: the result stays the engine's Arrow tables. With ``save``,
  the result is written as ``<save>.series.arrow`` / ``<save>.points.arrow`` for the match check.
- ``{"op": "profile", "expr", "start", "end", "step", "out": path}``: one call under pyinstrument
  (if installed); the text report goes to ``out`` and a breakdown of the time comes back.
"""

from __future__ import annotations

# promlake first: it sets the allocator options a promlake server runs with (see lake_side.py).
import promlake  # isort: skip

import argparse
import contextlib
import json
import os
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.feather as feather

# Where the engine spends time, by the engine function a profile sample is under (innermost
# match wins). Names of promql2sql/engine.py; a renamed function only lands in "other". Every
# statement goes through ``execute`` (``_duckdb_execute`` below), counted as the library
# "duckdb" within the phase of the engine function that sent it.
PHASES = {
    "parse_expr": "parse + plan + build SQL (Python)",
    "plan_query": "parse + plan + build SQL (Python)",
    "compile": "parse + plan + build SQL (Python)",
    "_outputs": "parse + plan + build SQL (Python)",
    "check_samples": "max-samples check",
    "statement_sql": "shared intermediate results (temporary tables)",
    "_annotations": "annotation queries (warnings/infos)",
    "_arrow": "result statements (points, series)",
    "_vector_result": "result building",
    "_run": "check queries and other",
}


def _duckdb_execute(con: Any, *args: Any, **kwargs: Any) -> Any:
    return con.execute(*args, **kwargs)


class _ProfiledConnection:
    """A DuckDB connection whose ``execute`` (a C method, invisible to pyinstrument, which would
    count its time as the calling engine frame's own) is a Python frame of its own."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return _duckdb_execute(self._con, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@contextlib.contextmanager
def _visible_execute() -> Iterator[None]:
    """While profiling, the engine's connections are ``_ProfiledConnection``s (restored after)."""
    from promlake.promql2sql.engine import Engine

    original = Engine._connection
    Engine._connection = lambda self, snap: _ProfiledConnection(original(self, snap))
    try:
        yield
    finally:
        Engine._connection = original


def build(set_name: str, quick: bool, lake_dir: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import query_set
    from benchmarks.lake_side import measure_ingest

    qs = query_set.get(set_name, quick, **overrides)
    return measure_ingest(qs.spec, lake_dir, qs.rounds_per_batch, reuse=False)


def _library(path: str, function: str) -> str | None:
    if function == "_duckdb_execute":
        return "duckdb"
    for lib in ("duckdb", "sqlglot", "pyarrow", "numpy", "polars"):
        if f"/{lib}/" in path or path.startswith(f"{lib}/"):
            return lib
    if "promql2sql" in path or "/engine/" in path:
        return "promlake (Python)"
    return None


def breakdown(root: Any) -> dict[str, dict[str, float]]:
    """Seconds of a pyinstrument frame tree by engine phase and by library (self time)."""
    phases: dict[str, float] = defaultdict(float)
    libs: dict[str, float] = defaultdict(float)
    stack: list[tuple[Any, str, str]] = [(root, "other", "other Python")]
    while stack:
        frame, phase, lib = stack.pop()
        phase = PHASES.get(frame.function, phase)
        lib = _library(frame.file_path or "", frame.function) or lib
        self_time = frame.time - sum(c.time for c in frame.children)
        phases[phase] += self_time
        libs[lib] += self_time
        stack.extend((c, phase, lib) for c in frame.children)
    return {"by_phase": dict(phases), "by_library": dict(libs)}


class Worker:
    def __init__(self, lake_dir: Path) -> None:
        t0 = time.perf_counter()
        self.lake = promlake.open(lake_dir, readonly=True)
        self.open_ms = (time.perf_counter() - t0) * 1000

    def run(self, req: dict[str, Any]) -> dict[str, Any]:
        t0, c0 = time.perf_counter(), time.process_time()
        res = self.lake.engine.range(req["expr"], req["start"], req["end"], req["step"])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if req.get("save"):
            feather.write_feather(res.series, req["save"] + ".series.arrow", compression="uncompressed")
            feather.write_feather(res.points, req["save"] + ".points.arrow", compression="uncompressed")
        return {
            "wall_ms": wall * 1000,
            "cpu_ms": cpu * 1000,
            "series": res.series.num_rows,
            "points": res.points.num_rows,
            "type": res.type.name,
        }

    def profile(self, req: dict[str, Any]) -> dict[str, Any]:
        try:
            from pyinstrument import Profiler
        except ImportError:
            return {"error": "pyinstrument is not installed (.venv/bin/pip install pyinstrument)"}
        prof = Profiler(interval=0.002)
        c0 = time.process_time()
        with _visible_execute():
            prof.start()
            self.lake.engine.range(req["expr"], req["start"], req["end"], req["step"])
            session = prof.stop()
        cpu = time.process_time() - c0
        Path(req["out"]).write_text(prof.output_text(unicode=False, color=False))
        root = session.root_frame()
        return {
            "wall_ms": session.duration * 1000,
            "cpu_ms": cpu * 1000,
            **(breakdown(root) if root is not None else {}),
        }

    def serve(self) -> None:
        print(json.dumps({"ready": True, "open_ms": self.open_ms, "pid": os.getpid()}), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            req = json.loads(line)
            try:
                out = self.profile(req) if req.get("op") == "profile" else self.run(req)
            except Exception as exc:  # a query error is a result of the benchmark, not a crash
                out = {
                    "error": f"{type(exc).__name__}: {exc}"[:2000],
                    "traceback": traceback.format_exc(limit=4)[-2000:],
                }
            print(json.dumps(out), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["build", "serve"])
    ap.add_argument("--dir", required=True, type=Path)
    ap.add_argument("--set", choices=["dashboard", "longrange"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--overrides", default="{}", help="JSON of query_set overrides (series, hours, days, seed)"
    )
    a = ap.parse_args(argv)
    if a.mode == "build":
        if a.set is None:
            ap.error("build needs --set")
        out = build(a.set, a.quick, a.dir, json.loads(a.overrides))
        print(json.dumps(out, default=str), flush=True)
    else:
        Worker(a.dir).serve()


if __name__ == "__main__":
    main()
