"""One bot process per SQLite database.

A second bot on the same file would run a second dispatcher, poll loop and delivery beside the first (on
SQLite every process leads: bot/core/leadership.py `SoleLease`), sending jobs twice as fast as
MAX_CONCURRENT_JOBS allows and racing the first to every post. So the bot holds an exclusive lock on a file
beside the database (`<database>.lock`) while it runs; the operating system drops it when the process ends,
however it ends (SIGKILL included). The admin command line does not take it: it is safe beside the bot.
Several processes are what PostgreSQL is for (DATABASE_URL)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from storage.database import DatabaseUnavailable


class SoleProcess:
    def __init__(self, file: int, path: Path) -> None:
        self._file = file
        self.path = path

    @classmethod
    def claim(cls, database_path: Path) -> SoleProcess:
        """Hold the lock beside `database_path`; raises DatabaseUnavailable when another process holds it."""
        path = database_path.with_name(database_path.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        file = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(file, 32).decode(errors="replace").strip()
            os.close(file)
            raise DatabaseUnavailable(
                f"{database_path} is in use by another bot process{f' (pid {holder})' if holder else ''}: one "
                "process per SQLite database. Stop the other one, or use PostgreSQL (DATABASE_URL) for several."
            ) from None
        os.ftruncate(file, 0)
        os.write(file, str(os.getpid()).encode())
        return cls(file, path)

    async def release(self) -> None:
        if self._file >= 0:
            os.close(self._file)  # closing the descriptor drops the lock
            self._file = -1
