"""`/video`, `/jobs`, and the Re-roll and Remix buttons on finished videos.

The cog only translates between Discord and the job engine: it reads options, calls one engine method,
and renders the answer. `/video`'s options and choices come from the provider's capabilities.
"""

from __future__ import annotations

import inspect
import io
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.core.camera import camera_label
from bot.core.confirmations import PendingStart
from bot.core.engine import JobNotStarted, ShowStatus
from bot.core.jobs import PROMPT_LIMIT, ImageInput, Submission
from bot.core.models import Job, JobStatus
from bot.core.ports.provider import Capabilities
from bot.core.showing import not_showable
from bot.discord_adapter import render
from bot.discord_adapter.allowed_guilds import AllowedServersOnly
from bot.discord_adapter.bot_permissions import cannot_post_here
from bot.discord_adapter.built_commands import CommandOptions, Handler, server_command
from bot.discord_adapter.checks import actor_of
from bot.discord_adapter.client import KlingBot, Services
from bot.discord_adapter.errors import (
    NOT_REFUNDED_KEY,
    NOT_STARTED_KEY,
    START_FRAME_NOT_SHOWN_KEY,
    answer_error,
    reply_privately,
)
from bot.discord_adapter.modal_routes import FormValues, send_form
from bot.i18n import EN, Lang, interaction_guild_lang, interaction_lang
from cogs import confirm
from cogs.confirm import confirm_first

log = logging.getLogger(__name__)

IMAGE_OPTIONS = ("image", "image2", "image3", "image4", "image5")
SUGGESTED_JOBS = 25  # Discord shows at most 25 suggestions
LINK = re.compile(r"https?://\S+")  # the link a result post gives instead of an attachment


def build_video_command(caps: Capabilities, handler: Handler) -> app_commands.Command[Any, ..., None]:
    """`/video` with exactly the options the provider supports. Options left empty take the member's /settings
    default, else the provider's first choice."""
    options = CommandOptions()
    options.option("prompt", app_commands.Range[str, 1, PROMPT_LIMIT],
                "What the video should show (up to 2,500 characters)", required=True)
    options.option("duration", int | None, "Length of the video (empty: your /settings default)",
                [app_commands.Choice(name=locale_str(f"{d} seconds", key="choice.seconds", seconds=d), value=d)
                 for d in caps.durations])
    options.aspect_option(caps, "Shape of the video (empty: your /settings default)")
    options.mode_option(caps, "Quality (higher quality costs more credits)", lambda m: caps.mode_labels.get(m, m))
    if caps.negative_prompt:
        options.option("negative_prompt", app_commands.Range[str, 1, PROMPT_LIMIT] | None,
                       "What the video should avoid")
    options.audio_option(caps, "Generate sound with the video")
    for index, name in enumerate(IMAGE_OPTIONS[: caps.max_images]):
        options.option(name, discord.Attachment | None,
                    "Start from this image (image-to-video)" if index == 0 else "Another reference image")
    if caps.end_image:
        options.option("end_image", discord.Attachment | None, "End on this image (the last frame)")
    if caps.camera is not None:
        low, high = caps.camera.strengths
        options.option("camera", str | None, "A camera move",
                    [app_commands.Choice(name=camera_label(move), value=move) for move in caps.camera.moves])
        # The provider's range, in every language: the catalogue's texts take it as {low}, {high} and {default}.
        default = caps.camera.default_strength
        options.option("camera_strength", app_commands.Range[int, low, high] | None,
                       locale_str(f"How strong a simple camera move is, {low} to {high} (empty: {default})",
                                  low=low, high=high, default=default))
    return server_command("video", "Generate a short AI video with Kling", handler, options)


def images_from(options: dict[str, Any]) -> tuple[ImageInput, ...]:
    attachments = [options[name] for name in IMAGE_OPTIONS if options.get(name) is not None]
    return tuple(ImageInput(a.url, a.content_type, a.size, a.filename) for a in attachments)


def attachment_input(attachment: discord.Attachment | None) -> ImageInput | None:
    if attachment is None:
        return None
    return ImageInput(attachment.url, attachment.content_type, attachment.size, attachment.filename)


class VideoCog(commands.Cog):
    def __init__(self, bot: KlingBot) -> None:
        self.bot = bot
        self.services: Services = bot.services
        self.video_command = build_video_command(self.services.capabilities, self.video)
        self.services.publisher.view_factory = result_view
        self.services.publisher.status_view_factory = status_view

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.video_command)
        self.bot.add_dynamic_items(*BUTTONS, *confirm.BUTTONS)
        self.bot.modal_routes.add(REMIXED, remix_submitted)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command("video")
        self.bot.remove_dynamic_items(*BUTTONS, *confirm.BUTTONS)
        self.bot.modal_routes.remove(REMIXED)

    async def video(self, interaction: discord.Interaction, options: dict[str, Any]) -> None:
        submission = Submission(
            guild_id=interaction.guild_id or 0, channel_id=interaction.channel_id or 0, user_id=interaction.user.id,
            prompt=options["prompt"], duration=options.get("duration"), aspect=options.get("aspect"),
            mode=options.get("mode"), negative_prompt=options.get("negative_prompt"),
            audio=options.get("audio"), images=images_from(options),  # None: the member's default
            end_image=attachment_input(options.get("end_image")), camera=options.get("camera"),
            camera_strength=options.get("camera_strength"),
        )
        await start_job(self.services, interaction, submission)

    @app_commands.command(name="jobs", description="Your recent video jobs")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def jobs(self, interaction: discord.Interaction) -> None:
        jobs = await self.services.engine.recent(interaction.guild_id or 0, interaction.user.id)
        await interaction.response.send_message(render.jobs_listing(jobs, interaction_lang(interaction)),
                                                ephemeral=True)

    @app_commands.command(name="show", description="Post one of your finished videos here again")
    @app_commands.describe(job_id="The video's job id (suggested as you type; also in /jobs)")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def show(self, interaction: discord.Interaction, job_id: app_commands.Range[str, 1, 32]) -> None:
        job = await self.services.engine.show(job_id, actor_of(interaction))
        video, original_exists = await _original_video(interaction.client, job)
        lang = interaction_guild_lang(interaction)  # a public post: the server's language
        await interaction.response.send_message(
            render.show_content(job, shown_by=interaction.user.id, video=video, original_exists=original_exists,
                                lang=lang),
            embed=render.result_embed(job, lang), view=result_view(job, lang))

    @show.autocomplete("job_id")
    async def show_suggestions(self, interaction: discord.Interaction,
                               typed: str) -> list[app_commands.Choice[str]]:
        """The member's own finished videos, newest first, matching what they typed (in the id or prompt)."""
        jobs = await self.services.engine.recent(interaction.guild_id or 0, interaction.user.id, SUGGESTED_JOBS)
        typed, lang = typed.strip().lower(), interaction_lang(interaction)
        return [app_commands.Choice(name=render.show_choice_name(job, lang), value=job.id) for job in jobs
                if not_showable(job) is None
                and (typed in job.id or typed in job.request.prompt.lower())][:25]


async def _original_video(client: discord.Client, job: Job) -> tuple[str | None, bool]:
    """The video of a job's first post, read from that post (whose attachment links Discord signs afresh on
    every read, as they expire after about a day): an attachment's link, or the link the post gave. Also
    whether the post still exists."""
    channel = client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
    try:
        post = await channel.fetch_message(job.result_message_id or 0)
    except discord.NotFound:
        return None, False
    except discord.HTTPException as exc:
        log.info("job %s: could not read its first post for /show (%s)", job.id, exc)
        return None, True
    if post.attachments:
        return post.attachments[0].url, True
    links = LINK.findall(post.content)
    return (links[0] if links else None), True


async def start_job(services: Services, interaction: discord.Interaction, submission: Submission) -> None:
    """Hand the submission to the engine, which accepts it (or refuses privately: nothing charged), has the
    public status message sent through `_send_status`, and only then queues it. Above CONFIRM_ABOVE_CREDITS
    the member confirms the cost first (cogs/confirm.py), and Confirm comes back through `start_now`."""
    if not await confirm_first(services, interaction, PendingStart(submission.user_id, submission.channel_id,
                                                                   submission=submission)):
        await start_now(services, interaction, submission)


async def start_now(services: Services, interaction: discord.Interaction, submission: Submission) -> None:
    await _told_if_not_started(interaction, services.engine.submit(submission, _status_sender(interaction)))


async def rerun_now(services: Services, interaction: discord.Interaction, job_id: str, *,
                    prompt: str | None = None) -> None:
    """Re-roll (no `prompt`) or Remix an earlier job for whoever asked, after any cost preview."""
    await _told_if_not_started(interaction, services.engine.resubmit(
        job_id, _status_sender(interaction), user_id=interaction.user.id, channel_id=interaction.channel_id or 0,
        prompt=prompt))


async def rerun_job(services: Services, interaction: discord.Interaction, job_id: str, *,
                    prompt: str | None = None) -> None:
    start = PendingStart(interaction.user.id, interaction.channel_id or 0, rerun_of=job_id, prompt=prompt)
    if not await confirm_first(services, interaction, start):
        await rerun_now(services, interaction, job_id, prompt=prompt)


def _status_sender(interaction: discord.Interaction) -> ShowStatus:
    return lambda job, position, eta: _send_status(interaction, job, position, eta)


async def _told_if_not_started(interaction: discord.Interaction, submitting: Awaitable[Job]) -> None:
    """A job whose status message Discord did not take is refunded and never reaches the provider; the
    member is told so. Every start (/video, Re-roll, Remix) comes through here, so the bot's own permissions
    in the channel are checked here, once, before anything is charged: when they are missing, the submit is
    closed without ever running."""
    refusal = cannot_post_here(interaction)
    if refusal is not None:
        if inspect.iscoroutine(submitting):
            submitting.close()
        await reply_privately(interaction, refusal)
        return
    try:
        await submitting
    except JobNotStarted as not_started:
        lang = interaction_lang(interaction)
        if not not_started.refunded:
            text = lang.t(NOT_REFUNDED_KEY, job_id=not_started.job.id)
        else:
            text = lang.t(START_FRAME_NOT_SHOWN_KEY if not_started.start_frame else NOT_STARTED_KEY)
        await reply_privately(interaction, text)


async def _send_status(interaction: discord.Interaction, job: Job, position: int | None,
                       eta: datetime | None = None) -> int | None:
    try:
        lang = interaction_guild_lang(interaction)  # a public post: the server's language
        embed = render.status_embed(job, queue_position=position, eta=eta, lang=lang)
        callback = await interaction.response.send_message(embed=embed, **_status_view_of(job, lang))
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


def _status_view_of(job: Job, lang: Lang) -> dict[str, Any]:
    view = status_view(job, lang)
    return {} if view is None else {"view": view}


def status_view(job: Job, lang: Lang) -> discord.ui.View | None:
    """The status message's buttons: Cancel while the job waits in the queue, none once it moved on. `lang`:
    the server's, as for the message they sit on."""
    if job.status is not JobStatus.QUEUED:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id, lang))
    return view


# More buttons under a result, from other cogs (Continue: cogs/continue_clip.py): each gives its button for
# a job, labelled in a language, or None. Registered at cog load, removed at unload.
RESULT_BUTTONS: list[Callable[[Job, Lang], discord.ui.Item[Any] | None]] = []


def result_view(job: Job, lang: Lang) -> discord.ui.View:
    """The buttons under a result, in `lang`: the server's, as for the post they sit on."""
    view = discord.ui.View(timeout=None)
    view.add_item(RerollButton(job.id, lang))
    view.add_item(RemixButton(job.id, lang))
    view.add_item(DetailsButton(job.id, lang))
    for button_for in RESULT_BUTTONS:
        button = button_for(job, lang)
        if button is not None:
            view.add_item(button)
    return view


class CancelButton(AllowedServersOnly, discord.ui.DynamicItem[discord.ui.Button[Any]],
                   template=r"kb:cancel:(?P<job_id>[0-9a-f]{16})"):
    """Takes a queued job out of the queue, refunded (the engine decides who may, and says why not). The
    status message then shows who cancelled it, without the button."""

    def __init__(self, job_id: str, lang: Lang = EN) -> None:
        super().__init__(discord.ui.Button(label=lang.t("button.cancel"), emoji="✖️", style=discord.ButtonStyle.danger,
                                           custom_id=f"kb:cancel:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> CancelButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            services: Services = interaction.client.services  # type: ignore[attr-defined]
            cancelled = await services.engine.cancel(self.job_id, actor_of(interaction))
            # The click's answer is the status message itself, cancelled and without its button, at once (the
            # publisher's own edit of it says the same).
            await interaction.response.edit_message(
                embed=render.status_embed(cancelled, lang=interaction_guild_lang(interaction)), view=None)
        except Exception as error:
            await answer_error(interaction, error)


class DetailsButton(AllowedServersOnly, discord.ui.DynamicItem[discord.ui.Button[Any]],
                    template=r"kb:details:(?P<job_id>[0-9a-f]{16})"):
    """Privately: everything about the video, with the `/video` line that makes it again."""

    def __init__(self, job_id: str, lang: Lang = EN) -> None:
        super().__init__(discord.ui.Button(label=lang.t("button.details"), emoji="ℹ️",
                                           style=discord.ButtonStyle.secondary, custom_id=f"kb:details:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> DetailsButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            services: Services = interaction.client.services  # type: ignore[attr-defined]
            details = await services.engine.details(self.job_id, actor_of(interaction))
            message = render.details_message(details, services.capabilities, interaction_lang(interaction))
            extra: dict[str, Any] = {}
            if message.line_file is not None:
                extra["file"] = discord.File(io.BytesIO(message.line_file.encode()), render.LINE_FILE_NAME)
            await interaction.response.send_message(message.content, embed=message.embed, ephemeral=True, **extra)
        except Exception as error:
            await answer_error(interaction, error)


class RerollButton(AllowedServersOnly, discord.ui.DynamicItem[discord.ui.Button[Any]],
                   template=r"kb:reroll:(?P<job_id>[0-9a-f]{16})"):
    """Same settings again, charged to whoever clicks. Persistent: the job is looked up in the database.
    Clicks from servers not on ALLOWED_GUILD_IDS are refused before the callback (AllowedServersOnly)."""

    def __init__(self, job_id: str, lang: Lang = EN) -> None:
        super().__init__(discord.ui.Button(label=lang.t("button.reroll"), emoji="🎲",
                                           style=discord.ButtonStyle.secondary, custom_id=f"kb:reroll:{job_id}"))
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
        await rerun_job(services, interaction, self.job_id)


class RemixButton(AllowedServersOnly, discord.ui.DynamicItem[discord.ui.Button[Any]],
                  template=r"kb:remix:(?P<job_id>[0-9a-f]{16})"):
    """Opens a modal with the prompt prefilled; the new prompt runs with the same settings."""

    def __init__(self, job_id: str, lang: Lang = EN) -> None:
        super().__init__(discord.ui.Button(label=lang.t("button.remix"), emoji="✏️", style=discord.ButtonStyle.secondary,
                                           custom_id=f"kb:remix:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> RemixButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            services: Services = interaction.client.services  # type: ignore[attr-defined]
            await send_form(interaction, RemixModal(await services.engine.get(self.job_id),
                                                    interaction_lang(interaction)))
        except Exception as error:
            await answer_error(interaction, error)


REMIXED = r"kb:remixed:(?P<job_id>[0-9a-f]{16})"


class RemixModal(AllowedServersOnly, discord.ui.Modal):
    """The Remix form, prompt prefilled, in the language of the member who opens it. Its submission is answered
    by `remix_submitted`, routed by its custom id (bot/discord_adapter/modal_routes.py), so a form opened before
    a restart works after it."""

    def __init__(self, job: Job, lang: Lang = EN) -> None:
        super().__init__(title=lang.t("remix.form.title"), custom_id=f"kb:remixed:{job.id}")
        # A storyboard's prompt is its shots, edited as they were written.
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label=lang.t("remix.form.shots") if job.request.shots else lang.t("remix.form.prompt"),
            style=discord.TextStyle.paragraph, max_length=PROMPT_LIMIT, custom_id="prompt", default=job.request.prompt)
        self.add_item(self.prompt)


async def remix_submitted(interaction: discord.Interaction, match: re.Match[str], values: FormValues) -> None:
    services: Services = interaction.client.services  # type: ignore[attr-defined]
    prompt = values.get("prompt")
    await rerun_job(services, interaction, match["job_id"], prompt=prompt if isinstance(prompt, str) else "")


BUTTONS = (RerollButton, RemixButton, CancelButton, DetailsButton)


async def setup(bot: KlingBot) -> None:
    await bot.add_cog(VideoCog(bot))
