"""Opening the bot's database for a command: only one that exists (a typo in DATABASE_PATH must not
quietly create an empty database), migrated the way the bot itself would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.admin.output import AdminError
from bot.config import Settings
from storage.database import Database


@asynccontextmanager
async def existing_database(settings: Settings) -> AsyncIterator[Database]:
    path = settings.database_path
    if not path.is_file():
        raise AdminError(f"there is no database at {path} (DATABASE_PATH): point DATABASE_PATH at the bot's "
                         "database, or start the bot once to create it")
    database = await Database.open(path)  # DatabaseUnavailable: the command line prints it, exit 1
    try:
        yield database
    finally:
        await database.close()
