"""A minimal Prometheus remote-write 1.0 client: hand-written protobuf, snappy block framing.

Wire format of ``prometheus.WriteRequest`` (prompb/remote.proto, types.proto) as used here::

    WriteRequest { repeated TimeSeries timeseries = 1; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }

Like Prometheus's own queue manager, every TimeSeries carries one sample, so the receiver pays
its label cost per sample. Requests are built by gathering byte ranges with numpy (labels of a
series encoded once, samples encoded all at once), not by a Python loop per sample.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import cramjam
import numpy as np

HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "User-Agent": "promlake-bench/0.1",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
_TAG_LEN_1 = 0x0A  # field 1, wire type 2 (length-delimited)
_TAG_LEN_2 = 0x12  # field 2, wire type 2
_TAG_F64_1 = 0x09  # field 1, wire type 1 (fixed64)
_TAG_VARINT_2 = 0x10  # field 2, wire type 0 (varint)


def varint(n: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int (or an int64 as two's complement)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def varints(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized varints: (concatenated bytes as uint8, length of each)."""
    u = x.astype(np.int64).view(np.uint64)  # negative int64 -> 10-byte two's complement, as protobuf does
    lengths = np.ones(len(u), np.int64)
    for k in range(1, 10):
        lengths += u >= np.uint64(1) << np.uint64(7 * k)
    shifts = (np.arange(10, dtype=np.uint64) * np.uint64(7))[None, :]
    groups = ((u[:, None] >> shifts) & np.uint64(0x7F)).astype(np.uint8)
    pos = np.arange(10)[None, :]
    groups |= np.where(pos < (lengths - 1)[:, None], 0x80, 0).astype(np.uint8)
    return groups[pos < lengths[:, None]], lengths


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + varint(len(payload)) + payload


def encode_labels(labels: Mapping[str, str]) -> bytes:
    """The ``labels`` fields of a TimeSeries, sorted by name as the remote-write spec requires."""
    return b"".join(_field(_TAG_LEN_1, _field(_TAG_LEN_1, k.encode()) + _field(_TAG_LEN_2, v.encode()))
                    for k, v in sorted(labels.items()))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices ``starts[i] .. starts[i]+lengths[i]-1`` for all i, concatenated in order."""
    ends = np.cumsum(lengths)
    return np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)


def encode_samples(values: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each sample as a complete ``samples`` field of a TimeSeries: bytes and length per sample."""
    n = len(values)
    ts_bytes, ts_len = varints(ts)
    body_len = 1 + 8 + 1 + ts_len  # always < 128, so the length prefix is one byte
    rec = np.zeros((n, 22), np.uint8)
    rec[:, 0] = _TAG_LEN_2
    rec[:, 1] = body_len
    rec[:, 2] = _TAG_F64_1
    rec[:, 3:11] = np.ascontiguousarray(values, dtype="<f8").view(np.uint8).reshape(n, 8)
    rec[:, 11] = _TAG_VARINT_2
    ts_cols = np.arange(10)[None, :] < ts_len[:, None]
    tail = np.zeros((n, 10), np.uint8)
    tail[ts_cols] = ts_bytes
    rec[:, 12:22] = tail
    lengths = 2 + body_len
    return rec[np.arange(22)[None, :] < lengths[:, None]], lengths


@dataclass
class LabelPool:
    """Encoded label fields of many series, concatenated; series i is ``data[start[i]:start[i]+length[i]]``."""

    data: np.ndarray
    start: np.ndarray
    length: np.ndarray

    @classmethod
    def build(cls, label_sets: Sequence[Mapping[str, str]]) -> LabelPool:
        blobs = [encode_labels(d) for d in label_sets]  # once per series, not per sample
        length = np.array([len(b) for b in blobs], np.int64)
        start = np.r_[0, np.cumsum(length)[:-1]].astype(np.int64)
        return cls(np.frombuffer(b"".join(blobs), np.uint8), start, length)


def encode_write_requests(pool: LabelPool, series: np.ndarray, ts: np.ndarray, values: np.ndarray,
                          max_samples: int) -> list[bytes]:
    """Uncompressed WriteRequests of at most ``max_samples`` one-sample TimeSeries each."""
    # One request at a time keeps the byte-gather index small (8 bytes per output byte).
    return [_encode_one(pool, series[a:a + max_samples], ts[a:a + max_samples], values[a:a + max_samples])
            for a in range(0, len(series), max_samples)]


def _encode_one(pool: LabelPool, series: np.ndarray, ts: np.ndarray, values: np.ndarray) -> bytes:
    smp, smp_len = encode_samples(values, ts)
    lab_len = pool.length[series]
    hdr, hdr_varint_len = varints(lab_len + smp_len)
    # Header of each TimeSeries field: the tag byte, then the varint length of its body.
    hdr_pieces = np.insert(hdr, np.r_[0, np.cumsum(hdr_varint_len)[:-1]], np.uint8(_TAG_LEN_1))
    hdr_len = hdr_varint_len + 1
    # Every TimeSeries is three byte ranges: header, label fields (from the pool), sample field.
    size = hdr_len + lab_len + smp_len
    dest = np.r_[0, np.cumsum(size)[:-1]]
    out = np.empty(int(size.sum()), np.uint8)
    out[_ranges(dest, hdr_len)] = hdr_pieces
    out[_ranges(dest + hdr_len, lab_len)] = pool.data[_ranges(pool.start[series], lab_len)]
    out[_ranges(dest + hdr_len + lab_len, smp_len)] = smp
    return out.tobytes()


def snappy(payload: bytes) -> bytes:
    """Snappy *block* format (not framed), as remote write requires."""
    return bytes(cramjam.snappy.compress_raw(payload))


class RemoteWriteError(RuntimeError):
    pass


def send_all(url: str, shards: Sequence[Sequence[bytes]], timeout: float = 60.0) -> float:
    """POST each shard's compressed requests in order, one keep-alive connection per shard.

    Returns the wall time of the whole send. Per-series order holds as long as a series' samples
    are all in one shard, like Prometheus's sharded queue manager.
    """
    parts = urlsplit(url)
    errors: list[str] = []

    def run(requests: Sequence[bytes]) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
        try:
            for body in requests:
                conn.request("POST", parts.path or "/", body=body, headers=HEADERS)
                resp = conn.getresponse()
                text = resp.read()
                if resp.status // 100 != 2:
                    errors.append(f"HTTP {resp.status}: {text[:500]!r}")
                    return
        except OSError as e:
            errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in shards]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RemoteWriteError("; ".join(errors[:5]))
    return elapsed
