"""Builds the configured provider adapter. Adding a provider is one entry here and one module."""

from __future__ import annotations

import aiohttp

from bot.config import ProviderName, Settings
from bot.providers.base import Provider
from bot.providers.runblob import RunblobProvider
from bot.providers.sandbox import SandboxProvider


def _secret(value: object) -> str:
    return value.get_secret_value() if value is not None else ""  # type: ignore[attr-defined,no-any-return]


def build_provider(settings: Settings, session: aiohttp.ClientSession, *, listener_url: str) -> Provider:
    """The adapter for `KLING_PROVIDER`. `listener_url` is where the bot's own HTTP listener answers."""
    match settings.kling_provider:
        case ProviderName.SANDBOX:
            return SandboxProvider(
                session, listener_url,
                pending=settings.sandbox_pending_seconds, processing=settings.sandbox_processing_seconds,
            )
        case ProviderName.RUNBLOB:
            return RunblobProvider(session, _secret(settings.runblob_api_key), str(settings.runblob_base_url))
    raise NotImplementedError(f"provider {settings.kling_provider.value} is not available yet")
