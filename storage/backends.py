"""Choosing the database: PostgreSQL when `DATABASE_URL` is set, else SQLite at `DATABASE_PATH`. Both give
the same repositories (bot/core/ports/repositories.py); the rest of the bot takes them from `Stores` and
never asks which backend it is on, except for what only one backend has (SQLite's file backups)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from bot.core.models import Job
from bot.core.ports.confirmations import ConfirmationRepository
from bot.core.ports.leadership import JobSignals, LeaderLease
from bot.core.ports.repositories import (
    GuildSettingsRepository,
    JobRepository,
    MemberSettingsRepository,
    QuotaRepository,
    SpendRepository,
)
from storage.admin import AdminStore, Charge, JobFilter, SettleOutcome, Unreconciled
from storage.confirmations import ConfirmationStore
from storage.database import Database
from storage.guild_settings import GuildSettingsStore
from storage.jobs import JobStore
from storage.kv import KeyValueStore
from storage.member_settings import MemberSettingsStore
from storage.quotas import QuotaStore
from storage.spend import SpendStore

Backend = Literal["sqlite", "postgresql"]


class KeyValues(Protocol):
    """storage/kv.py's KeyValueStore and its PostgreSQL twin."""

    async def get_or_create(self, key: str, make: str) -> str: ...
    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def take(self, key: str) -> str | None: ...


class AdminQueries(Protocol):
    """storage/admin.py's AdminStore and its PostgreSQL twin (the operator's command line)."""

    async def schema_version(self) -> int: ...
    async def jobs(self, wanted: JobFilter) -> list[Job]: ...
    async def unreconciled(self) -> list[Unreconciled]: ...
    async def charge(self, job_id: str) -> Charge: ...
    async def settle_failed(self, job_id: str, at: datetime) -> SettleOutcome: ...
    async def settle_delivered(self, job_id: str, video_url: str, at: datetime) -> SettleOutcome: ...


@dataclass(frozen=True, slots=True)
class Stores:
    backend: Backend
    where: str  # the SQLite file, or user@host:port/database (never a password)
    jobs: JobRepository
    quotas: QuotaRepository
    guild_settings: GuildSettingsRepository
    member_settings: MemberSettingsRepository
    spend: SpendRepository
    confirmations: ConfirmationRepository
    kv: KeyValues
    admin: AdminQueries
    ping: Callable[[], Awaitable[bool]]
    close: Callable[[], Awaitable[None]]
    database: object  # the backend's own database object (storage.database.Database or PostgresDatabase)


async def open_stores(*, database_path: Path, database_url: str | None) -> Stores:
    """Open (and migrate) the chosen database. Raises storage.database.DatabaseUnavailable, naming the file
    or the server and database (never a password), when it cannot."""
    if database_url:
        return await _postgres(database_url)
    database = await Database.open(database_path)
    return Stores(
        backend="sqlite", where=str(database_path), jobs=JobStore(database), quotas=QuotaStore(database),
        guild_settings=GuildSettingsStore(database), member_settings=MemberSettingsStore(database),
        spend=SpendStore(database), confirmations=ConfirmationStore(database),
        kv=KeyValueStore(database), admin=AdminStore(database), ping=database.ping, close=database.close,
        database=database,
    )


@dataclass(frozen=True, slots=True)
class Coordination:
    """How several processes on one database agree on a leader and tell it what they did (bot/core/leadership.py)."""

    lease: LeaderLease
    signals: JobSignals


def coordination_for(stores: Stores, database_url: str | None) -> Coordination | None:
    """PostgreSQL's leader lease and job signals (storage/postgres/leadership.py); None on SQLite, which has
    one process: it always leads."""
    if stores.backend != "postgresql" or not database_url:
        return None
    from storage.postgres.database import PostgresDatabase
    from storage.postgres.leadership import PostgresJobSignals, PostgresLeaderLease

    assert isinstance(stores.database, PostgresDatabase)
    return Coordination(PostgresLeaderLease(stores.database), PostgresJobSignals(stores.database, database_url))


async def _postgres(url: str) -> Stores:
    # Imported here: a SQLite-only run never loads asyncpg.
    from storage.postgres.admin import PostgresAdminStore
    from storage.postgres.database import PostgresDatabase
    from storage.postgres.jobs import PostgresJobStore
    from storage.postgres.kv import PostgresKeyValueStore
    from storage.postgres.quotas import PostgresQuotaStore
    from storage.postgres.settings import PostgresGuildSettingsStore, PostgresMemberSettingsStore
    from storage.postgres.spend import PostgresConfirmationStore, PostgresSpendStore

    database = await PostgresDatabase.open(url)
    return Stores(
        backend="postgresql", where=database.target, jobs=PostgresJobStore(database),
        quotas=PostgresQuotaStore(database), guild_settings=PostgresGuildSettingsStore(database),
        member_settings=PostgresMemberSettingsStore(database), spend=PostgresSpendStore(database),
        confirmations=PostgresConfirmationStore(database),
        kv=PostgresKeyValueStore(database), admin=PostgresAdminStore(database),
        ping=database.ping, close=database.close, database=database,
    )
