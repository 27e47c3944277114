"""`python -m bot <command>` as a real subprocess against real SQLite files: arguments, settings, jobs,
refunds, grants, backups, and upgrades that cannot corrupt (a newer database refused, an older one backed
up before it is migrated)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.core.clock import SystemClock
from bot.core.models import JobStatus
from bot.core.moderation import ModerationService
from bot.core.ports.repositories import LedgerKind
from bot.core.quotas import Balance, QuotaPeriod, QuotaPolicy, QuotaService
from storage.database import Database, migrations
from storage.guild_settings import GuildSettingsStore
from storage.quotas import QuotaStore
from tests.admin_cli import cli_env, hours_ago, make_job, run_cli, seed, settings_env

NEWEST = migrations()[-1][0]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


def rows(path: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as connection:
        return list(connection.execute(sql, args))


# -- arguments and settings ---------------------------------------------------------------------------
def test_help_names_every_command(tmp_path: Path, database: Path) -> None:
    result = run_cli(tmp_path, cli_env(database), "--help")
    assert result.returncode == 0
    for command in ("backup", "check", "jobs", "reconcile", "refund", "grant", "commands"):
        assert command in result.stdout
    assert "Without a command it runs the bot" in result.stdout.replace("\n", " ")


BAD_ARGUMENTS = [
    ["frobnicate"],
    ["grant", "1001", "2001", "lots"],
    ["grant", "1001", "2001"],
    ["grant", "not-a-server", "2001", "5"],
    ["jobs", "--since", "the other day"],
    ["jobs", "--status", "sleeping"],
    ["jobs", "--limit", "0"],
    ["reconcile", "abc"],
    ["reconcile", "--failed"],
    ["reconcile", "abc", "--failed", "--delivered", "https://cdn.example.org/v.mp4"],
    ["reconcile", "abc", "--delivered", "not a link"],
    ["commands"],
    ["commands", "sync", "--guild", "x"],
    ["backup"],
]


@pytest.mark.parametrize("args", [BAD_ARGUMENTS[1], BAD_ARGUMENTS[7], BAD_ARGUMENTS[11]], ids=" ".join)
def test_bad_arguments_exit_2_with_the_usage(tmp_path: Path, database: Path, args: list[str]) -> None:
    result = run_cli(tmp_path, cli_env(database), *args)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: kling-bot")
    assert "Traceback" not in result.stderr
    assert not database.exists()  # nothing was opened, let alone created


@pytest.mark.parametrize("args", BAD_ARGUMENTS, ids=" ".join)
def test_every_bad_argument_is_refused_before_anything_runs(
    tmp_path: Path, database: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)  # the process's entry, in this process (argparse stops it before settings are read)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("usage: kling-bot")


def test_bad_settings_exit_2_with_one_line_per_variable(tmp_path: Path, database: Path) -> None:
    env = cli_env(database, http_port="eighty", quota_period="fortnight")
    result = run_cli(tmp_path, env, "jobs")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Configuration error:"
    assert [line.split(":")[0] for line in lines[1:]] == ["HTTP_PORT", "QUOTA_PERIOD"]
    assert "Traceback" not in result.stderr


async def test_a_missing_database_is_not_created_by_a_command(
    tmp_path: Path, database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(tmp_path, cli_env(database), "jobs")
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: there is no database at {database} (DATABASE_PATH)")
    settings_env(monkeypatch, tmp_path, database)
    for args in (["reconcile"], ["reconcile", "abc", "--failed"], ["refund", "abc"], ["grant", "1001", "2001", "5"]):
        assert await cli.run(args) == 1, args
        assert capsys.readouterr().err.startswith(f"Error: there is no database at {database} (DATABASE_PATH)")
    assert not await asyncio.to_thread(database.exists)


# -- jobs -------------------------------------------------------------------------------------------------
async def test_jobs_lists_newest_first_and_filters(
    tmp_path: Path, database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(database,
               make_job("a000000000000001", guild_id=1001, user_id=2001, status=JobStatus.DELIVERED,
                        created_at=hours_ago(72)),
               make_job("a000000000000002", guild_id=1001, user_id=2002, status=JobStatus.FAILED,
                        created_at=hours_ago(30), last_error="The provider refused the prompt " + "x" * 200),
               make_job("a000000000000003", guild_id=1002, user_id=2001, status=JobStatus.FAILED,
                        created_at=hours_ago(2), mode="pro"),
               make_job("a000000000000004", guild_id=1001, user_id=2001, status=JobStatus.QUEUED,
                        created_at=hours_ago(1)))
    env = cli_env(database)
    everything = run_cli(tmp_path, env, "jobs")
    assert everything.returncode == 0, everything.stderr
    header, *lines = everything.stdout.splitlines()
    assert header.split()[:4] == ["id", "status", "guild", "user"]
    assert [line.split()[0] for line in lines] == ["a000000000000004", "a000000000000003", "a000000000000002",
                                                   "a000000000000001"]
    assert "10s pro" in lines[1]
    assert "The provider refused the prompt" in lines[2] and "x" * 70 not in lines[2]  # clipped

    # The filters, in this process (the same entry, without a new interpreter each time).
    settings_env(monkeypatch, tmp_path, database)

    async def listed(*args: str) -> list[str]:
        capsys.readouterr()
        assert await cli.run(["jobs", *args]) == 0
        return [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:] if line.startswith("a0")]

    assert await listed("--status", "failed") == ["a000000000000003", "a000000000000002"]
    assert await listed("--user", "2002") == ["a000000000000002"]
    assert await listed("--guild", "1002") == ["a000000000000003"]
    assert await listed("--since", "24h") == ["a000000000000004", "a000000000000003"]
    # From midnight (UTC) of the day 48 h ago: after the job of 72 h ago, before the one of 30 h ago.
    assert await listed("--since", hours_ago(48).date().isoformat()) == [
        "a000000000000004", "a000000000000003", "a000000000000002"]
    assert await listed("--guild", "1001", "--user", "2001") == ["a000000000000004", "a000000000000001"]
    assert await listed("--limit", "1") == ["a000000000000004"]
    await cli.run(["jobs", "--limit", "1"])
    assert "--limit N shows more" in capsys.readouterr().out
    await cli.run(["jobs", "--user", "9999"])
    assert capsys.readouterr().out.strip() == "no jobs match"


# -- refund and grant -----------------------------------------------------------------------------------
async def test_refund_twice_refunds_once(tmp_path: Path, database: Path) -> None:
    await seed(database, make_job("b000000000000001", status=JobStatus.FAILED, cost=20))
    env = cli_env(database)
    first = run_cli(tmp_path, env, "refund", "b000000000000001")
    second = run_cli(tmp_path, env, "refund", "b000000000000001")
    assert first.returncode == 0 and second.returncode == 0
    assert first.stdout.startswith("refunded 20 credits for job b000000000000001 (member 2001 on server 1001, failed)")
    assert "was already refunded (20 credits" in second.stdout and "nothing changed" in second.stdout
    refunds = rows(database, "SELECT amount, actor_id, detail FROM quota_ledger WHERE job_id = ? AND kind = 'refund'",
                   "b000000000000001")
    assert refunds == [(20, None, "refunded by the operator")]
    balance = await member_balance(database, 1001, 2001)
    assert balance.used == 0  # the member has the credits back


async def test_refund_of_an_uncharged_or_unknown_job(
    tmp_path: Path, database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(database, make_job("b000000000000002", cost=0))
    settings_env(monkeypatch, tmp_path, database)
    assert await cli.run(["refund", "b000000000000002"]) == 0
    assert "was never charged: nothing to refund" in capsys.readouterr().out
    assert await cli.run(["refund", "ffffffffffffffff"]) == 1
    assert capsys.readouterr().err.strip() == "Error: there is no job ffffffffffffffff: `kling-bot jobs` lists them"
    assert rows(database, "SELECT COUNT(*) FROM quota_ledger WHERE kind = 'refund'") == [(0,)]


async def test_grant_shows_up_in_the_balance(tmp_path: Path, database: Path) -> None:
    await seed(database, make_job("c000000000000001", cost=10))  # 10 of the 60 a day used
    result = run_cli(tmp_path, cli_env(database, default_user_quota="60"), "grant", "1001", "2001", "50")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("they have 100 of 110 credits left")
    balance = await member_balance(database, 1001, 2001)
    assert (balance.granted, balance.allowance, balance.remaining) == (50, 110, 100)
    [(actor, period, detail)] = rows(database, "SELECT actor_id, period, detail FROM quota_ledger WHERE kind = ?",
                                     LedgerKind.GRANT.value)
    assert actor is None and period == balance.period.key and detail == "granted by the operator"


async def member_balance(database_path: Path, guild_id: int, user_id: int) -> Balance:
    database = await Database.open(database_path)
    try:
        service = QuotaService(
            store=QuotaStore(database), moderation=ModerationService(GuildSettingsStore(database)),
            policy=QuotaPolicy(default_user_quota=60, default_guild_pool=0, period=QuotaPeriod.DAY,
                               multipliers={"std": 1}, max_active_jobs=2),
            clock=SystemClock(),
        )
        return await service.balance(guild_id, user_id)
    finally:
        await database.close()


# -- backup -----------------------------------------------------------------------------------------------
async def test_backup_refuses_to_overwrite_unless_forced(tmp_path: Path, database: Path) -> None:
    await seed(database, make_job("d000000000000001"), make_job("d000000000000002"))
    env = cli_env(database)
    target = tmp_path / "copy.sqlite3"
    target.write_text("an older copy")
    refused = run_cli(tmp_path, env, "backup", str(target))
    assert refused.returncode == 1
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert target.read_text() == "an older copy"
    forced = run_cli(tmp_path, env, "backup", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"to {target}: " in forced.stdout and ", 2 jobs, schema version " in forced.stdout
    assert "✓ integrity check of the copy: ok" in forced.stdout
    assert rows(target, "SELECT id FROM jobs ORDER BY id") == [("d000000000000001",), ("d000000000000002",)]
    assert rows(target, "PRAGMA journal_mode") == [("delete",)]  # one self-contained file


def test_backup_of_something_that_is_not_a_database_fails_clearly(tmp_path: Path, database: Path) -> None:
    database.parent.mkdir(parents=True)
    database.write_bytes(b"not a database at all " * 100)
    target = tmp_path / "copy.sqlite3"
    result = run_cli(tmp_path, cli_env(database), "backup", str(target))
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: could not back up {database} to {target}")
    assert "Traceback" not in result.stderr
    assert not target.exists() and not target.with_name("copy.sqlite3.partial").exists()


# -- upgrades that cannot corrupt ----------------------------------------------------------------------------
def test_a_database_newer_than_the_code_is_refused_with_one_line(tmp_path: Path, database: Path) -> None:
    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE from_the_future (x)")
        connection.execute(f"PRAGMA user_version = {NEWEST + 7}")
    expected = (f"the database at {database} is at schema version {NEWEST + 7}, newer than this version of the bot "
                f"knows ({NEWEST}): run the newer version, or restore a backup")

    bot = run_cli(tmp_path, cli_env(database, http_host="127.0.0.1", http_port="0"))  # the bot itself
    assert bot.returncode == 1
    assert bot.stderr.strip().splitlines() == [f"Could not start: {expected}"]

    command = run_cli(tmp_path, cli_env(database), "jobs")
    assert command.returncode == 1
    assert command.stderr.strip().splitlines() == [f"Error: {expected}"]
    assert rows(database, "PRAGMA user_version") == [(NEWEST + 7,)]  # untouched
    assert not list(database.parent.glob("*.before-v*"))


def test_an_older_database_is_backed_up_before_it_is_migrated(tmp_path: Path, database: Path) -> None:
    database.parent.mkdir(parents=True)
    [(version, _, first_sql)] = migrations()[:1]
    with sqlite3.connect(database) as connection:  # what the first release left behind
        connection.executescript(f"{first_sql}\nPRAGMA user_version = {version};")
        connection.execute(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, provider, prompt, duration, aspect, mode, status, "
            "created_at, updated_at) VALUES ('e000000000000001', 1001, 3001, 2001, 'sandbox', 'an old job', 5, "
            "'16:9', 'std', 'delivered', '2024-01-02T03:04:05.000000+00:00', '2024-01-02T03:04:05.000000+00:00')")

    result = run_cli(tmp_path, cli_env(database), "jobs")
    assert result.returncode == 0, result.stderr
    assert "e000000000000001" in result.stdout
    [copy] = database.parent.glob(f"{database.name}.before-v{NEWEST}-*.sqlite3")
    assert f"to {copy} before migrating it to version {NEWEST}" in result.stderr
    assert rows(copy, "PRAGMA user_version") == [(1,)]
    assert rows(copy, "SELECT id, prompt FROM jobs") == [("e000000000000001", "an old job")]
    assert rows(copy, "PRAGMA integrity_check") == [("ok",)]
    assert rows(database, "PRAGMA user_version") == [(NEWEST,)]


async def test_a_new_or_current_database_is_not_backed_up(tmp_path: Path, database: Path) -> None:
    for _ in range(2):  # created (version 0), then opened again at the newest version
        opened = await Database.open(database)
        await opened.close()
    assert rows(database, "PRAGMA user_version") == [(NEWEST,)]
    assert not list(database.parent.glob("*.before-v*"))
