"""Settings from environment variables or a `.env` file, validated at start-up."""

from __future__ import annotations

import enum
import ipaddress
from pathlib import Path
from typing import Annotated

from pydantic import AnyHttpUrl, BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ProviderName(enum.StrEnum):
    SANDBOX = "sandbox"
    RUNBLOB = "runblob"
    SEGMIND = "segmind"
    COMETAPI = "cometapi"
    RUNBASE = "runbase"
    KLING = "kling"


class QuotaPeriod(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


# Which variables each provider needs; checked at start-up so a missing key fails before login.
REQUIRED_KEYS: dict[ProviderName, tuple[str, ...]] = {
    ProviderName.SANDBOX: (),
    ProviderName.RUNBLOB: ("runblob_api_key",),
    ProviderName.SEGMIND: ("segmind_api_key",),
    ProviderName.COMETAPI: ("cometapi_key",),
    ProviderName.RUNBASE: ("runbase_api_key",),
    ProviderName.KLING: ("kling_access_key", "kling_secret_key"),
}

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


def _comma_separated(value: object) -> object:
    """`1,2,3` in the environment (pydantic-settings would otherwise expect JSON for a list)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _networks(value: object) -> object:
    items = _comma_separated(value)
    if not isinstance(items, list | tuple):
        return items
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not a network in CIDR form (for example 10.0.0.0/8)") from None
    return tuple(networks)


GuildIds = Annotated[frozenset[int], NoDecode, BeforeValidator(_comma_separated)]
Networks = Annotated[
    tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], NoDecode, BeforeValidator(_networks)
]


class Settings(BaseSettings):
    """Every setting the bot reads. Names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr
    kling_provider: ProviderName = ProviderName.SANDBOX

    runblob_api_key: SecretStr | None = None
    runblob_base_url: AnyHttpUrl = AnyHttpUrl("https://platform.runblob.io")
    segmind_api_key: SecretStr | None = None
    segmind_base_url: AnyHttpUrl = AnyHttpUrl("https://api.segmind.com")
    cometapi_key: SecretStr | None = None
    cometapi_base_url: AnyHttpUrl = AnyHttpUrl("https://api.cometapi.com")
    runbase_api_key: SecretStr | None = None
    runbase_base_url: AnyHttpUrl = AnyHttpUrl("https://runbase.net")
    kling_access_key: SecretStr | None = None
    kling_secret_key: SecretStr | None = None
    kling_base_url: AnyHttpUrl = AnyHttpUrl("https://api-singapore.klingai.com")

    public_base_url: AnyHttpUrl | None = None
    http_host: str = "0.0.0.0"
    http_port: Annotated[int, Field(ge=0, le=65535)] = 8080
    database_path: Path = Path("data/bot.sqlite3")
    media_dir: Path | None = None  # archived videos; defaults to a folder beside the database
    callback_secret: SecretStr | None = None

    default_user_quota: NonNegativeInt = 60
    default_guild_pool: NonNegativeInt = 0
    quota_period: QuotaPeriod = QuotaPeriod.DAY
    mode_multipliers: dict[str, PositiveInt] = {"std": 1, "pro": 2, "4k": 4}
    max_active_jobs_per_user: PositiveInt = 2
    max_concurrent_jobs: PositiveInt = 4
    poll_rate_per_minute: PositiveInt | None = None  # None: the provider's own documented limit
    job_timeout_seconds: PositiveInt = 900
    provider_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0  # one provider HTTP request

    sandbox_pending_seconds: Annotated[float, Field(ge=0)] = 4.0
    sandbox_processing_seconds: Annotated[float, Field(ge=0)] = 20.0

    # Spend safety and a hardened edge (see the README's "Security" section).
    allowed_guild_ids: GuildIds = frozenset()  # empty: every server the bot is in may use it
    guild_credit_ceiling: NonNegativeInt = 0  # credits per server per quota period; 0: no ceiling
    total_credit_ceiling: NonNegativeInt = 0  # credits for all servers together per period; 0: none
    download_allow_networks: Networks = ()  # private networks result downloads may reach (plain http too)
    metrics_token: SecretStr | None = None  # when set, /metrics needs `Authorization: Bearer <token>`
    shutdown_grace_seconds: Annotated[float, Field(ge=0)] = 20.0  # SIGTERM waits this long for submits
    media_retention_days: NonNegativeInt = 30  # archived videos older than this are removed; 0: kept
    media_max_bytes: NonNegativeInt = 5 * 1024**3  # the archive's size bound, oldest removed first; 0: none

    dev_guild_id: int | None = None
    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper

    @field_validator("discord_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _provider_keys_present(self) -> Settings:
        for field_name in REQUIRED_KEYS[self.kling_provider]:
            value = getattr(self, field_name)
            if value is None or not value.get_secret_value().strip():
                raise ValueError(
                    f"{field_name.upper()} is required when KLING_PROVIDER={self.kling_provider.value}"
                )
        return self

    @property
    def media_path(self) -> Path:
        return self.media_dir or self.database_path.parent / "media"

    def public_url(self, path: str) -> str | None:
        if self.public_base_url is None:
            return None
        return str(self.public_base_url).rstrip("/") + path


class ConfigError(Exception):
    """Settings that cannot be used; the message names the variable."""


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        if location:
            name = location[0].upper()
            if error["type"] == "missing":
                message = "is required (set it in the environment or in .env)"
            lines.append(f"{name}: {message}")
        else:
            lines.append(message)
    return "\n".join(lines)
