"""SHARD_COUNT and SHARD_IDS as read from the environment, and the pacing of the shards' IDENTIFYs."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings
from bot.discord_adapter.shards import IdentifyPacer, describe_shards


def test_unset_means_one_unsharded_connection() -> None:
    settings = load_settings(discord_token="x")
    assert settings.shard_count is None and settings.shards_here is None
    blank = load_settings(discord_token="x", shard_count="", shard_ids="")  # `SHARD_COUNT=` in .env
    assert blank.shard_count is None and blank.shards_here is None


def test_a_count_alone_runs_every_shard_and_ids_are_kept_in_order() -> None:
    assert load_settings(discord_token="x", shard_count="3").shards_here == (0, 1, 2)
    chosen = load_settings(discord_token="x", shard_count="4", shard_ids="3, 1")
    assert chosen.shard_ids == (1, 3) and chosen.shards_here == (1, 3)


def test_ids_beyond_the_count_are_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(discord_token="x", shard_count="2", shard_ids="0,1,2")
    assert str(refused.value) == "SHARD_IDS: 2 is not a shard of SHARD_COUNT=2 (shard ids go from 0 to 1)"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_one_bucket_identifies_five_seconds_apart() -> None:
    time = FakeTime()
    pacer = IdentifyPacer(max_concurrency=1, now=lambda: time.now, sleep=time.sleep)
    await pacer.wait(0)
    time.now += 1.5
    await pacer.wait(1)
    assert time.slept == [3.5]


async def test_shards_of_different_buckets_identify_at_once() -> None:
    time = FakeTime()
    pacer = IdentifyPacer(max_concurrency=16, now=lambda: time.now, sleep=time.sleep)
    for shard_id in range(16):
        await pacer.wait(shard_id)
    assert time.slept == []
    await pacer.wait(16)  # bucket 0 again
    assert time.slept == [5.0]


def test_shards_are_named_for_the_logs() -> None:
    assert describe_shards((0, 1), 2) == "shards 0, 1 of 2"
    assert describe_shards((3,), 4) == "shard 3 of 4"
