"""Write-ahead log: a sample is acknowledged only once its commit is in the WAL.

Layout: ``<lake>/wal/<8-digit segment number>``. A segment is a sequence of records::

    u32 payload length | u32 crc32(type byte + payload) | u8 type | payload

and a payload is one Arrow IPC stream (so a commit of a million samples is three buffer copies,
not a million Python calls). A commit's records go out in a single ``write()``: once it
returns, the bytes are in the kernel, so ``kill -9`` of the process cannot lose them; an
``fsync`` happens when a segment is closed (as Prometheus does), or on every commit with
``fsync="always"`` for those who fear power loss more than latency.

A samples record has the columns series_id, ts, value and, only when some sample of the commit
has a start timestamp, st (nullable int64). A record without st, such as every record written
before the column existed, replays as all unknown.

Replay tolerates a torn tail (a write cut short, e.g. by a full disk) and skips over a corrupt
stretch by searching for the next record whose CRC checks, so one bad byte does not hide the
acknowledged records after it. Corrupt segments are moved to ``wal/corrupt/`` rather than
deleted, and every problem is reported to the caller.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

log = logging.getLogger(__name__)

HEADER = struct.Struct("<IIB")
# A record larger than this is not one we wrote: treat its header as corruption.
MAX_RECORD = 1 << 31

RECORD_SERIES = 1
RECORD_SAMPLES = 2
RECORD_EXEMPLARS = 3
RECORD_METADATA = 4
RECORD_TOMBSTONES = 5
# First record of a head generation; payload: its sequence number (u64). Replay rebuilds each
# generation separately, so a re-flush after a crash writes the very blocks the lost flush would have.
RECORD_GENERATION = 6
# Native histogram samples: an Arrow table of histograms.HISTOGRAMS_SCHEMA rows.
RECORD_HISTOGRAMS = 7
RECORD_TYPES = frozenset(
    {
        RECORD_SERIES,
        RECORD_SAMPLES,
        RECORD_EXEMPLARS,
        RECORD_METADATA,
        RECORD_TOMBSTONES,
        RECORD_GENERATION,
        RECORD_HISTOGRAMS,
    }
)

_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def encode_table(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode_table(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()


def frame(rtype: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(bytes([rtype])))
    return HEADER.pack(len(payload), crc, rtype) + payload


@dataclass
class ReplayReport:
    records: int = 0
    segments: int = 0
    problems: list[str] = field(default_factory=list)
    corrupt_segments: list[Path] = field(default_factory=list)


def segment_paths(wal_dir: Path) -> list[Path]:
    if not wal_dir.is_dir():
        return []
    return sorted(p for p in wal_dir.iterdir() if p.is_file() and p.name.isdigit())


class WAL:
    """Append-only log of commits, split into numbered segments."""

    def __init__(
        self, wal_dir: Path, *, segment_bytes: int = 128 << 20, fsync: str = "segment", start_at: int = 1
    ):
        self.dir = wal_dir
        self.segment_bytes = segment_bytes
        self.fsync_always = fsync == "always"
        self.dir.mkdir(parents=True, exist_ok=True)
        existing = segment_paths(self.dir)
        # Segment numbers double as generation sequence numbers, which order writes for
        # "newest wins": they must keep growing across restarts, even after truncation.
        self._segment = max(int(existing[-1].name) + 1 if existing else 1, start_at)
        self._fd = self._open(self._segment)
        self._size = 0

    def _open(self, n: int) -> int:
        fd = os.open(self.dir / f"{n:08d}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _fsync_dir(self.dir)
        return fd

    @property
    def segment(self) -> int:
        return self._segment

    def log(self, records: list[tuple[int, bytes]]) -> None:
        """Write one commit's records atomically (all or, after an error, none)."""
        data = b"".join(frame(t, p) for t, p in records)
        if self._size and self._size + len(data) > self.segment_bytes:
            self.rotate()
        try:
            written = os.write(self._fd, data)
            while written < len(data):
                written += os.write(self._fd, data[written:])
            if self.fsync_always:
                os.fsync(self._fd)
        except OSError:
            # A partial write (ENOSPC, EIO) must not leave a torn record in front of the next
            # commit: cut the segment back to where this commit started, then refuse it.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(data)

    def rotate(self) -> int:
        """Close the current segment and start a new one; returns the new segment number."""
        os.fsync(self._fd)
        os.close(self._fd)
        self._segment += 1
        self._fd = self._open(self._segment)
        self._size = 0
        return self._segment

    def remove_before(self, segment: int) -> None:
        """Delete segments whose records are all safely in Parquet."""
        for p in segment_paths(self.dir):
            if int(p.name) < segment:
                p.unlink()

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def replay(wal_dir: Path, report: ReplayReport) -> Iterator[tuple[int, int, bytes]]:
    """Yield (segment number, type, payload) of every intact record in segment order."""
    for path in segment_paths(wal_dir):
        report.segments += 1
        data = path.read_bytes()
        bad = False
        for item in _scan(data, path, report):
            if item is None:
                bad = True
                continue
            report.records += 1
            yield (int(path.name), *item)
        if bad:
            report.corrupt_segments.append(path)


def _scan(data: bytes, path: Path, report: ReplayReport) -> Iterator[tuple[int, bytes] | None]:
    pos, end = 0, len(data)
    while pos < end:
        rec = _record_at(data, pos)
        if rec is not None:
            rtype, payload, nxt = rec
            yield rtype, payload
            pos = nxt
            continue
        # Damage: resynchronise on the next record whose CRC checks. The search is linear but
        # only runs on a damaged segment; a CRC match by chance is a 1 in 2**32 event.
        nxt = pos + 1
        while nxt < end and _record_at(data, nxt) is None:
            nxt += 1
        what = "torn or corrupt tail" if nxt >= end else "corrupt bytes"
        report.problems.append(f"{path}: {what} at offsets {pos}..{nxt} skipped")
        yield None
        pos = nxt


def _record_at(data: bytes, pos: int) -> tuple[int, bytes, int] | None:
    if len(data) - pos < HEADER.size:
        return None
    length, crc, rtype = HEADER.unpack_from(data, pos)
    start = pos + HEADER.size
    if rtype not in RECORD_TYPES or length > MAX_RECORD or start + length > len(data):
        return None
    payload = data[start : start + length]
    if zlib.crc32(payload, zlib.crc32(bytes([rtype]))) != crc:
        return None
    return rtype, payload, start + length


def quarantine_segments(wal_dir: Path, paths: list[Path]) -> None:
    """Keep damaged segments for inspection instead of deleting them."""
    if not paths:
        return
    dest = wal_dir / "corrupt"
    dest.mkdir(parents=True, exist_ok=True)
    for p in paths:
        if p.exists():
            p.rename(dest / p.name)
            log.error("WAL segment %s was damaged; kept as %s", p, dest / p.name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
