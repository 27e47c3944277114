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
from storage.admin import AdminStore
from storage.database import Database, DatabaseUnavailable

DISCORD_TIMEOUT_SECONDS = 30.0


async def run(settings: Settings) -> int:
    results = [True]
    print(mark(True, "settings", f"valid (provider {settings.kling_provider}, "
                                 f"database {settings.database_path})"))
    results.append(await _database(settings))
    results.append(await _provider(settings))
    application_id = await _discord(settings)
    results.append(application_id is not None)
    if application_id is not None:
        print(f"  invite link: {invite_url(application_id)}")
    return 0 if all(results) else 1


async def _database(settings: Settings) -> bool:
    try:
        database = await Database.open(settings.database_path)
    except DatabaseUnavailable as error:
        print(mark(False, "database", str(error)))
        return False
    try:
        version = await AdminStore(database).schema_version()
    finally:
        await database.close()
    print(mark(True, "database", f"{settings.database_path} opens, schema version {version}"))
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
        await asyncio.wait_for(login(client, settings), DISCORD_TIMEOUT_SECONDS)
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
