"""The remote-write series cache (``prompb.series_cache``) is an exact memo: with it, every
series gets the id and check hash the uncached path computes, invalid label sets fail the
same way, and id collisions are refused alike (the lake's index still checks every commit)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promlake.engine import Lake, SeriesBatch
from promlake.engine.errors import SeriesCollisionError
from promlake.ingest import prompb
from promlake.ingest import remote_write as rw
from promlake.ingest.prompb import series_cache as sc

V1 = "application/x-protobuf"

_names = st.sampled_from(["__name__", "job", "instance", "le", "a", "b", "é", "x" * 40])
_values = st.sampled_from(["", "up", "node", "10.0.0.1:9100", "0.5", "+Inf", "ü€", "v" * 70, "a\xffb"[:1]])
_label_set = st.lists(st.tuples(_names, _values), min_size=0, max_size=6)


def _body(label_sets: list[list[tuple[str, str]]], ts: int = 1_000) -> bytes:
    n = len(label_sets)
    rows = [(i, k, v) for i, ls in enumerate(label_sets) for k, v in ls]
    batch = prompb.WriteBatch.build(
        n_series=n,
        label_series=[r[0] for r in rows],
        label_names=[r[1] for r in rows],
        label_values=[r[2] for r in rows],
        sample_series=list(range(n)),
        sample_ts=[ts] * n,
        sample_values=[1.0] * n,
    )
    return prompb.encode_write_request_v1(batch)


def _uncached(body: bytes) -> tuple[np.ndarray, np.ndarray] | str:
    try:
        batch = prompb.decode_write_request_v1(body)
        series = rw.series_batch(batch)
        return series.series_ids(), series.check_hashes()
    except ValueError as exc:
        return f"{type(exc).__name__}: {exc}"


def _cached(body: bytes, cache: prompb.SeriesCache) -> tuple[np.ndarray, np.ndarray] | str:
    try:
        batch = prompb.decode_write_request_v1(body, series_cache=cache)
        series = rw.series_batch(batch, cache)
        return series.series_ids(), series.check_hashes()
    except ValueError as exc:
        return f"{type(exc).__name__}: {exc}"


def _same(a: tuple[np.ndarray, np.ndarray] | str, b: tuple[np.ndarray, np.ndarray] | str) -> None:
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
    else:
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


@settings(max_examples=150, deadline=None)
@given(
    pool=st.lists(_label_set, min_size=1, max_size=12),
    requests=st.lists(st.lists(st.integers(0, 11), min_size=1, max_size=15), min_size=1, max_size=5),
    max_series=st.sampled_from([3, 1 << 20]),
)
def test_cached_ids_equal_uncached_ids_and_errors(
    pool: list[list[tuple[str, str]]], requests: list[list[int]], max_series: int
) -> None:
    cache = prompb.SeriesCache(max_series=max_series)
    for req in requests:
        body = _body([pool[i % len(pool)] for i in req])
        want = _uncached(body)
        _same(_cached(body, cache), want)
        _same(_cached(body, cache), want)  # again, now from the cache
    assert len(cache) <= max_series


def test_hits_skip_label_decoding_and_load_labels_on_demand() -> None:
    cache = prompb.SeriesCache()
    sets = [[("__name__", "up"), ("job", "a")], [("__name__", "up"), ("job", "b")]]
    body = _body(sets)
    first = rw.series_batch(prompb.decode_write_request_v1(body, series_cache=cache), cache)
    assert len(cache) == 2
    batch = prompb.decode_write_request_v1(body, series_cache=cache)
    assert batch.known.hit.all() and len(batch.label_names) == 0
    again = rw.series_batch(batch, cache)
    np.testing.assert_array_equal(again.series_ids(), first.series_ids())
    # The engine reads labels of new series through take(...).label_table().
    assert (
        again.take(np.array([1])).label_table().to_pylist()
        == first.take(np.array([1])).label_table().to_pylist()
    )
    assert again.to_dicts() == [dict(s) for s in sets]


def test_a_mixed_request_decodes_only_the_new_series() -> None:
    cache = prompb.SeriesCache()
    a, b, c = [("__name__", "a")], [("__name__", "b"), ("x", "1")], [("__name__", "c")]
    rw.series_batch(prompb.decode_write_request_v1(_body([a, b]), series_cache=cache), cache)
    body = _body([c, b, a, c])
    batch = prompb.decode_write_request_v1(body, series_cache=cache)
    assert batch.known.hit.tolist() == [False, True, True, False]
    assert batch.label_values.to_pylist() == ["c", "c"]
    _same(_cached(body, cache), _uncached(body))
    assert len(cache) == 3


def test_equal_labels_written_differently_get_the_same_id() -> None:
    """Different bytes (value before name, an unknown field) are different cache entries for
    the same label set, with the same id."""

    def label(name: bytes, value: bytes, reverse: bool = False, unknown: bool = False) -> bytes:
        fields = [b"\x0a" + bytes([len(name)]) + name, b"\x12" + bytes([len(value)]) + value]
        payload = b"".join(reversed(fields) if reverse else fields) + (b"\x18\x07" if unknown else b"")
        return b"\x0a" + bytes([len(payload)]) + payload

    sample = b"\x12\x0b\x09" + np.float64(1.0).tobytes() + b"\x10\x01"

    def request(*labels: bytes) -> bytes:
        ts = b"".join(labels) + sample
        return b"\x0a" + bytes([len(ts)]) + ts

    plain = request(label(b"__name__", b"up"), label(b"job", b"j"))
    variants = [
        plain,
        request(label(b"__name__", b"up", reverse=True), label(b"job", b"j")),
        request(label(b"job", b"j"), label(b"__name__", b"up", unknown=True)),
    ]
    cache = prompb.SeriesCache()
    want = _uncached(plain)
    for body in variants * 2:
        _same(_cached(body, cache), want)
    assert len(cache) == 3


def test_cache_key_hash_collisions_only_cost_misses(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every hash equal, lookups compare bytes and still never confuse label sets."""
    monkeypatch.setattr(sc, "_mix", lambda h: np.zeros_like(h))
    cache = prompb.SeriesCache()
    sets = [[("__name__", f"m{i}"), ("job", "j")] for i in range(5)]
    for order in ([0, 1, 2], [2, 3, 4, 0], [4, 1]):
        body = _body([sets[i] for i in order])
        _same(_cached(body, cache), _uncached(body))
    assert len(cache) <= 1  # one entry per hash value: the others stay uncached


def test_identified_batch_take_matches_full_batch() -> None:
    full = SeriesBatch.from_dicts([{"a": "1"}, {"a": "2", "b": "x"}, {}])
    lazy = SeriesBatch.identified(full.series_ids(), full.check_hashes(), full.take)
    sel = np.array([2, 0])
    assert lazy.take(sel).to_dicts() == full.take(sel).to_dicts()
    np.testing.assert_array_equal(lazy.take(sel).series_ids(), full.series_ids()[sel])
    assert lazy.label_table().equals(full.label_table())


@pytest.mark.parametrize("warm", [False, True])
def test_collisions_with_stored_series_are_refused_with_or_without_the_cache(tmp_path, warm: bool) -> None:
    body = _body([[("__name__", "up"), ("job", "a")]])
    with Lake(tmp_path, head_flush_min_bytes=1 << 40) as lake:
        rw.store(lake, body, V1)
        assert len(rw.series_cache(lake)) == 1
        if not warm:
            rw._caches.pop(lake)
        # Pretend another label set with the same id is stored: its check hash differs.
        lake.index.checks[:] ^= 1
        with pytest.raises(SeriesCollisionError):
            rw.store(lake, _body([[("__name__", "up"), ("job", "a")]], ts=2_000), V1)
