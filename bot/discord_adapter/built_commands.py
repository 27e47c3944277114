"""Slash commands whose options are decided at start-up (from the provider's capabilities): `/video`,
`/storyboard` and `/settings` list their options in a `CommandOptions`, and `server_command` turns them into a
command for servers only, as every command of the bot is (never installable to a user account, never in direct
messages). discord.py reads a command's options from its callback's signature, so the callback here is given
one built from the list."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import discord
from discord import app_commands

from bot.core.ports.provider import Capabilities

Handler = Callable[[discord.Interaction, dict[str, Any]], Awaitable[None]]
Choices = list[app_commands.Choice[Any]]
KIND = inspect.Parameter.POSITIONAL_OR_KEYWORD


class CommandOptions:
    """A command's options in the order Discord shows them, with their descriptions and choices."""

    def __init__(self) -> None:
        self.params = [inspect.Parameter("interaction", KIND, annotation=discord.Interaction)]
        self.descriptions: dict[str, str | app_commands.locale_str] = {}
        self.choices: dict[str, Choices] = {}

    def option(self, name: str, annotation: Any, description: str | app_commands.locale_str,
               choices: Choices | None = None, *, required: bool = False) -> None:
        """An option; left empty by the member it arrives as None (unless `required`)."""
        default = inspect.Parameter.empty if required else None
        self.params.append(inspect.Parameter(name, KIND, annotation=annotation, default=default))
        self.descriptions[name] = description
        if choices is not None:
            self.choices[name] = choices

    def mode_option(self, caps: Capabilities, description: str, label: Callable[[str], str]) -> None:
        """`mode`, only where the provider offers more than one."""
        if len(caps.modes) > 1:
            self.option("mode", str | None, description,
                     [app_commands.Choice(name=label(mode), value=mode) for mode in caps.modes])

    def aspect_option(self, caps: Capabilities, description: str) -> None:
        self.option("aspect", str | None, description, plain_choices(caps.aspects))

    def audio_option(self, caps: Capabilities, description: str) -> None:
        """`audio`, only where the provider makes sound."""
        if caps.audio:
            self.option("audio", bool | None, description)


def plain_choices(values: Iterable[str]) -> Choices:
    return [app_commands.Choice(name=value, value=value) for value in values]


def server_command(name: str, description: str, handler: Handler,
                   options: CommandOptions) -> app_commands.Command[Any, ..., None]:
    """The command `name`: its options as `options` lists them, answered by `handler(interaction, values)`."""

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await handler(interaction, values)

    callback.__signature__ = inspect.Signature(options.params)  # type: ignore[attr-defined]
    command = app_commands.describe(**options.descriptions)(callback)
    command = app_commands.choices(**options.choices)(command)
    command = app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)(command)
    command = app_commands.allowed_installs(guilds=True, users=False)(command)
    command = app_commands.guild_only()(command)
    return app_commands.Command(name=name, description=description, callback=command)
