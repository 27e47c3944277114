"""Opening the bot's database for a command: only one that exists (a typo in DATABASE_PATH must not
quietly create an empty database), migrated the way the bot itself would. With DATABASE_URL, the PostgreSQL
database it names (storage/backends.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.admin.output import AdminError
from bot.config import Settings
from storage.backends import Stores, open_stores


@asynccontextmanager
async def existing_stores(settings: Settings) -> AsyncIterator[Stores]:
    """The bot's stores on whichever database it uses: PostgreSQL with DATABASE_URL, else the SQLite file
    at DATABASE_PATH, which must exist."""
    if settings.database_url is None and not settings.database_path.is_file():
        raise AdminError(f"there is no database at {settings.database_path} (DATABASE_PATH): point DATABASE_PATH at "
                         "the bot's database, or start the bot once to create it")
    url = str(settings.database_url) if settings.database_url else None
    stores = await open_stores(database_path=settings.database_path, database_url=url)  # DatabaseUnavailable: exit 1
    try:
        yield stores
    finally:
        await stores.close()
