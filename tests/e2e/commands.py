"""Typing slash commands with subcommands into the fake Discord, and the people the moderation tests need."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from tests.fakes.discord import DEFAULT_MEMBER_PERMISSIONS, FakeDiscord, FakeInteraction
from tests.harness import ALICE, CHANNEL, GUILD, MANAGE_GUILD, BotHarness

MOD = 810000000000000020  # has Manage Server
HELPER = 810000000000000021  # has the moderator role once a moderator names it, not Manage Server
MOD_ROLE = 810000000000000030
STUDIO = 810000000000000004
EPHEMERAL = 64

STRING, INTEGER, BOOLEAN, USER, CHANNEL_OPTION, ROLE = 3, 4, 5, 6, 7, 8


def add_moderators(fake: FakeDiscord) -> None:
    fake.add_member(GUILD, MOD, "mod", permissions=DEFAULT_MEMBER_PERMISSIONS | MANAGE_GUILD)
    fake.add_role(GUILD, MOD_ROLE, "Video mods")
    fake.add_member(GUILD, HELPER, "helper", roles=[MOD_ROLE])
    fake.add_channel(GUILD, STUDIO, "studio")


def opt(name: str, kind: int, value: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "value": str(value) if kind in (USER, CHANNEL_OPTION, ROLE) else value}


async def slash(fake: FakeDiscord, user_id: int, command: str, path: str, *options: dict[str, Any],
                channel_id: int = CHANNEL) -> FakeInteraction:
    """`/command group sub option...`: `path` is "sub" or "group sub"."""
    parts = path.split()
    nested: list[dict[str, Any]] = list(options)
    for depth, part in reversed(list(enumerate(parts))):
        nested = [{"name": part, "type": 1 if depth == len(parts) - 1 else 2, "options": nested}]
    return await fake.send_slash_command(guild_id=GUILD, channel_id=channel_id, user_id=user_id, name=command,
                                         options=nested)


async def private_reply(interaction: FakeInteraction) -> str:
    """The text of an ephemeral answer (fails if the answer was public)."""
    response = await interaction.wait_response()
    assert response["type"] == 4, response
    assert response["data"].get("flags", 0) & EPHEMERAL, response
    return str(response["data"]["content"])


async def video_burst(harness: BotHarness, count: int = 20,
                      members: Sequence[int] = (ALICE,)) -> tuple[list[dict[str, Any]], list[str]]:
    """`count` `/video` at once, from `members` in turn: the public answers (status messages) and the texts of
    the private ones (refusals)."""
    interactions = await asyncio.gather(*[harness.video(f"burst {i}", user_id=members[i % len(members)])
                                          for i in range(count)])
    responses = await asyncio.gather(*[interaction.wait_response() for interaction in interactions])
    public = [r for r in responses if not r["data"].get("flags", 0) & EPHEMERAL]
    private = [r["data"]["content"] for r in responses if r["data"].get("flags", 0) & EPHEMERAL]
    return public, private
