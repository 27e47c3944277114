"""Slash commands are synced only when their definition changed.

Every sync is a PUT of the whole command list, and Discord limits command creations per day (200 per server);
a bot restarted often (upgrades, crashes, a watchdog) would spend that limit and churn members' clients for
nothing. So the bot keeps, per application and target (global, or one server), a hash of the exact payload
it last synced, and sends it again only when the hash differs. `kling-bot commands sync` always syncs and
records the hash too; `kling-bot commands clear` forgets it, so the next start registers the commands again.

It also remembers which server DEV_GUILD_ID last put copies in: when that setting is removed (or names
another server), the copies there are removed once, or members would see every command twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Protocol

import discord
from discord import app_commands

log = logging.getLogger(__name__)


class SyncRecords(Protocol):
    """Where the hashes are kept (storage/kv.py's KeyValueStore)."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...

    async def delete(self, key: str) -> None: ...


def hash_key(application_id: int, guild_id: int | None) -> str:
    where = "global" if guild_id is None else f"guild:{guild_id}"
    # Per application: a new DISCORD_TOKEN for another application with the same database starts with none.
    return f"commands_hash:{application_id}:{where}"


def dev_guild_key(application_id: int) -> str:
    return f"commands_dev_guild:{application_id}"


async def payload_hash(tree: app_commands.CommandTree[Any], guild: discord.abc.Snowflake | None) -> str:
    """A stable hash of exactly what `tree.sync(guild=guild)` would send (translated, when a translator is
    set), independent of the order commands were added in."""
    commands = tree.get_commands(guild=guild)
    translator = tree.translator
    if translator is not None:
        payload = [await command.get_translated_payload(tree, translator) for command in commands]
    else:
        payload = [command.to_dict(tree) for command in commands]
    entries = sorted(json.dumps(entry, sort_keys=True, separators=(",", ":")) for entry in payload)
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


async def remember(records: SyncRecords, application_id: int, guild_id: int | None, digest: str) -> None:
    """These commands (their `payload_hash`) were synced to this target: the next start need not sync them."""
    await records.set(hash_key(application_id, guild_id), digest)


async def forget(records: SyncRecords, application_id: int, guild_id: int | None) -> None:
    """The commands of this target were removed: the next start must sync them again."""
    await records.delete(hash_key(application_id, guild_id))
    if guild_id is not None and await records.get(dev_guild_key(application_id)) == str(guild_id):
        await records.delete(dev_guild_key(application_id))


async def sync_if_changed(tree: app_commands.CommandTree[Any], dev_guild_id: int | None,
                          records: SyncRecords | None) -> None:
    """At start-up: the commands globally, or copied to DEV_GUILD_ID; skipped when unchanged since the last
    sync (always synced without records). Then removes copies left in a former dev server."""
    guild = discord.Object(dev_guild_id) if dev_guild_id else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    application_id = _application_id(tree)
    digest = await payload_hash(tree, guild)
    key = hash_key(application_id, dev_guild_id)
    if records is not None and await records.get(key) == digest:
        log.info("commands unchanged; not synced (%s)", _where(dev_guild_id))
    else:
        synced = await tree.sync(guild=guild)
        if records is not None:
            await remember(records, application_id, dev_guild_id, digest)
        if guild is None:
            log.info("synced %d global commands (Discord may take a while to show them)", len(synced))
        else:
            log.info("synced %d commands to guild %s", len(synced), dev_guild_id)
    if records is None:
        return
    former = await records.get(dev_guild_key(application_id))
    if (former is not None and former != str(dev_guild_id or "")
            and not await _remove_former_dev_copies(tree, records, application_id, int(former))):
        return  # the former server stays recorded, so the next start tries again
    if dev_guild_id:
        await records.set(dev_guild_key(application_id), str(dev_guild_id))


async def _remove_former_dev_copies(tree: app_commands.CommandTree[Any], records: SyncRecords,
                                    application_id: int, former_id: int) -> bool:
    """Removes the copies and forgets the server (True), or leaves both for the next start (False)."""
    # This run copied nothing to that server, so the tree holds no commands for it: syncing it there PUTs an
    # empty list, which removes the copies.
    try:
        await tree.sync(guild=discord.Object(former_id))
    except (discord.Forbidden, discord.NotFound):
        # The bot is no longer in that server (or may not manage its commands): nothing more it can do there.
        log.warning("could not remove the commands copied to former DEV_GUILD_ID %s (the bot has no access there); "
                    "if members still see them twice, run `kling-bot commands clear --guild %s`", former_id, former_id)
    except discord.HTTPException as error:
        log.warning("could not remove the commands copied to former DEV_GUILD_ID %s (%s %s); will try again at "
                    "the next start", former_id, error.status, error.text)
        return False
    else:
        log.info("removed the commands copied to former DEV_GUILD_ID %s (members saw them twice)", former_id)
    await forget(records, application_id, former_id)
    return True


def _application_id(tree: app_commands.CommandTree[Any]) -> int:
    application_id = tree.client.application_id
    if application_id is None:  # set at login, before setup_hook and before any command-line sync
        raise discord.errors.MissingApplicationID
    return application_id


def _where(guild_id: int | None) -> str:
    return "global" if guild_id is None else f"guild {guild_id}"
