"""Guild settings, member settings and the key-value table on both backends."""

from __future__ import annotations

import asyncio

from bot.core.ports.repositories import MemberSettings
from storage.backends import Stores
from tests.contract.conftest import Backend
from tests.contract.parts import ALICE, BOB, GUILD, NOW, OTHER_GUILD


async def test_guild_settings_start_empty_and_keep_what_moderators_chose(stores: Stores) -> None:
    empty = await stores.guild_settings.get(GUILD)
    assert (empty.pool_limit, empty.default_quota, empty.mod_role_id, empty.blocked_words, empty.video_channels,
            empty.spoiler_channels) == (None, None, None, (), (), frozenset())
    assert await stores.guild_settings.add_blocked_word(GUILD, "gore") is True
    assert await stores.guild_settings.add_blocked_word(GUILD, "gore") is False
    assert await stores.guild_settings.add_blocked_word(GUILD, "Zebra") is True
    assert await stores.guild_settings.add_blocked_word(GUILD, "blood") is True
    assert await stores.guild_settings.add_blocked_word(OTHER_GUILD, "other") is True
    assert await stores.guild_settings.remove_blocked_word(GUILD, "blood") is True
    assert await stores.guild_settings.remove_blocked_word(GUILD, "blood") is False
    assert await stores.guild_settings.add_video_channel(GUILD, 9002) is True
    assert await stores.guild_settings.add_video_channel(GUILD, 9001) is True
    assert await stores.guild_settings.add_video_channel(GUILD, 9001) is False
    assert await stores.guild_settings.remove_video_channel(GUILD, 9003) is False
    assert await stores.guild_settings.set_spoiler_channel(GUILD, 9001, True) is True
    assert await stores.guild_settings.set_spoiler_channel(GUILD, 9001, True) is False
    assert await stores.guild_settings.set_spoiler_channel(GUILD, 9002, True) is True
    assert await stores.guild_settings.set_spoiler_channel(GUILD, 9002, False) is True
    await stores.guild_settings.set_mod_role(GUILD, 810000000000000999)
    settings = await stores.guild_settings.get(GUILD)
    assert settings.blocked_words == ("Zebra", "gore")  # byte order, as SQLite sorts
    assert settings.video_channels == (9001, 9002)
    assert settings.spoiler_channels == frozenset({9001})
    assert settings.mod_role_id == 810000000000000999
    await stores.guild_settings.set_mod_role(GUILD, None)
    assert (await stores.guild_settings.get(GUILD)).mod_role_id is None
    assert (await stores.guild_settings.get(OTHER_GUILD)).blocked_words == ("other",)


async def test_member_settings_save_replace_and_reset(stores: Stores) -> None:
    assert await stores.member_settings.get(GUILD, ALICE) == MemberSettings(GUILD, ALICE)
    mine = MemberSettings(GUILD, ALICE, duration=10, aspect="9:16", mode="pro", audio=True, deliver_by_dm=True)
    await stores.member_settings.save(mine, NOW)
    assert await stores.member_settings.get(GUILD, ALICE) == mine
    assert await stores.member_settings.get(GUILD, BOB) == MemberSettings(GUILD, BOB)
    fewer = MemberSettings(GUILD, ALICE, duration=5)
    await stores.member_settings.save(fewer, NOW)
    assert await stores.member_settings.get(GUILD, ALICE) == fewer
    await stores.member_settings.reset(GUILD, ALICE)
    assert await stores.member_settings.get(GUILD, ALICE) == MemberSettings(GUILD, ALICE)


async def test_key_values(stores: Stores) -> None:
    assert await stores.kv.get("callback_secret") is None
    assert await stores.kv.get_or_create("callback_secret", "first") == "first"
    assert await stores.kv.get_or_create("callback_secret", "second") == "first"
    await stores.kv.set("note", "a")
    await stores.kv.set("note", "b")
    assert await stores.kv.get("note") == "b"
    assert await stores.kv.take("note") == "b"
    assert await stores.kv.take("note") is None
    await stores.kv.set("gone", "x")
    await stores.kv.delete("gone")
    assert await stores.kv.get("gone") is None


async def test_processes_starting_together_keep_one_generated_secret(backend: Backend) -> None:
    processes = await backend.processes(4)
    values = await asyncio.gather(*[stores.kv.get_or_create("callback_secret", f"made-by-{i}")
                                    for i, stores in enumerate(processes)])
    assert len(set(values)) == 1
    assert await processes[0].ping() is True
