"""Self-test of the promlake storage adapter: a ``load`` lands in the lake as written.

Needs the storage engine but no PromQL engine (the adapter gets a stand-in engine class).
"""

from __future__ import annotations

from typing import Any

from .promqltest import Load, parse_text
from .samples import expand_load
from .seam import _LakeStorage


class _NoEngine:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


def _load(text: str) -> Load:
    (load,) = parse_text(text).commands
    assert isinstance(load, Load)
    return load


def test_st_lines_are_stored_as_sample_ts_plus_offset_and_zero_as_unknown() -> None:
    load = _load(
        "load 1m\n"
        '    c{type="a"}@st  _ -1m -30s 0 5s\n'
        '    c{type="a"}     1 2 3 4 5\n'
        '    c{type="b"}     1 2\n'
    )
    storage = _LakeStorage(_NoEngine)
    try:
        storage.load(expand_load(load))  # raises NotSupported if anything were left out
        df = storage._lake.sql("SELECT labels['type'] AS type, ts, st FROM metrics ORDER BY type, ts")
        rows = list(df.iter_rows())
    finally:
        storage.close()
    assert rows == [
        ("a", 0, None),  # `_`: no start timestamp
        ("a", 60_000, None),  # 1m - 1m is 0, which upstream's appender reads as "none"
        ("a", 120_000, 90_000),
        ("a", 180_000, 180_000),
        ("a", 240_000, 245_000),  # after the sample itself: stored as written
        ("b", 0, None),
        ("b", 60_000, None),
    ]
