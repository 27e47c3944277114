"""Online copies of the SQLite database through SQLite's backup API.

The copy is one consistent snapshot even while the bot writes (WAL mode: a reader never blocks the
writer), written beside its destination first and renamed into place, so a copy that was cut short never
sits where a good one is expected. The copy is a single self-contained file (rollback journal, no -wal).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What a copy holds, read back from the copy itself."""

    path: Path
    size: int
    integrity: str  # "ok", or SQLite's first complaint
    schema_version: int
    jobs: int

    @property
    def ok(self) -> bool:
        return self.integrity == "ok"


def backup_connection(source: sqlite3.Connection, target: Path) -> None:
    """Copy the database behind `source` to `target` (replacing it), atomically."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        destination = sqlite3.connect(partial)
        try:
            # One step (pages=-1): the whole snapshot under one read transaction, so it is consistent.
            source.backup(destination)
            destination.execute("PRAGMA journal_mode=DELETE")  # a single file, whatever the live one uses
        finally:
            destination.close()
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def backup_file(source: Path, target: Path) -> None:
    """Copy the database at `source`, opened read-only so that nothing is created or changed there."""
    connection = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        connection.execute("PRAGMA busy_timeout=5000")
        backup_connection(connection, target)
    finally:
        connection.close()


def inspect_copy(path: Path) -> CopyReport:
    """Check a copy: `PRAGMA integrity_check`, its schema version and how many jobs it holds."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        integrity = "; ".join(str(row[0]) for row in connection.execute("PRAGMA integrity_check").fetchmany(5))
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        has_jobs = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone()
        jobs = int(connection.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]) if has_jobs else 0
    finally:
        connection.close()
    return CopyReport(path=path, size=path.stat().st_size, integrity=integrity, schema_version=version, jobs=jobs)


def pre_migration_name(database: Path, target_version: int, at: datetime) -> Path:
    """`<db>.before-v<N>-<timestamp>.sqlite3`, beside the database."""
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    return database.with_name(f"{database.name}.before-v{target_version}-{stamp}.sqlite3")
