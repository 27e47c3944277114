"""Every query on a hot path reads an index, however long the history grows.

The real services run each hot path (a `/video`, a callback or poll moving a job, `/jobs`, `/quota show`,
`/quota history`, start-up recovery, a `/metrics` count, a prune) against a real SQLite file, with SQLite's
trace callback recording each statement they send. Each one is then put through EXPLAIN QUERY PLAN, and
the test fails on a scan of the tables that grow with history (jobs, job_events, quota_ledger), covering
index or not, and on a page of rows (LIMIT) that has to be sorted first. The plans are the ones the bot
gets: it never runs ANALYZE, so SQLite plans from the schema alone, whatever the data.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.models import IN_FLIGHT, JobStatus
from bot.core.moderation import Actor
from bot.core.retention import JobRetention
from tests.unit.world import ALICE, BOB, GUILD, World, history_world

GROWING = {"jobs", "job_events", "quota_ledger"}
STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
ALIAS = re.compile(r"\b(?:FROM|JOIN|,)\s+(\w+)(?:\s+AS)?\s+(?!WHERE|ON|JOIN|LEFT|ORDER|GROUP|LIMIT|USING)(\w+)",
                   re.IGNORECASE)
SCAN = re.compile(r"^SCAN (\w+)")


class Recorder:
    """Collects the statements the bot's connection runs (trigger bodies are reported as comments: skipped)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, statement: str) -> None:
        # A statement that fires triggers is reported once more per trigger statement: keep one.
        if STATEMENT.match(statement) and statement not in self.statements:
            self.statements.append(statement)

    def take(self) -> list[str]:
        taken, self.statements = self.statements, []
        return taken


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await history_world(tmp_path)
    yield w
    await w.database.close()


async def prune_two_days_later(world: World) -> None:
    world.clock.advance(2 * 86400)
    assert (await JobRetention(world.store, world.clock, days=1).prune()).jobs > 0


def plan(connection: sqlite3.Connection, statement: str) -> list[str]:
    return [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}")]


def problems(statement: str, details: list[str]) -> list[str]:
    aliases = {alias.lower(): table.lower() for table, alias in ALIAS.findall(statement)}
    found = []
    for detail in details:
        scan = SCAN.match(detail)
        if scan and aliases.get(scan.group(1).lower(), scan.group(1).lower()) in GROWING:
            found.append(f"full scan: {detail}")
        if "TEMP B-TREE FOR" in detail and "ORDER BY" in detail and re.search(r"\bLIMIT\b", statement, re.I):
            found.append(f"a page sorted from every matching row: {detail}")
    return found


async def test_every_hot_query_reads_an_index(world: World, tmp_path: Path) -> None:
    recorder = Recorder()
    await world.database.connection.set_trace_callback(recorder)
    # Some history first, so every path has something to read.
    for _ in range(3):
        await world.deliver(await world.video(ALICE))
    await world.fail(await world.video(BOB))
    moderator = Actor(guild_id=GUILD, user_id=99, permissions=1 << 5)  # Manage Server
    await world.quotas.grant(moderator, ALICE, 10)
    recorder.take()

    job = await world.video(ALICE)
    failing = await world.video(BOB)
    recorder.take()
    stages: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("/video", lambda: world.video(BOB)),
        ("the status message is attached",
         lambda: world.store.update(job.id, world.clock.now(), status_message_id=1234)),
        ("a callback or poll reads the job", lambda: world.store.get(job.id)),
        ("a callback or poll moves the job", lambda: world.deliver(job)),
        ("a job fails and is refunded", lambda: world.fail(failing)),
        ("an event is recorded", lambda: world.store.record_event(job.id, world.clock.now(), "note", "seen")),
        ("/jobs", lambda: world.store.recent_for_user(GUILD, ALICE, 10)),
        ("/queue's estimates: recent generation times", lambda: world.store.generation_seconds("runblob", 20)),
        ("/quota show", lambda: world.quotas.show(moderator, ALICE)),
        ("/quota pool", lambda: world.quotas.pool(GUILD)),
        ("/quota history (the server)", lambda: world.quotas.history(moderator, None, 1)),
        ("/quota history (one member)", lambda: world.quotas.history(moderator, ALICE, 1)),
        ("start-up recovery", lambda: world.store.with_status((*IN_FLIGHT, JobStatus.COMPLETED))),
        ("start-up refunds", lambda: world.quotas.refund_missed()),
        ("/metrics job counts", lambda: world.store.count_by_status()),
        ("pruning", lambda: prune_two_days_later(world)),  # last: it moves the clock
    ]
    explain = sqlite3.connect(tmp_path / "bot.sqlite3")
    report: list[str] = []
    failures: list[str] = []
    try:
        for name, run in stages:
            await run()
            statements = recorder.take()
            assert statements, f"{name}: no statement recorded"
            for statement in statements:
                details = plan(explain, statement)
                report.append(f"{name}: {' '.join(statement.split())[:140]}\n    " + "\n    ".join(details))
                failures += [f"{name}: {problem}\n    in {' '.join(statement.split())}"
                             for problem in problems(statement, details)]
    finally:
        explain.close()
    assert not failures, "\n".join(failures) + "\n\nall plans:\n" + "\n".join(report)


def test_the_refund_trigger_reads_the_ledger_by_index(tmp_path: Path) -> None:
    """The one query a trigger runs over the ledger (0003's refund trigger, kept by 0005), which
    EXPLAIN QUERY PLAN on the INSERT does not show."""
    from storage.database import migrations

    connection = sqlite3.connect(tmp_path / "bot.sqlite3")
    for _, _, sql in migrations():
        connection.executescript(sql)
    trigger = connection.execute(
        "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = 'quota_refund_counts'").fetchone()[0]
    subquery = re.search(r"NOT EXISTS \((.*?)\);\s*END", trigger, re.S)
    assert subquery is not None
    statement = re.sub(r"NEW\.\w+", "1", subquery.group(1))
    details = plan(connection, statement)
    assert problems(statement, details) == [], details
    connection.close()


def test_the_check_itself_catches_a_full_scan(tmp_path: Path) -> None:
    # What /metrics ran before migration 0005: counting every job, through an index but still all of them.
    connection = sqlite3.connect(tmp_path / "scratch.sqlite3")
    connection.executescript("CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT, user_id INTEGER, created_at TEXT);"
                             "CREATE INDEX jobs_by_status ON jobs (status);"
                             "CREATE INDEX jobs_by_user ON jobs (user_id);")
    count = "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status"
    assert problems(count, plan(connection, count)) != []
    page = "SELECT * FROM jobs AS j WHERE j.user_id = 1 ORDER BY j.created_at DESC LIMIT 10"
    assert problems(page, plan(connection, page)) != []
    aliased = "SELECT r.id FROM jobs AS r WHERE r.created_at > '2026'"
    assert problems(aliased, plan(connection, aliased)) != []
    connection.close()
