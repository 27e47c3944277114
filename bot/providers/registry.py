"""Builds the configured provider adapter from its descriptor (bot/providers/catalog.py)."""

from __future__ import annotations

import aiohttp

from bot.providers.base import Provider
from bot.providers.descriptor import BuiltInService, Connection, ProviderDescriptor, ProviderSettings


def connection_for(session: aiohttp.ClientSession, *, timeout_seconds: float, listener_url: str,
                   public_base_url: str | None, own_key: str) -> Connection:
    """`listener_url` is where the bot's own HTTP listener answers; `own_key` is the random key a provider
    the bot serves itself (the sandbox) requires, made fresh at each start."""
    timeout = aiohttp.ClientTimeout(total=timeout_seconds, connect=min(10.0, timeout_seconds))
    return Connection(session=session, timeout=timeout, listener_url=listener_url, public_base_url=public_base_url,
                      own_key=own_key)


def build_provider(descriptor: ProviderDescriptor, settings: ProviderSettings, connection: Connection) -> Provider:
    """The adapter for `KLING_PROVIDER`."""
    return descriptor.build(settings, connection)


def built_in_service(descriptor: ProviderDescriptor, settings: ProviderSettings,
                     connection: Connection) -> BuiltInService | None:
    """What the bot's own listener serves for the provider (the sandbox's routes), or None."""
    return descriptor.serve(settings, connection) if descriptor.serve is not None else None
