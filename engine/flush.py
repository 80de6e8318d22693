"""Writing a head generation to Parquet blocks: one block per day it holds, and the metadata file.

A flush writes, per day, the series file, then the exemplars and histograms files when there
are any, then the samples file, which is the block's commit point (even when empty: it is what
makes the block visible; FORMAT.md "Writing guarantees"). The lake calls these with its write
path quiesced for the generation being written (``Lake.flush``) or at open, for generations
replayed from the WAL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from promlake.engine import blocks as blk
from promlake.engine.appender import Metadata
from promlake.engine.blocks import Block
from promlake.engine.head import HeadGeneration
from promlake.engine.index import SeriesIndex
from promlake.engine.labels import METRIC_NAME, labels_to_map

log = logging.getLogger(__name__)

METADATA_FILE = Path("metadata") / "metadata.parquet"


def write_generation(root: Path, gen: HeadGeneration, index: SeriesIndex) -> list[Block]:
    """Write ``gen`` as level-0 blocks (one per day); records what was flushed in ``index``."""
    samples = _day_frame(gen.table()).sort(["series_id", "ts"])
    exemplars = _day_frame(gen.exemplar_table())
    hists = _day_frame(gen.histograms.table())
    days = sorted(
        set(samples["day"].unique().to_list())
        | set(exemplars["day"].unique().to_list())
        | set(hists["day"].unique().to_list())
    )
    written = []
    for day in days:
        part = samples.filter(pl.col("day") == day).drop("day")
        ex = exemplars.filter(pl.col("day") == day).drop("day")
        hp = hists.filter(pl.col("day") == day).drop("day").sort(["series_id", "ts"])
        ts_all = pl.concat([part["ts"], ex["ts"], hp["ts"]])
        mint, maxt = int(ts_all.min()), int(ts_all.max())  # type: ignore[arg-type]
        block = Block(gen.seq, 0, mint, maxt, blk.day_of(day * blk.DAY_MS), gen.overlaps)
        per_series = (
            pl.concat([f.select("series_id", "ts") for f in (part, ex, hp)])
            .group_by("series_id")
            .agg(min_ts=pl.col("ts").min(), max_ts=pl.col("ts").max())
            .sort("series_id")
        )
        blk.write_series(series_rows(index, per_series), block.path(root, "series"))
        if ex.height:
            blk.write_exemplars(ex.to_arrow(), block.path(root, "exemplars"))
        if hp.height:
            blk.write_histograms(hp.to_arrow(), block.path(root, "histograms"))
        blk.write_samples(part.to_arrow(), block.path(root, "samples"), level=0)
        written.append(block)
        index.note_flushed(per_series["series_id"].to_numpy(), per_series["max_ts"].to_numpy())
    return written


def series_rows(index: SeriesIndex, per_series: pl.DataFrame) -> pa.Table:
    """SERIES_SCHEMA rows for (series_id, min_ts, max_ts), labels from the index."""
    sids = per_series["series_id"].to_numpy()
    ids, maps = labels_to_map(index.labels_of(sids))
    names = pc.map_lookup(maps, pa.scalar(METRIC_NAME), "first")
    order = np.searchsorted(ids, sids)
    return pa.table(
        {
            "series_id": sids,
            "metric": names.take(pa.array(order)),
            "labels": maps.take(pa.array(order)),
            "min_ts": per_series["min_ts"].to_numpy(),
            "max_ts": per_series["max_ts"].to_numpy(),
        },
        schema=blk.SERIES_SCHEMA,
    )


def write_metadata(root: Path, items: Sequence[Metadata]) -> None:
    """Rewrite the metadata file whole (it is one row per metric family: small)."""
    blk.write_atomic(metadata_table(items), root / METADATA_FILE)


def read_metadata(path: Path, keep_aside: bool) -> dict[str, Metadata]:
    """The flushed metadata file, one entry per metric family (empty if there is none)."""
    if not path.exists():
        return {}
    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, pa.ArrowException) as exc:
        # Keep the unreadable file aside rather than overwrite it at the next flush.
        log.error("unreadable metadata file %s: %s", path, exc)
        if keep_aside:
            path.rename(path.with_suffix(".parquet.corrupt"))
        return {}
    return {r["metric"]: Metadata(r["metric"], r["type"], r["help"], r["unit"]) for r in rows}


def metadata_table(items: Sequence[Metadata]) -> pa.Table:
    return pa.table(
        {
            "metric": [m.metric for m in items],
            "type": [m.type for m in items],
            "help": [m.help for m in items],
            "unit": [m.unit for m in items],
        }
    )


def _day_frame(table: pa.Table) -> pl.DataFrame:
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    return df.with_columns(day=pl.col("ts") // blk.DAY_MS)
