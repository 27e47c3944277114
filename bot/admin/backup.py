"""`kling-bot backup FILE`: a consistent copy of the live database, safe while the bot runs."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.admin.output import AdminError, mark
from bot.config import Settings
from storage.backup import CopyReport, backup_file, inspect_copy


async def run(settings: Settings, target: Path, *, force: bool) -> int:
    if settings.database_url is not None:
        # SQLite's online backup API copies a file; a PostgreSQL server has its own tools for this.
        raise AdminError("`kling-bot backup` copies the SQLite database, and this bot uses PostgreSQL (DATABASE_URL): "
                         f"back it up with PostgreSQL's own tools, for example `pg_dump --format=custom "
                         f"--file {target} \"$DATABASE_URL\"` (restore with pg_restore)")
    report = await asyncio.to_thread(copy, settings.database_path, target, force)
    print(f"backed up {settings.database_path} to {report.path}: {size_text(report.size)}, {report.jobs} jobs, "
          f"schema version {report.schema_version}")
    print(mark(report.ok, "integrity check of the copy", report.integrity))
    return 0 if report.ok else 1


def copy(source: Path, target: Path, force: bool) -> CopyReport:
    """Checks what the operator asked for, copies, and reads the copy back (file work: off the event loop)."""
    if not source.is_file():
        raise AdminError(f"there is no database at {source} (DATABASE_PATH): nothing to back up")
    if target.exists() and target.resolve() == source.resolve():
        raise AdminError(f"{target} is the live database itself: choose another name for the copy")
    if target.exists() and not force:
        raise AdminError(f"{target} already exists: choose another name, or add --force to overwrite it")
    if not target.parent.is_dir():
        raise AdminError(f"the folder {target.parent} does not exist: create it first")
    try:
        backup_file(source, target)
        return inspect_copy(target)
    except (OSError, sqlite3.Error) as error:
        raise AdminError(f"could not back up {source} to {target}: {error}") from None


def size_text(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    size = count / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
