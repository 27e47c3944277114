"""Builds the configured provider adapter from its descriptor (bot/providers/catalog.py)."""

from __future__ import annotations

import aiohttp

from bot.config import Settings
from bot.providers.base import Provider
from bot.providers.descriptor import BuiltInService, Connection


def connection_for(settings: Settings, session: aiohttp.ClientSession, *, listener_url: str,
                   own_key: str) -> Connection:
    """`listener_url` is where the bot's own HTTP listener answers; `own_key` is the random key a provider
    the bot serves itself (the sandbox) requires, made fresh at each start."""
    seconds = settings.provider_timeout_seconds
    return Connection(session=session, timeout=aiohttp.ClientTimeout(total=seconds, connect=min(10.0, seconds)),
                      listener_url=listener_url, public_base_url=settings.public_url(""), own_key=own_key)


def build_provider(settings: Settings, connection: Connection) -> Provider:
    """The adapter for `KLING_PROVIDER`."""
    return settings.provider.build(settings.provider_settings, connection)


def built_in_service(settings: Settings, connection: Connection) -> BuiltInService | None:
    """What the bot's own listener serves for the provider (the sandbox's routes), or None."""
    serve = settings.provider.serve
    return serve(settings.provider_settings, connection) if serve is not None else None
