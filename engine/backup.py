"""On-disk snapshots of a lake (Prometheus's ``/api/v1/admin/tsdb/snapshot``).

A snapshot is a complete lake in a directory of its own that ``Lake(path, readonly=True)``,
plain DuckDB or a backup tool reads: the Parquet files of every block, the tombstone files and
the metadata file, as hard links where the file system allows (lake files are never modified
in place once published, so a link is a frozen copy that costs no space), else copies. It is
assembled under a temporary name and renamed into place, so it appears whole or not at all.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from promlake.engine import blocks as blk
from promlake.engine.lake import LAKE_FILE

if TYPE_CHECKING:
    from promlake.engine.lake import Lake

# Every kind of block file (histograms included even where blocks.KINDS predates them).
KINDS = tuple(dict.fromkeys((*blk.KINDS, "histograms")))


def write_snapshot(lake: Lake, dest: Path, with_head: bool = True) -> Path:
    """Write a readable copy of the lake to ``dest`` (which must not exist yet)."""
    if with_head:
        lake.flush()  # the head becomes blocks, which the snapshot then links like the others
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # The flush lock keeps compaction, cleaning and flushes from replacing files meanwhile.
    with lake._flush_lock:
        files = [lake.root / LAKE_FILE, lake.root / "metadata" / "metadata.parquet"]
        files += [b.path(lake.root, kind) for b in lake.blocks for kind in KINDS]
        files += list(lake.tombstones.files)
        for src in files:
            if src.exists():
                _link_or_copy(src, tmp / src.relative_to(lake.root))
    _fsync_tree(tmp)
    os.replace(tmp, dest)
    _fsync(dest.parent)
    return dest


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(src, dst)


def _fsync_tree(root: Path) -> None:
    """Directory entries durable: the files themselves were fsynced when written."""
    for d, _dirs, _files in os.walk(root):
        _fsync(Path(d))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
