"""What a provider module declares about itself: its name, its own settings, its capabilities, how to build
its adapter, and whether it is served by the bot itself (the sandbox).

Everything else is derived from the descriptors in `bot.providers.catalog`: the choices of KLING_PROVIDER,
which keys are required (settings fields without a default), which values are secret and masked in logs
(`SecretStr` fields), and the README's provider table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.ports.provider import Capabilities, Provider


class ProviderSettings(BaseSettings):
    """One provider's own settings, read like the bot's others (environment variables or `.env`); field
    names are the variables, lower-cased. A field without a default is required when the provider is
    chosen; a `SecretStr` field is masked wherever the bot logs."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    def secret_values(self) -> list[str]:
        return [value.get_secret_value() for name in type(self).model_fields
                if isinstance(value := getattr(self, name), SecretStr)]


@dataclass(frozen=True, slots=True)
class Connection:
    """What building an adapter needs from the bot besides the provider's own settings."""

    session: aiohttp.ClientSession
    timeout: aiohttp.ClientTimeout  # one HTTP request to the provider (PROVIDER_TIMEOUT_SECONDS)
    listener_url: str  # where the bot's own HTTP listener answers on this machine
    public_base_url: str | None  # PUBLIC_BASE_URL, when set
    own_key: str  # a random key made at each start, for a provider the bot serves itself


class BuiltInService(Protocol):
    """A provider served by the bot's own listener (the sandbox)."""

    def add_routes(self, app: web.Application) -> None: ...

    def local_files(self) -> dict[str, Path]:
        """Result URLs it serves from files of its own: delivery reads these without a network fetch."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderDescriptor:
    name: str  # the value of KLING_PROVIDER
    title: str  # for people: "runblob (Kling O3)"
    settings: type[ProviderSettings]
    capabilities: Capabilities
    build: Callable[[ProviderSettings, Connection], Provider]
    serve: Callable[[ProviderSettings, Connection], BuiltInService] | None = None  # the bot serves it itself

    def required_settings(self) -> list[str]:
        return [name for name, field in self.settings.model_fields.items() if field.is_required()]

    def secret_settings(self) -> list[str]:
        return [name for name, field in self.settings.model_fields.items()
                if field.annotation is SecretStr or field.annotation == SecretStr | None]


def build_with_key(adapter: Callable[..., Provider], key_field: str, url_field: str
                   ) -> Callable[[ProviderSettings, Connection], Provider]:
    """The build step of an adapter made as `adapter(session, api_key, base_url, timeout=...)`, from the
    settings fields that hold its key and base URL."""

    def build(settings: ProviderSettings, connection: Connection) -> Provider:
        key = getattr(settings, key_field)
        assert isinstance(key, SecretStr), f"{key_field} is not a secret"
        return adapter(connection.session, key.get_secret_value(), str(getattr(settings, url_field)),
                       timeout=connection.timeout)

    return build
