"""The operator's command line against a running bot and the fakes: an online backup while the bot writes,
settling jobs failed for reconciliation, `check` against the fake provider and the fake Discord, and slash
commands synced and cleared over REST."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.core.models import JobStatus
from storage.database import migrations
from tests import postgres
from tests.admin_cli import cli_env, run_cli_async, settings_env
from tests.conftest import runblob_harness
from tests.fakes.discord import FakeDiscord
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, GUILD, BotHarness

INVITE_PERMISSIONS = 274878024704  # View Channel, Send Messages (+ in Threads), Embed Links, Attach Files, History
BOT_COMMANDS = {"video", "jobs", "show", "quota", "moderation", "help", "Animate with Kling", "settings",
                "queue", "storyboard"}


def rows(path: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as connection:
        return list(connection.execute(sql, args))


# -- backup -----------------------------------------------------------------------------------------------
@pytest.mark.skipif(postgres.e2e_on_postgres(), reason="SQLite's online backup of the bot's file; on PostgreSQL "
                    "see test_backup_on_postgresql_points_to_pg_dump")
async def test_backup_while_the_bot_writes_is_a_consistent_copy(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    harness = BotHarness(discord_fake, tmp_path, default_user_quota=1_000_000, max_active_jobs_per_user=100_000)
    await harness.start()
    database = tmp_path / "bot.sqlite3"
    copy = tmp_path / "backups" / "copy.sqlite3"
    copy.parent.mkdir()
    stop = asyncio.Event()

    async def members_make_videos() -> None:
        take = 0
        while not stop.is_set():  # until the backup is done (bounded by the timeouts below)
            await asyncio.gather(harness.video(f"a fox, take {take}", user_id=ALICE),
                                 harness.video(f"an owl, take {take}", user_id=BOB))
            take += 1
            await asyncio.sleep(0.01)

    def job_count(path: Path) -> int:
        return int(rows(path, "SELECT COUNT(*) FROM jobs")[0][0])

    writer = asyncio.create_task(members_make_videos())
    try:
        async with asyncio.timeout(10):
            while job_count(database) < 6:
                await asyncio.sleep(0.02)
        before = job_count(database)
        result = await run_cli_async(tmp_path, cli_env(database), "backup", str(copy))
    finally:
        stop.set()
        await asyncio.wait_for(writer, 20)
        await harness.stop()

    assert result.returncode == 0, result.stderr
    jobs_in_copy = job_count(copy)
    assert before < jobs_in_copy  # the bot kept writing while the backup ran
    assert result.stdout.startswith(f"backed up {database} to {copy}: ")
    assert f", {jobs_in_copy} jobs, schema version {migrations()[-1][0]}" in result.stdout
    assert "✓ integrity check of the copy: ok" in result.stdout
    assert rows(copy, "PRAGMA integrity_check") == [("ok",)]
    # One snapshot: every job in the copy has its first event and its charge (written in one transaction).
    assert rows(copy, """SELECT COUNT(*) FROM jobs AS j WHERE NOT EXISTS
                             (SELECT 1 FROM job_events AS e WHERE e.job_id = j.id AND e.kind = 'created')
                          OR NOT EXISTS (SELECT 1 FROM quota_ledger AS l WHERE l.job_id = j.id AND l.kind = 'reserve')
                      """) == [(0,)]
    assert rows(copy, "SELECT COUNT(*) FROM quota_ledger WHERE kind = 'reserve' AND job_id NOT IN "
                      "(SELECT id FROM jobs)") == [(0,)]


async def test_backup_on_postgresql_points_to_pg_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_env(monkeypatch, tmp_path, tmp_path / "bot.sqlite3", database_url=postgres.database_url(tmp_path))
    assert await cli.run(["backup", str(tmp_path / "copy.dump")]) == 1
    err = capsys.readouterr().err
    assert "this bot uses PostgreSQL (DATABASE_URL)" in err and "pg_dump --format=custom" in err
    assert not (tmp_path / "copy.dump").exists() and not (tmp_path / "bot.sqlite3").exists()


# -- reconcile --------------------------------------------------------------------------------------------
async def test_reconcile_lists_settles_and_forgets_settled_jobs(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path
) -> None:
    harness = runblob_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    database = tmp_path / "bot.sqlite3"
    on_postgres = {"database_url": postgres.database_url(tmp_path)} if postgres.e2e_on_postgres() else {}
    env = cli_env(database, kling_provider="runblob", runblob_api_key=runblob.api_key,
                  runblob_base_url=runblob.base_url, **on_postgres)
    try:
        # A gateway timeout: the provider may have started the job, so the bot fails it for reconciliation.
        runblob.fail_next("submit", 504, {"detail": "Gateway Timeout"}, times=2)
        made, lost = [await harness.job_for(await harness.video(prompt)) for prompt in ("a made one", "a lost one")]
        for job in (made, lost):
            await harness.wait_status(job.id, JobStatus.FAILED)
        runblob.auto_complete_after = 0.1
        fine = await harness.job_for(await harness.video("an ordinary one"))
        await harness.wait_status(fine.id, JobStatus.DELIVERED)

        listing = await run_cli_async(tmp_path, env, "reconcile")
        assert listing.returncode == 0, listing.stderr
        listed = [line.split()[0] for line in listing.stdout.splitlines()[1:3]]
        assert sorted(listed) == sorted([made.id, lost.id])
        assert "needs reconciliation" in listing.stdout
        assert "5 refunded" in listing.stdout  # 5 s std: the bot refunded it when it gave up
        assert fine.id not in listing.stdout

        video = "https://cdn.example.org/made.mp4"
        delivered = await run_cli_async(tmp_path, env, "reconcile", made.id, "--delivered", video)
        failed = await run_cli_async(tmp_path, env, "reconcile", lost.id, "--failed")
        assert delivered.returncode == 0, delivered.stderr
        assert failed.returncode == 0, failed.stderr
        assert f"job {made.id} settled as made at the provider" in delivered.stdout and video in delivered.stdout
        assert f"job {lost.id} settled as failed at the provider" in failed.stdout
        assert "already refunded" in failed.stdout

        after = await run_cli_async(tmp_path, env, "reconcile")
        assert after.stdout.strip() == "no jobs need reconciliation"
        again = await run_cli_async(tmp_path, env, "reconcile", made.id, "--failed")
        assert again.returncode == 1 and "was already reconciled" in again.stderr
        not_needed = await run_cli_async(tmp_path, env, "reconcile", fine.id, "--failed")
        assert not_needed.returncode == 1
        assert f"job {fine.id} does not need reconciliation (it is delivered)" in not_needed.stderr

        settled = await harness.running.store.get(made.id)
        assert settled is not None and settled.video_url == video and settled.status is JobStatus.FAILED
        assert [e.detail for e in await harness.running.store.events(made.id) if e.kind == "reconciled"] == [
            f"made at the provider (operator): {video}; credits stay refunded"]
    finally:
        await harness.stop()
    # Refunded exactly once each, the delivered one charged and never refunded.
    assert await harness.sql("SELECT job_id, COUNT(*) FROM quota_ledger WHERE kind = 'refund' GROUP BY job_id "
                             "ORDER BY job_id") == sorted([(made.id, 1), (lost.id, 1)])
    assert runblob.submit_calls == 3


async def test_reconcile_failed_refunds_a_job_the_bot_had_not_refunded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job failed for reconciliation whose refund was never written (the bot stopped in between)."""
    from tests.admin_cli import make_job, seed

    database = tmp_path / "bot.sqlite3"
    job = make_job("f000000000000001", status=JobStatus.QUEUED, cost=15)
    await seed(database, job)
    with sqlite3.connect(database) as connection:  # the FAILED transition as the dispatcher writes it
        connection.execute("UPDATE jobs SET status = 'failed' WHERE id = ?", (job.id,))
        connection.execute("INSERT INTO job_events (job_id, at, kind, from_status, to_status, detail) VALUES "
                           "(?, '2025-01-01T00:00:00+00:00', 'status', 'queued', 'failed', "
                           "'needs reconciliation: provider_down: no answer in time')", (job.id,))
    settings_env(monkeypatch, tmp_path, database)
    assert await cli.run(["reconcile"]) == 0
    assert "15 charged" in capsys.readouterr().out
    assert await cli.run(["reconcile", job.id, "--failed"]) == 0
    assert "15 credits refunded now" in capsys.readouterr().out
    assert rows(database, "SELECT amount FROM quota_ledger WHERE job_id = ? AND kind = 'refund'", job.id) == [(15,)]


# -- check ------------------------------------------------------------------------------------------------
async def test_check_passes_with_a_good_key_and_token(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings_env(monkeypatch, tmp_path, tmp_path / "bot.sqlite3", kling_provider="runblob",
                 runblob_api_key=runblob.api_key, runblob_base_url=runblob.base_url)
    assert await cli.run(["check"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [
        "✓ settings", "✓ database", "✓ provider key (runblob)", "✓ Discord token"]
    assert f"schema version {migrations()[-1][0]}" in lines[1]
    assert lines[2] == "✓ provider key (runblob): key accepted"
    assert f"application {discord_fake.application_id}" in lines[3]
    invite = lines[4].removeprefix("  invite link: ")
    assert invite.startswith("https://discord.com/oauth2/authorize?")
    assert f"client_id={discord_fake.application_id}" in invite
    assert "scope=bot+applications.commands" in invite and f"permissions={INVITE_PERMISSIONS}" in invite
    assert runblob.api_key not in out and "fake-bot-token" not in out
    assert runblob.submit_calls == 0 and runblob.status_calls == 1
    assert discord_fake.gateway_identifies == 0  # REST only


async def test_check_fails_for_a_refused_key_and_token(
    discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings_env(monkeypatch, tmp_path, tmp_path / "bot.sqlite3", kling_provider="runblob",
                 runblob_api_key="wrong-runblob-key", runblob_base_url=runblob.base_url,
                 discord_token="wrong-discord-token")
    assert await cli.run(["check"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("✓ settings") and lines[1].startswith("✓ database")
    assert lines[2].startswith("✗ provider key (runblob): key refused")
    assert lines[3].startswith("✗ Discord token: Discord refused DISCORD_TOKEN")
    assert len(lines) == 4  # no invite link without an application id
    assert "wrong-runblob-key" not in out and "wrong-discord-token" not in out


# -- slash commands ---------------------------------------------------------------------------------------
async def test_commands_sync_and_clear_over_rest(
    discord_fake: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_env(monkeypatch, tmp_path, tmp_path / "bot.sqlite3")
    app = discord_fake.application_id

    assert await cli.run(["commands", "sync", "--guild", str(GUILD)]) == 0
    assert {c["name"] for c in discord_fake.guild_commands[GUILD]} == BOT_COMMANDS
    video = next(c for c in discord_fake.guild_commands[GUILD] if c["name"] == "video")
    durations = next(o for o in video["options"] if o["name"] == "duration")
    assert [choice["value"] for choice in durations["choices"]] == [5, 10, 15]  # the sandbox's capabilities
    assert capsys.readouterr().out.startswith(f"synced {len(BOT_COMMANDS)} commands in server {GUILD}: /")

    assert await cli.run(["commands", "sync"]) == 0
    assert {c["name"] for c in discord_fake.commands} == BOT_COMMANDS
    assert "globally" in capsys.readouterr().out

    assert await cli.run(["commands", "clear", "--guild", str(GUILD)]) == 0
    assert discord_fake.guild_commands[GUILD] == []
    assert {c["name"] for c in discord_fake.commands} == BOT_COMMANDS  # the global ones stay
    assert await cli.run(["commands", "clear"]) == 0
    assert discord_fake.commands == []
    assert capsys.readouterr().out.splitlines() == [f"removed every command of this bot in server {GUILD}",
                                                    "removed every command of this bot globally"]

    puts = [path for method, path in discord_fake.requests if method == "PUT"]
    assert puts == [f"/applications/{app}/guilds/{GUILD}/commands", f"/applications/{app}/commands",
                    f"/applications/{app}/guilds/{GUILD}/commands", f"/applications/{app}/commands"]
    assert discord_fake.gateway_identifies == 0
    assert not (tmp_path / "bot.sqlite3").exists()  # commands need no database
    assert discord_fake.internal_errors == []


async def test_commands_with_a_refused_token_say_so(
    discord_fake: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_env(monkeypatch, tmp_path, tmp_path / "bot.sqlite3", discord_token="not-the-token")
    assert await cli.run(["commands", "sync"]) == 1
    assert capsys.readouterr().err.startswith("Error: Discord refused DISCORD_TOKEN")
    assert discord_fake.commands == []
