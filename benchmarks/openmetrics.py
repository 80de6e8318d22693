"""The generated data as an OpenMetrics text file for ``promtool tsdb create-blocks-from openmetrics``.

What promtool (2.42) needs: ``# TYPE`` per family, every sample with a timestamp in seconds
(fractional ms), the samples of a family together, and a final ``# EOF``. Its parser does not
require one series' points to be contiguous, so a family's samples are written chunk by chunk
(each series in time order). Values are Arrow's shortest round-trip text of the float64, so the
blocks hold exactly the floats promlake gets.

Lines are assembled by Arrow string kernels and written straight from the result's data buffer:
no Python string per sample.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.datagen import Chunk, Generator

# Lines per Arrow call: keeps one result far below the 2 GiB limit of 32-bit string offsets.
_MAX_LINES = 1_000_000


def format_values(values: np.ndarray) -> pa.Array:
    """Float64 -> shortest round-trip text, with OpenMetrics spellings of the special values."""
    text = pc.cast(pa.array(values, pa.float64()), pa.string())
    special = ~np.isfinite(values)
    if special.any():
        spelled = np.where(np.isnan(values), "NaN", np.where(values > 0, "+Inf", "-Inf"))
        text = pc.if_else(pa.array(special), pa.array(spelled, pa.string()), text)
    return text


def format_timestamps(ts: np.ndarray) -> pa.Array:
    """Int64 ms -> seconds text that Prometheus reads back as the same ms.

    Its parser computes ``int64(float_seconds * 1000)``, which truncates; where the nearest float
    to ``ts/1000`` would come back one ms early, the next float up is written instead.
    """
    x = ts / 1000.0
    for _ in range(4):
        bad = np.trunc(x * 1000.0).astype(np.int64) != ts
        if not bad.any():
            return pc.cast(pa.array(x), pa.string())
        x[bad] = np.nextafter(x[bad], np.inf)
    raise ValueError("timestamps not representable as float seconds")


def format_lines(series_text: pa.Array, ts: np.ndarray, values: np.ndarray) -> pa.Array:
    """``<series> <value> <seconds>\\n`` for parallel arrays (one element per sample)."""
    return pc.binary_join_element_wise(series_text, " ", format_values(values), " ", format_timestamps(ts),
                                       "\n", "")


def write_utf8(out: BinaryIO, text: pa.Array) -> None:
    """Write the concatenation of a string array's elements (its data buffer, zero-copy)."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=len(text) + 1, offset=text.offset * 4)
    data = text.buffers()[2]
    if data is not None:
        out.write(memoryview(data)[int(offsets[0]):int(offsets[-1])])


def _write_chunk(gen: Generator, ch: Chunk, files: dict[int, BinaryIO], tmp: Path) -> None:
    fam = gen.series_family[ch.gids]
    order = np.argsort(fam, kind="stable")
    bounds = np.flatnonzero(np.diff(fam[order])) + 1
    n_rounds = ch.r1 - ch.r0
    for rows in np.split(order, bounds):
        f = int(fam[rows[0]])
        if f not in files:
            name, mtype = gen.families[f]
            files[f] = open(tmp / f"{f:04d}.om", "wb")  # noqa: SIM115 - closed by write_openmetrics
            files[f].write(f"# TYPE {name} {mtype}\n".encode())
        step = max(1, _MAX_LINES // n_rounds)
        for a in range(0, len(rows), step):
            part = rows[a:a + step]
            series_text = gen.om_series.take(pa.array(np.repeat(ch.gids[part], n_rounds)))
            write_utf8(files[f], format_lines(series_text, ch.ts[part].ravel(), ch.values[part].ravel()))


def write_openmetrics(gen: Generator, path: Path) -> int:
    """Write all of ``gen``'s samples to ``path``; returns the number of samples written."""
    n = 0
    files: dict[int, BinaryIO] = {}
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".om-") as tmpdir:
        try:
            for ch in gen.chunks():
                _write_chunk(gen, ch, files, Path(tmpdir))
                n += ch.n_samples
        finally:
            for fh in files.values():
                fh.close()
        with open(path, "wb") as out:
            for f in sorted(files):  # families in first-seen order of the templates
                with open(Path(tmpdir) / f"{f:04d}.om", "rb") as src:
                    shutil.copyfileobj(src, out, 16 << 20)
            out.write(b"# EOF\n")
    return n
