"""Settings from environment variables or a `.env` file, validated at start-up."""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import (
    AnyHttpUrl,
    BeforeValidator,
    Field,
    PostgresDsn,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.core.quotas import QuotaPeriod, QuotaPolicy
from bot.core.spend import AUDIO_PRICE_KEY, SpendPolicy
from bot.event_loop import EventLoopName, default_event_loop, uvloop_installed
from bot.providers.catalog import CATALOG, DEFAULT_PROVIDER
from bot.providers.descriptor import ProviderDescriptor, ProviderSettings

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


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
ShardIds = Annotated[tuple[NonNegativeInt, ...], NoDecode, BeforeValidator(_comma_separated)]
Networks = Annotated[
    tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...], NoDecode, BeforeValidator(_networks)
]


class Settings(BaseSettings):
    """Every setting the bot reads. Names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr
    kling_provider: str = DEFAULT_PROVIDER  # a name in bot/providers/catalog.py; its own settings live there

    public_base_url: AnyHttpUrl | None = None
    http_host: str = "0.0.0.0"
    http_port: Annotated[int, Field(ge=0, le=65535)] = 8080
    database_path: Path = Path("data/bot.sqlite3")
    database_url: PostgresDsn | None = None  # postgresql://user:password@host/db: PostgreSQL instead of SQLite
    # With PostgreSQL, several processes: the leader's lease lasts this long; a dead leader is replaced after it.
    lease_seconds: Annotated[int, Field(ge=3)] = 30
    media_dir: Path | None = None  # archived videos; defaults to a folder beside the database
    callback_secret: SecretStr | None = None

    default_user_quota: NonNegativeInt = 60
    default_guild_pool: NonNegativeInt = 0
    quota_period: QuotaPeriod = QuotaPeriod.DAY
    mode_multipliers: dict[str, PositiveInt] = {"std": 1, "pro": 2, "4k": 4}
    audio_multiplier: Annotated[float, Field(ge=1.0, le=10.0)] = 1.5  # a video with sound costs this much more
    max_active_jobs_per_user: PositiveInt = 2
    max_concurrent_jobs: PositiveInt = 4
    poll_rate_per_minute: PositiveInt | None = None  # None: the provider's own documented limit
    job_timeout_seconds: PositiveInt = 900
    provider_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0  # one provider HTTP request


    # Spend safety and a hardened edge (see the README's "Security" section).
    allowed_guild_ids: GuildIds = frozenset()  # empty: every server the bot is in may use it
    guild_credit_ceiling: NonNegativeInt = 0  # credits per server per quota period; 0: no ceiling
    total_credit_ceiling: NonNegativeInt = 0  # credits for all servers together per period; 0: none
    download_allow_networks: Networks = ()  # private networks result downloads may reach (plain http too)
    metrics_token: SecretStr | None = None  # when set, /metrics needs `Authorization: Bearer <token>`
    shutdown_grace_seconds: Annotated[float, Field(ge=0)] = 20.0  # SIGTERM waits this long for submits
    media_retention_days: NonNegativeInt = 30  # archived videos older than this are removed; 0: kept
    media_max_bytes: NonNegativeInt = 5 * 1024**3  # the archive's size bound, oldest removed first; 0: none

    # Money (see the README's "Costs in money"): Decimal, never float.
    spend_currency: str = "USD"  # the account's currency: only a label on amounts
    provider_prices: dict[str, Money] = {}  # money per second by mode, JSON; "audio": extra per second with sound
    provider_unit_price: Money | None = None  # money per provider unit (Kling, cometapi report units, not money)
    spend_limit_per_day: Money | None = None  # all servers' spend per UTC day; None: no limit
    low_balance_alert: Money | None = None  # alert when the provider's balance falls below (in its own unit)
    confirm_above_credits: NonNegativeInt = 0  # jobs costing more credits ask the member to confirm; 0: never

    # Operations (see the README's "Running it in production").
    job_retention_days: NonNegativeInt = 180  # finished jobs older than this are pruned (the ledger stays); 0: kept
    alert_channel_id: int | None = None  # a Discord channel for operator alerts
    alert_webhook_url: SecretStr | None = None  # and/or a webhook (Discord or any JSON endpoint) for them

    dev_guild_id: int | None = None
    # Discord sharding (needed from 2,500 servers): unset, one unsharded gateway connection.
    shard_count: PositiveInt | None = None  # the bot's total number of shards (all processes together)
    shard_ids: ShardIds = ()  # the shards this process runs, comma-separated; empty: all of SHARD_COUNT
    log_level: str = "INFO"
    log_json: bool = False
    event_loop: EventLoopName = Field(default_factory=default_event_loop)  # uvloop or asyncio (bot/event_loop.py)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper

    @field_validator("event_loop", mode="before")
    @classmethod
    def _loop_name(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("event_loop")
    @classmethod
    def _loop_installed(cls, value: EventLoopName) -> EventLoopName:
        if value == "uvloop" and not uvloop_installed():
            raise ValueError("uvloop is not installed here (pip install uvloop; not on Windows): "
                             "install it or set EVENT_LOOP=asyncio")
        return value

    @field_validator("callback_secret", "metrics_token", "alert_webhook_url", "database_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """`METRICS_TOKEN=` in .env means "no token", not a token that is the empty string."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("discord_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("kling_provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        name = value.strip().lower()
        if name not in CATALOG:
            raise ValueError(f"must be one of {', '.join(CATALOG)}")
        return name

    @field_validator("provider_unit_price", "spend_limit_per_day", "low_balance_alert", "shard_count", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _limit_needs_prices(self) -> Settings:
        """The daily spend limit counts estimates from PROVIDER_PRICES: a mode without a price would pass free."""
        if self.spend_limit_per_day is None or self.kling_provider not in CATALOG:
            return self
        priced = {mode.lower() for mode in self.provider_prices}
        missing = [mode for mode in self.provider.capabilities.modes if mode.lower() not in priced]
        if missing:
            raise ValueError(f"PROVIDER_PRICES: SPEND_LIMIT_PER_DAY needs a price per second for every mode of "
                             f"{self.kling_provider} (missing: {', '.join(missing)}), for example "
                             '{"std": 0.084, "pro": 0.112}')
        return self

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        """SHARD_IDS name shards of SHARD_COUNT, each once; kept in order, as they are launched."""
        if not self.shard_ids:
            return self
        if self.shard_count is None:
            raise ValueError("SHARD_IDS: needs SHARD_COUNT (the bot's total number of shards), "
                             "for example SHARD_COUNT=2 with SHARD_IDS=0,1")
        for shard_id in self.shard_ids:
            if shard_id >= self.shard_count:
                raise ValueError(f"SHARD_IDS: {shard_id} is not a shard of SHARD_COUNT={self.shard_count} "
                                 f"(shard ids go from 0 to {self.shard_count - 1})")
        if len(set(self.shard_ids)) != len(self.shard_ids):
            raise ValueError("SHARD_IDS: a shard is listed twice")
        self.shard_ids = tuple(sorted(self.shard_ids))
        return self

    @property
    def shards_here(self) -> tuple[int, ...] | None:
        """The shards this process runs, or None for one unsharded connection (SHARD_COUNT unset)."""
        if self.shard_count is None:
            return None
        return self.shard_ids or tuple(range(self.shard_count))

    _provider_settings: ProviderSettings | None = PrivateAttr(None)

    @property
    def provider(self) -> ProviderDescriptor:
        return CATALOG[self.kling_provider]

    @property
    def provider_settings(self) -> ProviderSettings:
        """The chosen provider's own settings (loaded with these by `load_settings`)."""
        if self._provider_settings is None:
            raise RuntimeError("provider settings are loaded by load_settings()")
        return self._provider_settings

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
    """Read and validate the bot's settings and the chosen provider's own, turning pydantic's report into
    one line per bad variable. `overrides` may hold either kind (by field name)."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None
    descriptor = settings.provider
    own = {name: value for name, value in overrides.items() if name in descriptor.settings.model_fields}
    required = f"is required when KLING_PROVIDER={descriptor.name}"
    try:
        provider_settings = descriptor.settings(**own)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, missing=required)) from None
    blank = [name.upper() for name in descriptor.required_settings()
             if isinstance(value := getattr(provider_settings, name), SecretStr)
             and not value.get_secret_value().strip()]
    if blank:
        raise ConfigError("\n".join(f"{name}: {required}" for name in blank))
    settings._provider_settings = provider_settings
    return settings


def describe_errors(exc: ValidationError, *, missing: str = "is required (set it in the environment or in .env)"
                    ) -> str:
    lines = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        if location:
            name = location[0].upper()
            lines.append(f"{name}: {missing if error['type'] == 'missing' else message}")
        else:
            lines.append(message)
    return "\n".join(lines)


def quota_policy(settings: Settings) -> QuotaPolicy:
    """The operator's quota settings, as the core's quota service takes them."""
    return QuotaPolicy(
        default_user_quota=settings.default_user_quota, default_guild_pool=settings.default_guild_pool,
        period=settings.quota_period, multipliers={k.lower(): v for k, v in settings.mode_multipliers.items()},
        max_active_jobs=settings.max_active_jobs_per_user,
        guild_ceiling=settings.guild_credit_ceiling, total_ceiling=settings.total_credit_ceiling,
        audio_multiplier=settings.audio_multiplier,
    )


def spend_policy(settings: Settings) -> SpendPolicy:
    """The operator's money settings, as the core's spend service takes them. Without an "audio" price the
    money estimate of a video with sound follows AUDIO_MULTIPLIER, as its credits do."""
    prices = {mode.lower(): price for mode, price in settings.provider_prices.items()}
    return SpendPolicy(
        currency=settings.spend_currency.strip() or "USD", prices=prices, unit_price=settings.provider_unit_price,
        limit_per_day=settings.spend_limit_per_day, low_balance=settings.low_balance_alert,
        audio_multiplier=Decimal(str(settings.audio_multiplier)) if AUDIO_PRICE_KEY not in prices else Decimal(1),
    )
