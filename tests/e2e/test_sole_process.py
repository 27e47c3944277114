"""One bot process per SQLite database: a second `python -m bot` on the same file refuses to start, in one
line, instead of running a second dispatcher and delivery beside the first (storage/sole_process.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import postgres
from tests.fakes.discord import FakeDiscord
from tests.harness import BotHarness

ROOT = Path(__file__).resolve().parents[2]


def second_bot(database: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD", "KLING", "DATABASE", "HTTP"))}
    env = {**clean, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "x", "DATABASE_PATH": str(database),
           "HTTP_HOST": "127.0.0.1", "HTTP_PORT": "0"}
    return subprocess.run([sys.executable, "-m", "bot"], env=env, cwd=database.parent, capture_output=True,
                          text=True, timeout=30)


async def test_a_second_bot_on_the_same_sqlite_file_refuses_to_start(discord_fake: FakeDiscord,
                                                                     tmp_path: Path) -> None:
    postgres.skip_unless_sqlite("one bot process per SQLite file; PostgreSQL takes several")
    harness = BotHarness(discord_fake, tmp_path)
    app = await harness.start()
    database = app.settings.database_path
    try:
        refused = second_bot(database)
        assert refused.returncode == 1
        assert refused.stderr.strip() == (
            f"Could not start: {database} is in use by another bot process (pid {os.getpid()}): one process per "
            "SQLite database. Stop the other one, or use PostgreSQL (DATABASE_URL) for several.")
    finally:
        await harness.stop()
    # Stopped, the file is free again: the same harness starts on it at once.
    await harness.start()
    await harness.stop()
