"""Migration 0005 on a database that already has history: every row stays, the ledger's indexes and
triggers come back word for word, and a job with ledger rows can now be pruned."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from storage.database import Database, migrations
from storage.quotas import LEDGER_MEMBER_USED, LEDGER_POOL_USED, LEDGER_TOTAL_USED

VERSION = 5  # storage/migrations/0005_history_indexes.sql
TABLES = ("jobs", "job_events", "quota_ledger", "quota_member_usage", "quota_pool_usage", "quota_total_usage",
          "quota_limits", "guild_settings", "kv")
NOW = "2026-11-20T12:00:00.000000+00:00"


def migrate_to_just_before(path: Path) -> sqlite3.Connection:
    """The database as the previous release left it: every migration before 0005, the way Database does it."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA foreign_keys=ON")
    for version, _, sql in migrations():
        if version < VERSION:
            connection.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    return connection


def add_history(connection: sqlite3.Connection) -> None:
    jobs = [("a" * 16, "delivered", 10, 5), ("b" * 16, "failed", 11, 10), ("c" * 16, "processing", 10, 20),
            ("d" * 16, "queued", 11, 5)]
    for job_id, status, user, cost in jobs:
        connection.execute(
            """INSERT INTO jobs (id, guild_id, channel_id, user_id, provider, prompt, duration, aspect, mode, cost,
                   status, created_at, updated_at)
               VALUES (?, 1, 2, ?, 'runblob', 'a fox', 5, '16:9', 'std', ?, ?, ?, ?)""",
            (job_id, user, cost, status, NOW, NOW))
        connection.execute("INSERT INTO job_events (job_id, at, kind, to_status) VALUES (?, ?, 'created', 'queued')",
                           (job_id, NOW))
        connection.execute(
            """INSERT INTO quota_ledger (at, guild_id, user_id, actor_id, kind, period, amount, job_id)
               VALUES (?, 1, ?, ?, 'reserve', '2026-11-01', ?, ?)""", (NOW, user, user, cost, job_id))
    ledger = [  # kind, user, amount, job
        ("refund", 11, 10, "b" * 16), ("grant", 10, 30, None), ("reset", 11, 5, None), ("limit", 10, 100, None),
        ("pool", None, 500, None), ("default", None, 60, None),
    ]
    for kind, user, amount, job_id in ledger:
        connection.execute(
            """INSERT INTO quota_ledger (at, guild_id, user_id, actor_id, kind, period, amount, job_id, detail)
               VALUES (?, 1, ?, 99, ?, '2026-11-01', ?, ?, 'by a moderator')""", (NOW, user, kind, amount, job_id))
    connection.execute("INSERT INTO quota_limits (guild_id, user_id, credits) VALUES (1, 10, 100)")
    connection.execute("INSERT INTO guild_settings (guild_id, pool_limit, default_quota) VALUES (1, 500, 60)")
    connection.execute("INSERT INTO kv (key, value) VALUES ('callback_secret', 'kept')")


def columns(connection: sqlite3.Connection) -> dict[str, list[str]]:
    return {table: [row[1] for row in connection.execute(f"PRAGMA table_info({table})")] for table in TABLES}


def snapshot(connection: sqlite3.Connection, shape: dict[str, list[str]]) -> dict[str, list[tuple[object, ...]]]:
    """Every row, in the columns the tables had before (later migrations may add columns)."""
    return {table: connection.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY rowid").fetchall()
            for table, names in shape.items()}


def ledger_schema(connection: sqlite3.Connection) -> dict[str, str]:
    """The ledger's indexes and triggers, by name, with their SQL's spacing normalised."""
    rows = connection.execute(
        "SELECT name, sql FROM sqlite_schema WHERE tbl_name = 'quota_ledger' AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL").fetchall()
    return {name: re.sub(r"\s+", " ", sql).strip() for name, sql in rows}


async def test_the_migration_keeps_every_row_and_the_ledgers_indexes_and_triggers(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    old = migrate_to_just_before(path)
    add_history(old)
    shape = columns(old)
    rows_before, schema_before = snapshot(old, shape), ledger_schema(old)
    old.close()

    database = await Database.open(path)  # applies 0005 (and anything after it)
    await database.close()

    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] >= VERSION
    assert snapshot(connection, shape) == rows_before
    schema_after = ledger_schema(connection)
    assert {name: schema_after.get(name) for name in schema_before} == schema_before
    assert connection.execute("PRAGMA foreign_key_list(quota_ledger)").fetchall() == []
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    counts = dict(connection.execute("SELECT status, jobs FROM job_status_counts").fetchall())
    assert counts == {"delivered": 1, "failed": 1, "processing": 1, "queued": 1}


async def test_after_the_migration_a_charged_job_can_be_pruned_and_the_totals_still_follow_the_ledger(
        tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    old = migrate_to_just_before(path)
    add_history(old)
    # Before: the ledger's foreign key refuses to let a charged job go.
    old.execute("BEGIN")
    old.execute("DELETE FROM job_events WHERE job_id = ?", ("a" * 16,))
    with pytest.raises(sqlite3.IntegrityError):
        old.execute("DELETE FROM jobs WHERE id = ?", ("a" * 16,))
    old.execute("ROLLBACK")
    old.close()

    database = await Database.open(path)
    await database.close()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("DELETE FROM job_events WHERE job_id IN (?, ?)", ("a" * 16, "b" * 16))
    connection.execute("DELETE FROM jobs WHERE id IN (?, ?)", ("a" * 16, "b" * 16))
    assert connection.execute("SELECT COUNT(*) FROM quota_ledger WHERE job_id IN (?, ?)",
                              ("a" * 16, "b" * 16)).fetchone()[0] == 3
    # The rebuilt table's triggers keep the running totals: a refund written now still counts, once.
    connection.execute(
        """INSERT INTO quota_ledger (at, guild_id, user_id, kind, period, amount, job_id)
           VALUES (?, 1, 10, 'refund', '2026-11-01', 5, ?)""", (NOW, "a" * 16))
    with pytest.raises(sqlite3.IntegrityError):
        connection.execute(
            """INSERT INTO quota_ledger (at, guild_id, user_id, kind, period, amount, job_id)
               VALUES (?, 1, 10, 'refund', '2026-11-01', 5, ?)""", (NOW, "a" * 16))
    for member in (10, 11):
        args = {"guild": 1, "user": member, "period": "2026-11-01"}
        stored = connection.execute("SELECT used FROM quota_member_usage WHERE guild_id = 1 AND user_id = ?",
                                    (member,)).fetchone()[0]
        assert stored == connection.execute(LEDGER_MEMBER_USED, args).fetchone()[0]
    pool = connection.execute("SELECT used FROM quota_pool_usage WHERE guild_id = 1").fetchone()[0]
    assert pool == connection.execute(LEDGER_POOL_USED, {"guild": 1, "period": "2026-11-01"}).fetchone()[0] == 25
    total = connection.execute("SELECT used FROM quota_total_usage").fetchone()[0]
    assert total == connection.execute(LEDGER_TOTAL_USED, {"period": "2026-11-01"}).fetchone()[0] == 25
