"""Runs the real bot in a process of its own, pointed at a fake Discord given in the environment, so a
test can kill it with SIGKILL as a crash would. Settings come from the environment as usual."""

from __future__ import annotations

import asyncio
import os

import discord.gateway
import discord.http
import yarl

from bot.app import Application
from bot.config import load_settings
from bot.logs import setup_logging
from tests.harness import fast_schedule


def main() -> None:
    discord.http.Route.BASE = os.environ["FAKE_DISCORD_API"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["FAKE_DISCORD_GATEWAY"])
    settings = load_settings()
    setup_logging(settings)
    application = Application(settings, guild_ready_timeout=0.05, delivery_retry_delays=(0.05, 0.1, 0.2),
                              poll_schedule=fast_schedule)
    asyncio.run(application.run_forever())


if __name__ == "__main__":
    main()
