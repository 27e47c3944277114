"""Where operator alerts go, from the settings: a Discord channel (ALERT_CHANNEL_ID) and/or a webhook
(ALERT_WEBHOOK_URL). Neither set: alerts are only logged (bot/core/alerts.py)."""

from __future__ import annotations

import discord

from bot.alerting.webhook import WebhookAlerts
from bot.config import Settings
from bot.core.ports.alerts import AlertSink
from bot.discord_adapter.alerts import DiscordChannelAlerts


def alert_sinks(settings: Settings, client: discord.Client) -> list[AlertSink]:
    sinks: list[AlertSink] = []
    if settings.alert_channel_id is not None:
        sinks.append(DiscordChannelAlerts(client, settings.alert_channel_id))
    if settings.alert_webhook_url is not None:
        sinks.append(WebhookAlerts(settings.alert_webhook_url.get_secret_value()))
    return sinks
