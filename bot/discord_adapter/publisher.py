"""The core's `Publisher`, implemented with the bot's own token (never the 15-minute interaction token),
so edits and posts work however long a job takes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
import discord

from bot.core.models import Job
from bot.core.ports.publisher import PublishError, Result
from bot.discord_adapter import render
from bot.i18n import Lang, guild_lang

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
# A server this process has no gateway copy of (it is on another process's shard: the leader delivers for every
# shard) is read over REST, and what Discord said is kept this long: its boost tier (upload limit) and language.
FETCHED_GUILD_SECONDS = 600.0


class DiscordPublisher:
    """Status edits are coalesced per job: while one edit is in flight, later changes wait and only the
    newest is sent, so a busy queue does not flood Discord with edits."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        self._latest: dict[str, tuple[Job, int | None, datetime | None]] = {}
        self._editing: dict[str, asyncio.Task[None]] = {}
        # The result's buttons for a job, labelled in a language: `view_factory(job, lang)`; set by the video cog.
        self.view_factory: Callable[[Job, Lang], discord.ui.View] | None = None
        # (guild id, channel id) -> whether results there are spoilers; set by the moderation cog.
        self.spoiler_check: Callable[[int, int], Awaitable[bool]] | None = None
        # The status message's buttons for a job (None: none), `status_view_factory(job, lang)`; ditto.
        self.status_view_factory: Callable[[Job, Lang], discord.ui.View | None] | None = None
        # Awaited before each status edit, so that the answers to commands go first (bot/core/answers_first.py);
        # set by the application.
        self.before_edit: Callable[[], Awaitable[None]] | None = None
        self._fetched: dict[int, tuple[float, discord.Guild | None]] = {}  # guild id -> (until, what REST said)

    # -- status ---------------------------------------------------------------------------------------
    async def show_status(self, job: Job, *, queue_position: int | None = None, eta: datetime | None = None) -> None:
        if job.status_message_id is None:
            return
        self._latest[job.id] = (job, queue_position, eta)
        if job.id not in self._editing:
            task = asyncio.create_task(self._edit_until_current(job.id))
            self._editing[job.id] = task

    async def _edit_until_current(self, job_id: str) -> None:
        try:
            while job_id in self._latest:
                if self.before_edit is not None:
                    await self.before_edit()  # the newest change is taken after the wait
                job, position, eta = self._latest.pop(job_id)
                await self._edit_status(job, position, eta)
        finally:
            self._editing.pop(job_id, None)

    async def _edit_status(self, job: Job, position: int | None, eta: datetime | None = None) -> None:
        if self.client.is_closed():  # shutting down: the next start shows every job as it is
            log.debug("not updating a status message: the bot is closed")
            return
        channel = self.client.get_partial_messageable(job.channel_id)
        message = channel.get_partial_message(job.status_message_id)  # type: ignore[arg-type]
        try:
            lang = await self._lang(job)
            await message.edit(embed=render.status_embed(job, queue_position=position, eta=eta, lang=lang),
                               view=self._status_view(job, lang))
        except (discord.HTTPException, aiohttp.ClientError) as exc:
            log.warning("could not update the status message (%s)", exc)
        except Exception:  # a status edit must never take anything else down (e.g. during shutdown)
            log.exception("updating the status message failed")

    async def _lang(self, job: Job) -> Lang:
        """Posts in a channel are for everyone there: the server's preferred language (English while the
        server cannot be known). A result sent by direct message follows its server too: outside an
        interaction the bot does not know the member's own language."""
        return guild_lang(await self._guild(job.guild_id))

    async def _guild(self, guild_id: int) -> discord.Guild | None:
        """The server as the gateway gave it to this process, or, for a server on another process's shard,
        as Discord's REST API gives it (kept FETCHED_GUILD_SECONDS). None when neither knows it."""
        guild = self.client.get_guild(guild_id)
        if guild is not None or not self.client.is_ready():  # before ready: not yet delivered, not elsewhere
            return guild
        until, fetched = self._fetched.get(guild_id, (0.0, None))
        if until > time.monotonic():
            return fetched
        try:
            fetched = await self.client.fetch_guild(guild_id, with_counts=False)
        except (discord.HTTPException, aiohttp.ClientError) as exc:
            log.info("could not read server %s over REST (%s): posting as for an unboosted English server",
                     guild_id, exc)
            fetched = None
        self._fetched[guild_id] = (time.monotonic() + FETCHED_GUILD_SECONDS, fetched)
        return fetched

    def _status_view(self, job: Job, lang: Lang) -> discord.ui.View | None:
        """The buttons the status message shows now (Cancel while queued); None removes them."""
        return self.status_view_factory(job, lang) if self.status_view_factory is not None else None

    async def wait_for_edits(self) -> None:
        """Let pending status edits finish (used at shutdown and by tests)."""
        while self._editing:
            await asyncio.gather(*list(self._editing.values()), return_exceptions=True)

    # -- results --------------------------------------------------------------------------------------
    async def upload_limit(self, guild_id: int) -> int:
        # Deliveries resumed at start-up begin before the gateway has sent the guilds and their boost tier.
        await self.client.wait_until_ready()
        guild = await self._guild(guild_id)
        return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT

    async def post_result(self, job: Job, result: Result, *, nonce: str) -> int:
        spoiler = await self._spoiler(job)
        result = _hidden(result) if spoiler else result
        channel = self.client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        reference = None
        # A Continue replies to the result it continues, so the clips of a scene form one chain of replies.
        replying_to = job.reply_to_message_id or job.status_message_id
        if replying_to is not None:
            reference = discord.MessageReference(
                message_id=replying_to, channel_id=job.channel_id, fail_if_not_exists=False
            )
        lang = await self._lang(job)
        kwargs: dict[str, Any] = {
            "content": render.result_content(job, result, lang),
            "embed": render.result_embed(job, lang),
            "nonce": nonce,
            "reference": reference,
            "allowed_mentions": discord.AllowedMentions(users=[discord.Object(job.user_id)], replied_user=False),
        }
        if self.view_factory is not None:
            kwargs["view"] = self.view_factory(job, lang)
        if result.file is not None:
            kwargs["file"] = discord.File(result.file, filename=f"kling-{job.id}.mp4", spoiler=spoiler)
        message = await _send(channel, kwargs)
        return message.id

    async def _spoiler(self, job: Job) -> bool:
        """Whether the job's channel posts results as spoilers (the channel's choice also goes with a result
        sent by direct message instead). Unknown when the setting cannot be read: not a spoiler then, since
        the video must still be delivered."""
        if self.spoiler_check is None:
            return False
        try:
            return await self.spoiler_check(job.guild_id, job.channel_id)
        except Exception:
            log.exception("could not read whether the channel posts spoilers")
            return False

    async def direct_message_result(self, job: Job, result: Result, *, nonce: str) -> int:
        spoiler = await self._spoiler(job)
        result = _hidden(result) if spoiler else result
        try:
            user = self.client.get_user(job.user_id) or await self.client.fetch_user(job.user_id)
            channel = await user.create_dm()
        except (discord.HTTPException, aiohttp.ClientError) as exc:
            raise PublishError(f"cannot open a direct message: {exc}", permanent=True) from exc
        lang = await self._lang(job)
        kwargs: dict[str, Any] = {
            "content": render.result_content(job, result, lang) + "\n" + render.direct_message_note(job, lang),
            "embed": render.result_embed(job, lang),
            "nonce": nonce,
        }
        if result.file is not None:
            kwargs["file"] = discord.File(result.file, filename=f"kling-{job.id}.mp4", spoiler=spoiler)
        message = await _send(channel, kwargs)
        return message.id


def _hidden(result: Result) -> Result:
    """A spoiler result's link, hidden until clicked (`||…||`); its file is marked by `discord.File(spoiler=)`."""
    return dataclasses.replace(result, link=f"||{result.link}||") if result.link else result


async def _send(channel: discord.abc.Messageable, kwargs: dict[str, Any]) -> discord.Message:
    try:
        return await channel.send(**kwargs)
    except (discord.Forbidden, discord.NotFound) as exc:
        raise PublishError(f"{exc.status} {exc.text}", permanent=True) from exc
    except discord.HTTPException as exc:
        # 413: the file is over the limit after all; other 4xx will not change on retry either.
        permanent = 400 <= exc.status < 500 and exc.status != 429
        raise PublishError(f"{exc.status} {exc.text}", permanent=permanent, too_large=exc.status == 413) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PublishError(f"connection problem: {exc.__class__.__name__}", permanent=False) from exc
