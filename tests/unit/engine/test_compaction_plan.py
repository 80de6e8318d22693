"""Which blocks compaction merges, and retention's choice of victims (pure functions)."""

from __future__ import annotations

from promlake.engine.blocks import Block
from promlake.engine.compaction import CompactionPolicy, plan, retention_victims

DAY = 86_400_000
POLICY = CompactionPolicy(l0_trigger=3, day_grace_ms=3_600_000)


def b(seq: int, level: int = 0, day: str = "1970-01-02", mint: int = DAY, maxt: int = DAY + 1) -> Block:
    return Block(seq, level, mint, maxt, day)


def test_a_day_that_is_over_is_merged_whole():
    blocks = [b(1), b(2, 1), b(3)]
    assert plan(blocks, now_ms=3 * DAY, policy=POLICY) == [blocks]


def test_within_the_grace_period_only_a_long_l0_run_merges():
    today = [b(1, 1), b(2), b(3), b(4)]
    assert plan(today, now_ms=2 * DAY + 1000, policy=POLICY) == [today[1:]]
    assert plan(today[:3], now_ms=2 * DAY + 1000, policy=POLICY) == []


def test_merged_runs_are_consecutive_in_sequence_order():
    # An L1 block in the middle breaks the run: only the trailing L0 blocks qualify.
    blocks = [b(1), b(2), b(3, 1), b(4), b(5), b(6)]
    assert plan(blocks, now_ms=2 * DAY, policy=POLICY) == [blocks[3:]]


def test_a_single_block_day_is_left_alone():
    assert plan([b(1, 2)], now_ms=10 * DAY, policy=POLICY) == []


def test_retention_by_time_counts_whole_days():
    d1 = b(1, day="1970-01-01", mint=0, maxt=DAY - 1)
    d2 = b(2, day="1970-01-02", mint=DAY, maxt=2 * DAY - 1)
    victims = retention_victims([d1, d2], {}, newest_ms=2 * DAY, keep_ms=DAY, keep_bytes=None)
    assert victims == [d1]
    assert retention_victims([d1, d2], {}, newest_ms=2 * DAY, keep_ms=DAY + 1, keep_bytes=None) == []


def test_retention_by_size_drops_oldest_days_first_but_never_the_newest():
    d = [b(i + 1, day=f"1970-01-0{i + 1}", mint=i * DAY, maxt=i * DAY + 1) for i in range(3)]
    sizes = {blk: 100 for blk in d}
    assert retention_victims(d, sizes, newest_ms=3 * DAY, keep_ms=None, keep_bytes=150) == d[:2]
    assert retention_victims(d, sizes, newest_ms=3 * DAY, keep_ms=None, keep_bytes=250) == d[:1]
