"""Runs the real bot in a process of its own, pointed at a fake Discord given in the environment, so a
test can kill it with SIGKILL as a crash would. Settings come from the environment as usual."""

from __future__ import annotations

import os

import discord.gateway
import discord.http
import yarl

from bot.app import Application
from bot.config import load_settings
from bot.event_loop import run_on
from bot.logs import setup_logging
from tests.harness import fast_schedule
from tests.loop_choice import chosen_test_loop


def main() -> None:
    discord.http.Route.BASE = os.environ["FAKE_DISCORD_API"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["FAKE_DISCORD_GATEWAY"])
    settings = load_settings()
    setup_logging(settings)
    application = Application(settings, guild_ready_timeout=0.05, delivery_retry_delays=(0.05, 0.1, 0.2),
                              poll_schedule=fast_schedule)
    run_on(chosen_test_loop(), application.run_forever())  # the loop the tests run on


if __name__ == "__main__":
    main()
