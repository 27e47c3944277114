"""Talking to Discord from the command line: REST only (a login is `GET /users/@me` and the application;
the gateway is never opened)."""

from __future__ import annotations

import aiohttp
import discord

from bot.admin.output import AdminError
from bot.config import Settings


def rest_client() -> discord.Client:
    # Intents only matter on the gateway, which is never opened; `guilds` keeps discord.py from warning.
    return discord.Client(intents=discord.Intents(guilds=True))


async def login(client: discord.Client, settings: Settings) -> None:
    """Log in over REST; AdminError saying what to do when Discord refuses or cannot be reached."""
    try:
        await client.login(settings.discord_token.get_secret_value())
    except discord.LoginFailure:
        raise AdminError("Discord refused DISCORD_TOKEN: reset the bot token in the Developer Portal "
                         "(Bot > Reset Token) and set it again") from None
    except (discord.HTTPException, aiohttp.ClientError, OSError) as error:
        raise AdminError(f"could not reach Discord ({error.__class__.__name__}): try again") from None
