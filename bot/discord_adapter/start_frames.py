"""A Continue's start frame on its status message: the core's `StartFrames` (bot/core/ports/frames.py).

The frame is attached to the new job's public status message, so the member sees the picture the clip starts
from, and the attachment's link is what the provider is given. It is a Discord attachment like any image a
member attaches: when the job is re-rolled or remixed after the link expired, it is renewed the same way
(bot/discord_adapter/attachments.py). Edited with the bot's own token, so it works however the status message
was sent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import discord

from bot.core.models import Job
from bot.core.ports.frames import StartFrameNotShown

log = logging.getLogger(__name__)


def frame_file_name(job: Job) -> str:
    return f"start-frame-{job.parent_job_id or job.id}.png"


class DiscordStartFrames:
    """Implements `StartFrames`."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def show(self, job: Job, frame: Path) -> str:
        if job.status_message_id is None:
            raise StartFrameNotShown("the status message's id is not known")
        channel = self.client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        message = channel.get_partial_message(job.status_message_id)
        try:
            edited = await message.edit(attachments=[discord.File(frame, filename=frame_file_name(job))])
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise StartFrameNotShown(f"Discord did not take the start frame ({exc.__class__.__name__})") from exc
        if not edited.attachments:
            raise StartFrameNotShown("the edited status message holds no attachment")
        return edited.attachments[-1].url
