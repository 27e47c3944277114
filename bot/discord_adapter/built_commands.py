"""Slash commands whose options are decided at start-up (from the provider's capabilities): `/video`,
`/storyboard` and `/settings` build their parameter lists, and this turns them into a command, for servers
only, as every command of the bot is (never installable to a user account, never in direct messages)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from discord import app_commands

Callback = Callable[..., Coroutine[Any, Any, None]]


def server_command(name: str, description: str, callback: Callback, params: list[inspect.Parameter],
                   descriptions: dict[str, str],
                   choices: dict[str, list[app_commands.Choice[Any]]]) -> app_commands.Command[Any, ..., None]:
    """`callback` as the command `name`, taking `params` (discord.py reads options from the signature)."""
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback = app_commands.describe(**descriptions)(callback)
    callback = app_commands.choices(**choices)(callback)
    callback = app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)(callback)
    callback = app_commands.allowed_installs(guilds=True, users=False)(callback)
    callback = app_commands.guild_only()(callback)
    return app_commands.Command(name=name, description=description, callback=callback)
