"""The hash that decides whether commands are synced: the same definitions give the same hash whatever order
they were added in, and any change to what Discord would receive gives another."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands

from bot.discord_adapter.command_sync import hash_key, payload_hash


def tree_with(*builders: Callable[[app_commands.CommandTree[Any]], None]) -> app_commands.CommandTree[Any]:
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))
    for build in builders:
        build(tree)
    return tree


def ping(description: str = "Check the bot answers") -> Callable[[app_commands.CommandTree[Any]], None]:
    def build(tree: app_commands.CommandTree[Any]) -> None:
        @tree.command(name="ping", description=description)
        async def _ping(interaction: discord.Interaction) -> None: ...

    return build


def echo(tree: app_commands.CommandTree[Any]) -> None:
    @tree.command(name="echo", description="Say it back")
    @app_commands.choices(times=[app_commands.Choice(name="once", value=1), app_commands.Choice(name="twice", value=2)])
    async def _echo(interaction: discord.Interaction, text: str, times: int) -> None: ...


async def test_the_order_commands_were_added_in_does_not_matter() -> None:
    assert await payload_hash(tree_with(ping(), echo), None) == await payload_hash(tree_with(echo, ping()), None)


async def test_a_changed_description_or_a_missing_command_changes_the_hash() -> None:
    both = await payload_hash(tree_with(ping(), echo), None)
    assert await payload_hash(tree_with(ping("Another description"), echo), None) != both
    assert await payload_hash(tree_with(ping()), None) != both


async def test_each_target_hashes_its_own_commands() -> None:
    tree = tree_with(ping(), echo)
    guild = discord.Object(42)
    assert await payload_hash(tree, guild) == await payload_hash(tree_with(), None)  # nothing copied there yet
    tree.copy_global_to(guild=guild)
    assert await payload_hash(tree, guild) == await payload_hash(tree, None)
    assert hash_key(1, None) != hash_key(1, 42) != hash_key(2, 42)
