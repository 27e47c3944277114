"""`/video`, `/jobs`, and the Re-roll and Remix buttons on finished videos.

The cog only translates between Discord and the job engine: it reads options, calls one engine method,
and renders the answer. `/video`'s options and choices come from the provider's capabilities.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.engine import JobNotStarted, ShowStatus
from bot.core.jobs import PROMPT_LIMIT, ImageInput, Submission
from bot.core.models import Job
from bot.core.ports.provider import Capabilities
from bot.discord_adapter import render
from bot.discord_adapter.allowed_guilds import AllowedServersOnly
from bot.discord_adapter.client import KlingBot, Services
from bot.discord_adapter.errors import NOT_REFUNDED, NOT_STARTED, answer_error, reply_privately

log = logging.getLogger(__name__)

IMAGE_OPTIONS = ("image", "image2", "image3", "image4", "image5")
Handler = Callable[[discord.Interaction, dict[str, Any]], Awaitable[None]]


def build_video_command(caps: Capabilities, handler: Handler) -> app_commands.Command[Any, ..., None]:
    """`/video` with exactly the options the provider supports."""

    async def video(interaction: discord.Interaction, **options: Any) -> None:
        await handler(interaction, options)

    Param = inspect.Parameter
    kind = Param.POSITIONAL_OR_KEYWORD
    params = [
        Param("interaction", kind, annotation=discord.Interaction),
        Param("prompt", kind, annotation=app_commands.Range[str, 1, PROMPT_LIMIT]),
        Param("duration", kind, annotation=int),
        Param("aspect", kind, annotation=str),
    ]
    descriptions = {
        "prompt": "What the video should show (up to 2,500 characters)",
        "duration": "Length of the video",
        "aspect": "Shape of the video",
    }
    choices: dict[str, list[app_commands.Choice[Any]]] = {
        "duration": [app_commands.Choice(name=f"{d} seconds", value=d) for d in caps.durations],
        "aspect": [app_commands.Choice(name=a, value=a) for a in caps.aspects],
    }
    if len(caps.modes) > 1:
        params.append(Param("mode", kind, annotation=str | None, default=None))
        descriptions["mode"] = "Quality (higher quality costs more credits)"
        choices["mode"] = [app_commands.Choice(name=caps.mode_labels.get(m, m), value=m) for m in caps.modes]
    if caps.negative_prompt:
        params.append(Param("negative_prompt", kind, annotation=app_commands.Range[str, 1, PROMPT_LIMIT] | None,
                            default=None))
        descriptions["negative_prompt"] = "What the video should avoid"
    if caps.audio:
        params.append(Param("audio", kind, annotation=bool | None, default=None))
        descriptions["audio"] = "Generate sound with the video"
    for index, name in enumerate(IMAGE_OPTIONS[: caps.max_images]):
        params.append(Param(name, kind, annotation=discord.Attachment | None, default=None))
        descriptions[name] = "Start from this image (image-to-video)" if index == 0 else "Another reference image"
    video.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    video = app_commands.describe(**descriptions)(video)
    video = app_commands.choices(**choices)(video)
    video = app_commands.guild_only()(video)
    return app_commands.Command(name="video", description="Generate a short AI video with Kling", callback=video)


def images_from(options: dict[str, Any]) -> tuple[ImageInput, ...]:
    attachments = [options[name] for name in IMAGE_OPTIONS if options.get(name) is not None]
    return tuple(ImageInput(a.url, a.content_type, a.size, a.filename) for a in attachments)


class VideoCog(commands.Cog):
    def __init__(self, bot: KlingBot) -> None:
        self.bot = bot
        self.services: Services = bot.services
        self.video_command = build_video_command(self.services.capabilities, self.video)
        self.services.publisher.view_factory = result_view

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.video_command)
        self.bot.add_dynamic_items(RerollButton, RemixButton)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command("video")
        self.bot.remove_dynamic_items(RerollButton, RemixButton)

    async def video(self, interaction: discord.Interaction, options: dict[str, Any]) -> None:
        submission = Submission(
            guild_id=interaction.guild_id or 0, channel_id=interaction.channel_id or 0, user_id=interaction.user.id,
            prompt=options["prompt"], duration=options["duration"], aspect=options["aspect"],
            mode=options.get("mode"), negative_prompt=options.get("negative_prompt"),
            audio=bool(options.get("audio")), images=images_from(options),
        )
        await start_job(self.services, interaction, submission)

    @app_commands.command(name="jobs", description="Your recent video jobs")
    @app_commands.guild_only()
    async def jobs(self, interaction: discord.Interaction) -> None:
        jobs = await self.services.engine.recent(interaction.guild_id or 0, interaction.user.id)
        await interaction.response.send_message(render.jobs_listing(jobs), ephemeral=True)


async def start_job(services: Services, interaction: discord.Interaction, submission: Submission) -> None:
    """Hand the submission to the engine, which accepts it (or refuses privately: nothing charged), has the
    public status message sent through `_send_status`, and only then queues it."""
    await _told_if_not_started(interaction, services.engine.submit(submission, _status_sender(interaction)))


def _status_sender(interaction: discord.Interaction) -> ShowStatus:
    return lambda job, position: _send_status(interaction, job, position)


async def _told_if_not_started(interaction: discord.Interaction, submitting: Awaitable[Job]) -> None:
    """A job whose status message Discord did not take is refunded and never reaches the provider; the
    member is told so."""
    try:
        await submitting
    except JobNotStarted as not_started:
        text = NOT_STARTED if not_started.refunded else NOT_REFUNDED.format(job_id=not_started.job.id)
        await reply_privately(interaction, text)


async def _send_status(interaction: discord.Interaction, job: Job, position: int | None) -> int | None:
    try:
        callback = await interaction.response.send_message(embed=render.status_embed(job, queue_position=position))
    except discord.HTTPException:
        # Discord may have posted it and lost only its answer (a retried request then reads "already
        # acknowledged"): if the message exists, the job goes ahead as usual.
        made = await _original_message(interaction)
        if made is None:
            raise
        return made.id
    return callback.message_id if callback is not None else None


async def _original_message(interaction: discord.Interaction) -> discord.InteractionMessage | None:
    try:
        return await interaction.original_response()
    except (discord.HTTPException, discord.ClientException):
        return None


def result_view(job: Job) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RerollButton(job.id))
    view.add_item(RemixButton(job.id))
    return view


class RerollButton(AllowedServersOnly, discord.ui.DynamicItem[discord.ui.Button[Any]],
                   template=r"kb:reroll:(?P<job_id>[0-9a-f]{16})"):
    """Same settings again, charged to whoever clicks. Persistent: the job is looked up in the database.
    Clicks from servers not on ALLOWED_GUILD_IDS are refused before the callback (AllowedServersOnly)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(discord.ui.Button(label="Re-roll", emoji="🎲", style=discord.ButtonStyle.secondary,
                                           custom_id=f"kb:reroll:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> RerollButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self._reroll(interaction)
        except Exception as error:
            await answer_error(interaction, error)

    async def _reroll(self, interaction: discord.Interaction) -> None:
        services: Services = interaction.client.services  # type: ignore[attr-defined]
        await _told_if_not_started(interaction, services.engine.resubmit(
            self.job_id, _status_sender(interaction), user_id=interaction.user.id,
            channel_id=interaction.channel_id or 0))


class RemixButton(AllowedServersOnly, discord.ui.DynamicItem[discord.ui.Button[Any]],
                  template=r"kb:remix:(?P<job_id>[0-9a-f]{16})"):
    """Opens a modal with the prompt prefilled; the new prompt runs with the same settings."""

    def __init__(self, job_id: str) -> None:
        super().__init__(discord.ui.Button(label="Remix", emoji="✏️", style=discord.ButtonStyle.secondary,
                                           custom_id=f"kb:remix:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> RemixButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            services: Services = interaction.client.services  # type: ignore[attr-defined]
            await interaction.response.send_modal(RemixModal(await services.engine.get(self.job_id)))
        except Exception as error:
            await answer_error(interaction, error)


class RemixModal(AllowedServersOnly, discord.ui.Modal, title="Remix this video"):
    prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
        label="Prompt", style=discord.TextStyle.paragraph, max_length=PROMPT_LIMIT, custom_id="prompt"
    )

    def __init__(self, job: Job) -> None:
        super().__init__(custom_id=f"kb:remixed:{job.id}")
        self.job = job
        self.prompt.default = job.request.prompt

    async def on_submit(self, interaction: discord.Interaction) -> None:
        services: Services = interaction.client.services  # type: ignore[attr-defined]
        await _told_if_not_started(interaction, services.engine.resubmit(
            self.job.id, _status_sender(interaction), user_id=interaction.user.id,
            channel_id=interaction.channel_id or self.job.channel_id, prompt=self.prompt.value))

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:  # type: ignore[override]
        await answer_error(interaction, error)


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(VideoCog(bot))
