"""`kling-bot check`: settings, database, provider key and Discord token, one line each, and the invite URL.

Nothing here starts the bot: the database is opened (and migrated, as a start would), the provider gets one
harmless status lookup, and Discord one login over REST (no gateway). No secret is ever printed.
"""

from __future__ import annotations

import asyncio

import aiohttp

from bot.admin.discord_rest import login, rest_client
from bot.admin.output import AdminError, mark
from bot.config import Settings
from bot.core.ports.provider import KeyCheck
from bot.discord_adapter.invite import invite_url
from bot.providers.registry import build_provider, connection_for
from storage.backends import open_stores
from storage.database import DatabaseUnavailable

DISCORD_TIMEOUT_SECONDS = 30.0


async def run(settings: Settings) -> int:
    results = [True]
    print(mark(True, "settings", f"valid (provider {settings.kling_provider}, "
                                 f"database {_database_name(settings)})"))
    results.append(await _database(settings))
    results.append(await _provider(settings))
    application_id = await _discord(settings)
    results.append(application_id is not None)
    if application_id is not None:
        print(f"  invite link: {invite_url(application_id)}")
    return 0 if all(results) else 1


def _database_name(settings: Settings) -> str:
    """The SQLite file, or `PostgreSQL user@host:port/db` (DATABASE_URL without its password)."""
    if settings.database_url is None:
        return str(settings.database_path)
    from storage.postgres.database import describe_dsn  # only with DATABASE_URL: asyncpg is loaded then

    return f"PostgreSQL {describe_dsn(str(settings.database_url))}"


async def _database(settings: Settings) -> bool:
    url = str(settings.database_url) if settings.database_url else None
    try:
        stores = await open_stores(database_path=settings.database_path, database_url=url)
    except DatabaseUnavailable as error:
        print(mark(False, "database", str(error)))
        return False
    try:
        version = await stores.admin.schema_version()
    finally:
        await stores.close()
    print(mark(True, "database", f"{_database_name(settings)} opens, schema version {version}"))
    return True


async def _provider(settings: Settings) -> bool:
    what = f"provider key ({settings.kling_provider})"
    async with aiohttp.ClientSession() as session:
        # The listener and sandbox key only matter to a running bot; the sandbox checks nothing.
        connection = connection_for(session, timeout_seconds=settings.provider_timeout_seconds,
                                    listener_url="http://127.0.0.1", public_base_url=None, own_key="unused")
        provider = build_provider(settings.provider, settings.provider_settings, connection)
        try:
            result = await provider.check_key()
        except Exception as error:  # an adapter bug must still give one readable line
            result = KeyCheck(False, f"the check itself failed ({error.__class__.__name__})")
    print(mark(result.ok, what, result.message))
    return result.ok


async def _discord(settings: Settings) -> int | None:
    """Log in over REST (GET /users/@me, then the application) and close; the application id, or None."""
    client = rest_client()
    try:
        async with asyncio.timeout(DISCORD_TIMEOUT_SECONDS):
            await login(client, settings)
        user, application_id = str(client.user), client.application_id
    except AdminError as error:
        print(mark(False, "Discord token", str(error)))
        return None
    except TimeoutError:
        print(mark(False, "Discord token", "Discord did not answer in time: try again"))
        return None
    finally:
        await client.close()
    print(mark(True, "Discord token", f"accepted: logged in as {user} (application {application_id})"))
    return application_id
