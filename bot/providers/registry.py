"""Builds the configured provider adapter. Adding a provider is one entry here and one module."""

from __future__ import annotations

import aiohttp
from pydantic import SecretStr

from bot.config import ProviderName, Settings
from bot.providers.base import Provider
from bot.providers.cometapi import CometapiProvider
from bot.providers.kling import KlingProvider
from bot.providers.runbase import RunbaseProvider
from bot.providers.runblob import RunblobProvider
from bot.providers.sandbox import SandboxProvider
from bot.providers.segmind import SegmindProvider


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def build_provider(
    settings: Settings, session: aiohttp.ClientSession, *, listener_url: str, sandbox_key: str
) -> Provider:
    """The adapter for `KLING_PROVIDER`. `listener_url` is where the bot's own HTTP listener answers;
    `sandbox_key` is the random key the built-in sandbox there requires (made fresh at each start)."""
    seconds = settings.provider_timeout_seconds
    timeout = aiohttp.ClientTimeout(total=seconds, connect=min(10.0, seconds))
    match settings.kling_provider:
        case ProviderName.SANDBOX:
            return SandboxProvider(
                session, listener_url, api_key=sandbox_key,
                pending=settings.sandbox_pending_seconds, processing=settings.sandbox_processing_seconds,
            )
        case ProviderName.RUNBLOB:
            return RunblobProvider(
                session, _secret(settings.runblob_api_key), str(settings.runblob_base_url), timeout=timeout
            )
        case ProviderName.SEGMIND:
            return SegmindProvider(
                session, _secret(settings.segmind_api_key), str(settings.segmind_base_url), timeout=timeout
            )
        case ProviderName.COMETAPI:
            return CometapiProvider(
                session, _secret(settings.cometapi_key), str(settings.cometapi_base_url), timeout=timeout
            )
        case ProviderName.RUNBASE:
            return RunbaseProvider(
                session, _secret(settings.runbase_api_key), str(settings.runbase_base_url), timeout=timeout
            )
        case ProviderName.KLING:
            return KlingProvider(
                session, _secret(settings.kling_access_key), _secret(settings.kling_secret_key),
                str(settings.kling_base_url), timeout=timeout,
            )
    raise NotImplementedError(f"unknown provider {settings.kling_provider.value}")
