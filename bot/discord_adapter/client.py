"""The discord.py client: loads the cogs, syncs commands, routes every command error to one handler, and
keeps the bot to the operator's servers (ALLOWED_GUILD_IDS)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.core.confirmations import Confirmations
from bot.core.engine import JobEngine
from bot.core.moderation import ModerationService
from bot.core.ports.alerts import Notes
from bot.core.ports.provider import Capabilities
from bot.core.quotas import QuotaService
from bot.core.spend import SpendService
from bot.discord_adapter.allowed_guilds import allowed_here, leave_unless_allowed
from bot.discord_adapter.command_sync import SyncRecords, sync_if_changed
from bot.discord_adapter.errors import handle_command_error
from bot.discord_adapter.invite import invite_url
from bot.discord_adapter.modal_routes import ModalRoutes
from bot.discord_adapter.publisher import DiscordPublisher
from bot.i18n.commands import CatalogueTranslator

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.video", "cogs.quota", "cogs.moderation", "cogs.animate", "cogs.help", "cogs.settings", "cogs.queue",
              "cogs.continue_clip", "cogs.storyboard")

# The bot never joins voice; discord.py's warnings about missing voice libraries would only confuse.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


@dataclass
class Services:
    """What the cogs may use: services of the core, never the store or a provider directly."""

    settings: Settings
    engine: JobEngine
    publisher: DiscordPublisher
    capabilities: Capabilities
    provider_name: str
    quotas: QuotaService
    moderation: ModerationService
    notes: Notes | None = None  # small values kept across restarts (an open "Animate" form's image)
    spend: SpendService | None = None  # money: `/quota spend`
    confirmations: Confirmations | None = None  # the cost preview before expensive jobs (CONFIRM_ABOVE_CREDITS)


class AllowedServersTree(app_commands.CommandTree[Any]):
    """Every slash command, context menu and autocomplete passes here first: interactions from servers not
    on ALLOWED_GUILD_IDS get a private refusal and never reach a command."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        return await allowed_here(interaction)


class KlingBot(commands.Bot):
    services: Services

    def __init__(self, settings: Settings, *, guild_ready_timeout: float = 2.0,
                 command_records: SyncRecords | None = None) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels, roles and the upload limit; no message content, no members
        super().__init__(
            command_prefix=commands.when_mentioned, intents=intents, help_command=None,
            chunk_guilds_at_startup=False, guild_ready_timeout=guild_ready_timeout,
            allowed_mentions=discord.AllowedMentions.none(), tree_cls=AllowedServersTree,
        )
        self.settings = settings
        self.command_records = command_records  # None: commands are synced at every start
        self.modal_routes = ModalRoutes()  # the bot's forms, answered by custom id (also after a restart)
        self.tree.error(handle_command_error)

    async def setup_hook(self) -> None:
        # Runs after login (the application id is known) and before the gateway opens.
        await self.tree.set_translator(CatalogueTranslator())  # localized names, before the sync hashes them
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await sync_if_changed(self.tree, self.settings.dev_guild_id, self.command_records)
        if self.application_id is not None:
            log.info("Invite the bot with: %s", invite_url(self.application_id))

    @property
    def gateway_connected(self) -> bool:
        return self.is_ready() and not self.is_closed() and self.ws is not None and self.ws.open

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.modal_routes.dispatch(interaction)

    async def on_ready(self) -> None:
        log.info("connected as %s to %d guild(s)", self.user, len(self.guilds))

    # Each guild the gateway delivers at start-up (or after a new session) is "available"; one added while
    # connected is a "join". Either way the bot leaves it at once unless the operator allowed it.
    async def on_guild_available(self, guild: discord.Guild) -> None:
        await leave_unless_allowed(self, guild, when="at start-up")

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await leave_unless_allowed(self, guild, when="on joining")
