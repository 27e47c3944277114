"""`kling-bot commands sync|clear [--guild ID]`: register or remove the bot's slash commands over Discord's
REST API, without the gateway and without starting the bot.

`sync` builds the same command tree the bot builds at start-up (the cogs, with /video's options from the
active provider's capabilities); the cogs only read the capabilities and the publisher while they load, so
the services they would use to answer a command are left out here.

When the bot's database exists, `sync` records what it synced (so the next start does not sync the same
commands again) and `clear` forgets it (so the next start registers them again); see
bot/discord_adapter/command_sync.py. Without a database there is nothing to record: the first start syncs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import discord
from discord import app_commands

from bot.admin.discord_rest import login, rest_client
from bot.admin.output import AdminError
from bot.config import Settings
from bot.discord_adapter.client import EXTENSIONS, KlingBot, Services
from bot.discord_adapter.command_sync import SyncRecords, forget, payload_hash, remember
from bot.discord_adapter.publisher import DiscordPublisher
from bot.i18n.commands import CatalogueTranslator
from storage.backends import open_stores
from storage.database import DatabaseUnavailable


class NotInCommandLine:
    """Stands in for a service the command line never starts; any use is a bug, said plainly."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise RuntimeError(f"{self._name} is not available in the command line (asked for {attribute})")


class CommandTreeOnly(KlingBot):
    """The bot's client with its cogs loaded and nothing synced on login: the command line chooses where."""

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CatalogueTranslator())  # the same localized payload the bot syncs
        for extension in EXTENSIONS:
            await self.load_extension(extension)


async def sync(settings: Settings, guild_id: int | None) -> int:
    bot = CommandTreeOnly(settings)
    try:
        bot.services = Services(
            settings=settings, engine=cast(Any, NotInCommandLine("the job engine")), publisher=DiscordPublisher(bot),
            capabilities=settings.provider.capabilities, provider_name=settings.provider.name,
            quotas=cast(Any, NotInCommandLine("the quota service")),
            moderation=cast(Any, NotInCommandLine("the moderation service")),
        )
        await login(bot, settings)
        guild = discord.Object(guild_id) if guild_id is not None else None
        if guild is not None:
            bot.tree.copy_global_to(guild=guild)
        digest = await payload_hash(bot.tree, guild)
        synced = await _sync(bot.tree, guild)
        application_id = _application_id(bot)
    finally:
        await bot.close()
    names = ", ".join(f"/{command.name}" for command in synced)
    print(f"synced {len(synced)} commands {_where(guild_id)}: {names}")
    if guild_id is None:
        print("  global commands can take up to an hour to appear in every server")
    await _in_database(settings, lambda records: remember(records, application_id, guild_id, digest),
                       unrecorded="the bot will sync the commands again at its next start")
    return 0


async def clear(settings: Settings, guild_id: int | None) -> int:
    client = rest_client()
    try:
        await login(client, settings)
        tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
        await _sync(tree, discord.Object(guild_id) if guild_id is not None else None)  # an empty list
        application_id = _application_id(client)
    finally:
        await client.close()
    print(f"removed every command of this bot {_where(guild_id)}")
    await _in_database(settings, lambda records: forget(records, application_id, guild_id),
                       unrecorded="the bot will not register them again by itself: run `kling-bot commands "
                                  "sync` when you want them back")
    return 0


async def _in_database(settings: Settings, action: Callable[[SyncRecords], Awaitable[None]], *,
                       unrecorded: str) -> None:
    """Record a sync (or forget one) in the bot's database when there is one. Discord has already done what
    was asked, so a database that cannot be opened is said (with what follows from it), not fatal."""
    if settings.database_url is None and not settings.database_path.is_file():
        return
    url = str(settings.database_url) if settings.database_url else None
    try:
        stores = await open_stores(database_path=settings.database_path, database_url=url)
    except DatabaseUnavailable as error:
        print(f"  not recorded in the database ({error}): {unrecorded}")
        return
    try:
        await action(stores.kv)
    finally:
        await stores.close()


def _application_id(client: discord.Client) -> int:
    if client.application_id is None:  # set by the login
        raise AdminError("Discord did not say which application this token belongs to: try again")
    return client.application_id


def _where(guild_id: int | None) -> str:
    return f"in server {guild_id}" if guild_id is not None else "globally"


async def _sync(tree: app_commands.CommandTree[Any], guild: discord.Object | None) -> list[app_commands.AppCommand]:
    try:
        return await tree.sync(guild=guild)
    except discord.Forbidden:
        raise AdminError(f"Discord refused the commands {_where(guild.id if guild else None)}: is the bot in that "
                         "server, invited with the applications.commands scope?") from None
    except discord.HTTPException as error:
        raise AdminError(f"Discord refused the commands ({error.status}: {error.text})") from None
