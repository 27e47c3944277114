"""Operator alerts posted in a Discord channel (ALERT_CHANNEL_ID) with the bot's own token."""

from __future__ import annotations

import discord

from bot.logs import secret_mask

MAX_CONTENT = 2000  # Discord's limit for a message's content


class DiscordChannelAlerts:
    """An `AlertSink`. Alerts mention no one (whatever the text holds), and secrets are masked as in logs."""

    def __init__(self, client: discord.Client, channel_id: int) -> None:
        self.client = client
        self.channel_id = channel_id

    async def send(self, text: str) -> None:
        content = secret_mask.apply(text)
        if len(content) > MAX_CONTENT:
            content = content[: MAX_CONTENT - 1] + "…"
        channel = self.client.get_partial_messageable(self.channel_id)
        await channel.send(content, allowed_mentions=discord.AllowedMentions.none())

    async def close(self) -> None:
        """Nothing of its own to release: the client is closed with the bot."""
