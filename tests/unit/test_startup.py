"""A database that cannot be opened or migrated stops the bot at once with one clear line and status 1
(it used to hang: the database connection's thread kept the process alive)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bot(tmp_path: Path, database: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD", "KLING", "RUNBLOB", "HTTP"))}
    env = {**clean, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "x", "DATABASE_PATH": str(database),
           "HTTP_HOST": "127.0.0.1", "HTTP_PORT": "0"}
    return subprocess.run([sys.executable, "-m", "bot"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=30)


def test_a_file_that_is_not_a_database_exits_1_with_one_line(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    database.write_bytes(b"this is not an SQLite database, whatever its name says. " * 40)
    result = run_bot(tmp_path, database)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Could not start: cannot open or migrate the database at ")
    assert "file is not a database" in line


def test_a_database_path_that_cannot_be_opened_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    result = run_bot(tmp_path, folder)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot open the database at" in result.stderr
