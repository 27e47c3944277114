"""`/settings` in the core: values checked against the provider's capabilities, stored per member per server
in a real SQLite file, and applied to the options a member leaves empty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.errors import InvalidRequest
from bot.core.jobs import Submission
from bot.core.member_settings import MemberSettingsService
from bot.core.moderation import Actor
from bot.core.ports.provider import Capabilities, RateLimit
from bot.core.ports.repositories import MemberSettings
from storage.database import Database
from storage.member_settings import MemberSettingsStore
from tests.clock import FakeClock

GUILD, OTHER_GUILD, ALICE, BOB = 1, 2, 10, 11
WITH_AUDIO = Capabilities(durations=(3, 5, 10, 15), modes=("std", "pro"), push=False, rate_limit=RateLimit(60, 60),
                          audio=True)
NO_AUDIO = Capabilities(durations=(5, 10), modes=("std",), push=False, rate_limit=RateLimit(60, 60))
ALICE_HERE = Actor(guild_id=GUILD, user_id=ALICE, permissions=0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MemberSettingsStore]:
    database = await Database.open(tmp_path / "bot.sqlite3")
    yield MemberSettingsStore(database)
    await database.close()


def ask(user: int = ALICE, guild: int = GUILD, **options: object) -> Submission:
    return Submission(guild_id=guild, channel_id=5, user_id=user, prompt="a fox", **options)  # type: ignore[arg-type]


async def test_settings_are_saved_per_member_and_server(store: MemberSettingsStore) -> None:
    service = MemberSettingsService(store, WITH_AUDIO, FakeClock())
    assert await service.show(ALICE_HERE) == MemberSettings(GUILD, ALICE)  # nothing chosen yet
    await service.change(ALICE_HERE, duration=10, aspect="9:16")
    saved = await service.change(ALICE_HERE, mode="pro", audio=True, deliver_by_dm=True)  # the rest stays
    assert saved == MemberSettings(GUILD, ALICE, duration=10, aspect="9:16", mode="pro", audio=True,
                                   deliver_by_dm=True)
    assert await service.show(ALICE_HERE) == saved
    assert await service.show(Actor(guild_id=OTHER_GUILD, user_id=ALICE, permissions=0)) == MemberSettings(
        OTHER_GUILD, ALICE)
    assert await service.show(Actor(guild_id=GUILD, user_id=BOB, permissions=0)) == MemberSettings(GUILD, BOB)
    assert await service.reset(ALICE_HERE) == MemberSettings(GUILD, ALICE)
    assert await service.show(ALICE_HERE) == MemberSettings(GUILD, ALICE)


@pytest.mark.parametrize(("change", "words"), [
    ({"duration": 7}, "7 seconds is not a length"),
    ({"aspect": "4:3"}, "Choose 16:9, 9:16 or 1:1"),
    ({"mode": "pro"}, "Choose std"),
    ({"audio": True}, "cannot generate audio"),
])
async def test_a_value_the_provider_does_not_offer_is_refused_and_nothing_saved(
    store: MemberSettingsStore, change: dict[str, object], words: str
) -> None:
    service = MemberSettingsService(store, NO_AUDIO, FakeClock())
    with pytest.raises(InvalidRequest, match=words):
        await service.change(ALICE_HERE, deliver_by_dm=True, **change)
    assert await store.get(GUILD, ALICE) == MemberSettings(GUILD, ALICE)


async def test_empty_options_take_the_defaults_and_given_ones_win(store: MemberSettingsStore) -> None:
    service = MemberSettingsService(store, WITH_AUDIO, FakeClock())
    await service.change(ALICE_HERE, duration=15, aspect="1:1", mode="pro", audio=True, deliver_by_dm=True)
    filled = await service.apply(ask())
    assert (filled.duration, filled.aspect, filled.mode, filled.audio, filled.deliver_by_dm) == (
        15, "1:1", "pro", True, True)
    given = await service.apply(ask(duration=5, aspect="16:9", mode="std", audio=False, deliver_by_dm=False))
    assert (given.duration, given.aspect, given.mode, given.audio, given.deliver_by_dm) == (
        5, "16:9", "std", False, False)
    # Bob has no defaults: the provider's first choices.
    plain = await service.apply(ask(user=BOB))
    assert (plain.duration, plain.aspect, plain.mode, plain.audio, plain.deliver_by_dm) == (
        3, "16:9", None, False, False)


async def test_defaults_another_provider_does_not_offer_are_set_aside(store: MemberSettingsStore) -> None:
    await MemberSettingsService(store, WITH_AUDIO, FakeClock()).change(
        ALICE_HERE, duration=15, aspect="9:16", mode="pro", audio=True, deliver_by_dm=True)
    switched = MemberSettingsService(store, NO_AUDIO, FakeClock())  # the operator switched providers
    assert await switched.show(ALICE_HERE) == MemberSettings(GUILD, ALICE, aspect="9:16", deliver_by_dm=True)
    filled = await switched.apply(ask())
    assert (filled.duration, filled.aspect, filled.mode, filled.audio) == (5, "9:16", None, False)
