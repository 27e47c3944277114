"""Running the operator's command line in tests: as a real subprocess (`python -m bot <command>`) with its
settings in the environment, or in-process (`bot.cli.run`) when it must reach fakes running in the test's
event loop; and seeding a real database through the real stores."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import QuotaPeriod, Settings
from bot.core.models import Job, JobStatus, VideoRequest
from bot.core.ports.repositories import LedgerEntry, LedgerKind
from bot.core.quotas import period_at
from storage.database import Database
from storage.jobs import insert_job
from storage.quotas import append_in

ROOT = Path(__file__).resolve().parents[1]
SETTING_NAMES = {name.upper() for name in Settings.model_fields}
CLI_TIMEOUT = 60.0


def cli_env(database: Path, **settings: str) -> dict[str, str]:
    """The environment of a CLI subprocess: none of the test runner's bot settings, only these."""
    clean = {k: v for k, v in os.environ.items() if k.upper() not in SETTING_NAMES}
    return {**clean, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "fake-bot-token", "DATABASE_PATH": str(database),
            **{name.upper(): value for name, value in settings.items()}}


def run_cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT)


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str


async def run_cli_async(cwd: Path, env: dict[str, str], *args: str) -> Finished:
    """The same, without blocking the event loop (a bot under test keeps running meanwhile)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return Finished(process.returncode or 0, out.decode(), err.decode())


def settings_env(monkeypatch: pytest.MonkeyPatch, cwd: Path, database: Path, **settings: str) -> None:
    """For an in-process run: the same environment as `cli_env`, in this process (undone after the test)."""
    monkeypatch.chdir(cwd)  # no stray .env
    for name in list(os.environ):
        if name.upper() in SETTING_NAMES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("DISCORD_TOKEN", "fake-bot-token")
    monkeypatch.setenv("DATABASE_PATH", str(database))
    for name, value in settings.items():
        monkeypatch.setenv(name.upper(), value)


def make_job(job_id: str, *, guild_id: int = 1001, user_id: int = 2001, status: JobStatus = JobStatus.DELIVERED,
             created_at: datetime | None = None, cost: int = 10, last_error: str | None = None,
             provider: str = "sandbox", duration: int = 10, mode: str = "std") -> Job:
    created = created_at or datetime.now(UTC)
    return Job(id=job_id, guild_id=guild_id, channel_id=3001, user_id=user_id,
               request=VideoRequest(prompt="a lighthouse at dusk", duration=duration, aspect="16:9", mode=mode),
               provider=provider, status=status, created_at=created, updated_at=created, cost=cost,
               last_error=last_error)


async def seed(database_path: Path, *jobs: Job, charged: bool = True) -> None:
    """Insert jobs (and their charge, as the bot takes it) through the real stores."""
    database = await Database.open(database_path)
    def work(connection: sqlite3.Connection) -> None:
        for job in jobs:
            insert_job(connection, job)
            if job.last_error:  # set by a later transition in the bot
                connection.execute("UPDATE jobs SET last_error = ? WHERE id = ?", (job.last_error, job.id))
            if charged and job.cost:
                append_in(connection, LedgerEntry(
                    LedgerKind.RESERVE, job.guild_id, period_at(job.created_at, QuotaPeriod.DAY).key,
                    job.created_at, user_id=job.user_id, actor_id=job.user_id, amount=job.cost, job_id=job.id))

    try:
        await database.run(work)
    finally:
        await database.close()


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)
