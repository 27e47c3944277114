"""`/queue`: what the provider is making now and what waits, in the order it will be sent, with the member's
own place and estimated start and finish times (bot/core/eta.py). Private to the member who asks."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_adapter import render
from bot.discord_adapter.client import KlingBot, Services
from bot.i18n import interaction_lang


class QueueCog(commands.Cog):
    def __init__(self, bot: KlingBot) -> None:
        self.services: Services = bot.services

    @app_commands.command(name="queue", description="What is being made and what waits, with estimated times")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def queue(self, interaction: discord.Interaction) -> None:
        snapshot = await self.services.engine.queue()
        await interaction.response.send_message(
            render.queue_text(snapshot, guild_id=interaction.guild_id or 0, user_id=interaction.user.id,
                              lang=interaction_lang(interaction)),
            ephemeral=True)


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(QueueCog(bot))
