"""How jobs look in Discord: the status message, the result post, and the member's job list.

Prompts, negative prompts and failure reasons (which can quote the provider) are member or provider text:
always through `text.escape_clipped`, so they show as typed and never as formatting, links or mentions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import discord

from bot.core.camera import camera_label
from bot.core.engine import JobDetails
from bot.core.eta import QueueEntry, QueueSnapshot
from bot.core.messages import Message
from bot.core.models import DeliveryOutcome, Job, JobStatus, VideoRequest
from bot.core.ports.provider import Capabilities
from bot.core.ports.publisher import Result
from bot.discord_adapter.text import MESSAGE_LIMIT, clip, escape_clipped, inline_code, join_within, one_line
from bot.i18n import EN, ENGLISH, Lang
from bot.i18n.commands import choice_text
from bot.i18n.failures import MENTIONS, failure_message

# Catalogue keys (bot/i18n/locales): the status message's title for each status.
TITLES = {
    JobStatus.QUEUED: "status.title.queued",
    JobStatus.SUBMITTED: "status.title.submitted",
    JobStatus.PROCESSING: "status.title.processing",
    JobStatus.COMPLETED: "status.title.completed",
    JobStatus.DELIVERED: "status.title.delivered",
    JobStatus.FAILED: "status.title.failed",
}
COLOURS = {
    JobStatus.QUEUED: discord.Colour.light_grey(),
    JobStatus.SUBMITTED: discord.Colour.blurple(),
    JobStatus.PROCESSING: discord.Colour.blurple(),
    JobStatus.COMPLETED: discord.Colour.green(),
    JobStatus.DELIVERED: discord.Colour.green(),
    JobStatus.FAILED: discord.Colour.red(),
}
# The estimate a status message shows (bot/core/eta.py): a queued job's start, a sent job's finish.
ETA_FIELDS = {
    JobStatus.QUEUED: "status.field.estimated_start",
    JobStatus.SUBMITTED: "status.field.estimated_finish",
    JobStatus.PROCESSING: "status.field.estimated_finish",
}
# Escaped text runs longer than typed text; these keep an embed under Discord's 6,000 characters in all
# (prompt + negative prompt + reason + the bot's own short fields) and each part under its own limit.
PROMPT_SHOWN = 3000
FIELD_SHOWN = 1000
JOB_LINES_PROMPT = 80
JOB_LINES_REASON = 150
# How the engine words a cancelled job's reason (bot/core/engine.py): the bot's own mention of who cancelled,
# shown as a mention. No other reason starts so (provider text only ever follows the bot's own words).
CANCELLED_BY = re.compile(r"Cancelled by <@(?P<user>\d+)> ")


def why_text(job: Job, limit: int, lang: Lang, *, single_line: bool = False) -> str:
    """A failed job's reason in `lang`: its stored message (`Job.failure`; for jobs failed before it was kept,
    read back from the stored English by bot/i18n/failures.py) shown with its parameters escaped, or, in English
    or when there is no message, the stored English text escaped as it is."""
    reason = job.last_error or ""
    message = (job.failure or failure_message(reason)) if lang.language != ENGLISH else None
    if message is None:
        return reason_text(one_line(reason) if single_line else reason, limit)
    params = {name: value if name in MENTIONS else _escaped(value) for name, value in message.params.items()}
    text = lang.render(Message(message.key, params))
    return clip(one_line(text) if single_line else text, limit)


def _escaped(value: object) -> object:
    return escape_clipped(value, FIELD_SHOWN) if isinstance(value, str) else value


def reason_text(reason: str, limit: int) -> str:
    """A failure reason shown escaped (it can quote the provider), except the mention of who cancelled."""
    lead = CANCELLED_BY.match(reason)
    if lead is None:
        return escape_clipped(reason, limit)
    shown = f"Cancelled by <@{lead['user']}> "
    return shown + escape_clipped(reason[lead.end():], limit - len(shown))


def settings_line(job: Job, lang: Lang = EN) -> str:
    request = job.request
    parts = [lang.t("settings_line.seconds", seconds=request.duration), request.aspect, request.mode]
    if request.audio:
        parts.append(lang.t("settings_line.audio"))
    if request.image_urls:
        parts.append(lang.t("settings_line.images", count=len(request.image_urls)))
    parts.extend(creative_parts(request, lang))
    return " · ".join(parts)


def creative_parts(request: VideoRequest, lang: Lang = EN) -> list[str]:
    """The creative options in a settings line: end image, camera move, storyboard."""
    parts = []
    if request.end_image_url:
        parts.append(lang.t("settings_line.end_image"))
    if request.camera is not None:
        move = choice_text(lang, camera_label(request.camera.name))
        parts.append(lang.t("settings_line.camera", move=move) if request.camera.strength is None
                     else lang.t("settings_line.camera_strength", move=move, strength=request.camera.strength))
    if request.shots:
        parts.append(lang.t("settings_line.storyboard", count=len(request.shots)))
    return parts


def status_embed(job: Job, *, queue_position: int | None = None, eta: datetime | None = None,
                 lang: Lang = EN) -> discord.Embed:
    """The public status message, in the server's language (`lang`)."""
    embed = discord.Embed(
        title=lang.t(TITLES[job.status]), colour=COLOURS[job.status],
        description=escape_clipped(job.request.prompt, PROMPT_SHOWN),
    )
    embed.add_field(name=lang.t("job.field.settings"), value=settings_line(job, lang), inline=True)
    embed.add_field(name=lang.t("job.field.requested_by"), value=f"<@{job.user_id}>", inline=True)
    if job.status is JobStatus.QUEUED and queue_position is not None:
        embed.add_field(name=lang.t("status.field.queue_position"), value=str(queue_position), inline=True)
    if eta is not None and job.status in ETA_FIELDS:  # a relative time: Discord counts it down by itself
        embed.add_field(name=lang.t(ETA_FIELDS[job.status]),
                        value=lang.t("status.about", time=discord.utils.format_dt(eta, "R")), inline=True)
    if job.request.negative_prompt:
        embed.add_field(name=lang.t("job.field.avoid"), value=escape_clipped(job.request.negative_prompt, FIELD_SHOWN),
                        inline=False)
    if job.status is JobStatus.FAILED and job.last_error:
        embed.add_field(name=lang.t("job.field.why"), value=why_text(job, FIELD_SHOWN, lang), inline=False)
    if job.status is JobStatus.DELIVERED and job.delivery_outcome is DeliveryOutcome.DIRECT_MESSAGE:
        embed.add_field(name=lang.t("status.field.delivery"), value=lang.t(
            "status.delivered_by_dm_as_asked" if job.deliver_by_dm else "status.delivered_by_dm_fallback"))
    if job.status is JobStatus.DELIVERED and job.delivery_outcome is DeliveryOutcome.UNDELIVERABLE:
        embed.add_field(name=lang.t("status.field.delivery"), value=lang.t("status.undeliverable"))
    embed.set_footer(text=_footer(job, lang))
    return embed


def _footer(job: Job, lang: Lang) -> str:
    footer = lang.t("job.footer", job_id=job.id, provider=job.provider)
    if job.provider == "sandbox":
        footer += "\n" + lang.t("job.sandbox_note")
    return footer


def direct_message_note(job: Job, lang: Lang = EN) -> str:
    """Why a result came by direct message: the member asked for it, or the channel refused it."""
    if job.deliver_by_dm:
        return lang.t("result.dm_note_asked")
    return lang.t("result.dm_note_fallback")


def result_content(job: Job, result: Result, lang: Lang = EN) -> str:
    lines = [lang.t("result.ready", mention=f"<@{job.user_id}>")]
    if result.link:
        lines.append(lang.t("result.link", link=result.link))
        if result.link_expires:
            lines.append(lang.t("result.link_expires"))
    return "\n".join(lines)


def result_embed(job: Job, lang: Lang = EN) -> discord.Embed:
    embed = discord.Embed(colour=discord.Colour.green(), description=escape_clipped(job.request.prompt, PROMPT_SHOWN))
    embed.add_field(name=lang.t("job.field.settings"), value=settings_line(job, lang), inline=True)
    embed.add_field(name=lang.t("job.field.requested_by"), value=f"<@{job.user_id}>", inline=True)
    embed.set_footer(text=_footer(job, lang))
    return embed


def jobs_listing(jobs: list[Job], lang: Lang = EN) -> str:
    """`/jobs`, in the member's language."""
    if not jobs:
        return lang.t("jobs.none")
    entries = []
    for job in jobs:
        when = discord.utils.format_dt(job.created_at, "R")
        prompt = escape_clipped(one_line(job.request.prompt), JOB_LINES_PROMPT)
        entry = f"`{job.id}` {lang.t(TITLES[job.status])} · {settings_line(job, lang)} · {when}\n> {prompt}"
        if job.status is JobStatus.FAILED and job.last_error:
            entry += f"\n> _{why_text(job, JOB_LINES_REASON, lang, single_line=True)}_"
        if job.result_message_id:
            entry += f"\n> https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.result_message_id}"
        entries.append(entry)
    return join_within(entries, MESSAGE_LIMIT, more=lambda left: lang.t("jobs.more", count=left))


# -- Details and /show ----------------------------------------------------------------------------------
LINE_FILE_NAME = "video-command.txt"


@dataclass(frozen=True, slots=True)
class DetailsMessage:
    """The private Details answer: `content` with the `/video` line in a code block, or, when that would pass
    Discord's 2,000 characters, `line_file` holding the line (sent as a text file)."""

    content: str
    embed: discord.Embed
    line_file: str | None = None


def video_line(job: Job, caps: Capabilities, lang: Lang = EN) -> str:
    """The `/video` command that asks for the same video: every option `/video` has for it, in its order, so no
    default fills one in differently. Line breaks become spaces (the message box sends options on one line).
    Command and option names as Discord shows them to a member reading `lang` (its command translations)."""
    request = job.request
    name = _option_names(lang, "video")
    parts = [f"{name('prompt')}:{one_line(request.prompt)}", f"{name('duration')}:{request.duration}",
             f"{name('aspect')}:{request.aspect}"]
    if len(caps.modes) > 1:
        parts.append(f"{name('mode')}:{request.mode}")
    if caps.negative_prompt and request.negative_prompt:
        parts.append(f"{name('negative_prompt')}:{one_line(request.negative_prompt)}")
    if caps.audio:  # said either way: left out, the member's own /settings default would apply
        parts.append(f"{name('audio')}:{request.audio}")
    if request.camera is not None:
        parts.append(f"{name('camera')}:{request.camera.name}")
        if request.camera.strength is not None:
            parts.append(f"{name('camera_strength')}:{request.camera.strength}")
    return f"/{lang.t('cmd.video.name')} " + " ".join(parts)


def storyboard_line(job: Job, caps: Capabilities, lang: Lang = EN) -> str:
    """The `/storyboard` command for a storyboard's settings (its shots go in the form it opens)."""
    request = job.request
    name = _option_names(lang, "storyboard")
    parts = [f"{name('aspect')}:{request.aspect}"]
    if len(caps.modes) > 1:
        parts.append(f"{name('mode')}:{request.mode}")
    if caps.audio:
        parts.append(f"{name('audio')}:{request.audio}")
    return f"/{lang.t('cmd.storyboard.name')} " + " ".join(parts)


def _option_names(lang: Lang, command: str) -> Callable[[str], str]:
    """An option's name as `lang`'s command translations give it (the catalogue's `cmd.<command>.option.*`)."""
    return lambda option: lang.t(f"cmd.{command}.option.{option}.name")


def copyable(text: str) -> str:
    """`text` shown verbatim, to copy: a code block, or an inline code span when the text holds the block's own
    fence ("```"), which Discord would end the block at (a span's fence grows past any backticks in it).
    Nothing inside either is formatting, a link or a mention."""
    if "```" not in text:
        return f"```\n{text}\n```"
    return inline_code(text)


def details_message(details: JobDetails, caps: Capabilities, lang: Lang = EN) -> DetailsMessage:
    """In the language of the member who asked (`lang`), the command line with the names their Discord shows."""
    job = details.job
    line = storyboard_line(job, caps, lang) if job.request.shots else video_line(job, caps, lang)
    notes = [lang.t("details.line_intro"), copyable(line)]
    if job.request.shots:
        notes += [lang.t("details.shots_intro"), copyable(job.request.prompt)]
    if job.request.image_urls:
        notes.append(lang.t("details.images_not_in_line", count=len(job.request.image_urls)))
    if job.request.end_image_url:
        notes.append(lang.t("details.end_image_not_in_line"))
    content = "\n".join(notes)
    line_file = None
    if len(content) > MESSAGE_LIMIT:
        if job.request.shots:  # the shots go in the file too, after the line
            line, shown = f"{line}\n\n{job.request.prompt}", notes[4:]
        else:
            shown = notes[2:]
        content, line_file = "\n".join([lang.t("details.line_too_long"), *shown]), line + "\n"
    return DetailsMessage(content, details_embed(details, lang), line_file)


def details_embed(details: JobDetails, lang: Lang = EN) -> discord.Embed:
    """Prompt, settings, cost, who, where and when. Sized like the status embed: the prompt and negative
    prompt at most PROMPT_SHOWN + FIELD_SHOWN, the rest short, so the whole stays under 6,000 characters."""
    job = details.job
    embed = discord.Embed(title=lang.t("details.title", job_id=job.id), colour=COLOURS[job.status],
                          description=escape_clipped(job.request.prompt, PROMPT_SHOWN))
    if job.request.negative_prompt:
        embed.add_field(name=lang.t("job.field.avoid"), value=escape_clipped(job.request.negative_prompt, FIELD_SHOWN),
                        inline=False)
    embed.add_field(name=lang.t("job.field.settings"), value=settings_line(job, lang), inline=True)
    embed.add_field(name=lang.t("details.field.cost"), value=lang.t("details.credits", cost=job.cost), inline=True)
    embed.add_field(name=lang.t("job.field.requested_by"), value=f"<@{job.user_id}>", inline=True)
    embed.add_field(name=lang.t("details.field.status"), value=lang.t(TITLES[job.status]), inline=True)
    embed.add_field(name=lang.t("details.field.provider"), value=job.provider, inline=True)
    embed.add_field(name=lang.t("details.field.job_id"), value=f"`{job.id}`", inline=True)
    embed.add_field(name=lang.t("details.field.timings"), value=timings(details, lang), inline=False)
    if job.status is JobStatus.FAILED and job.last_error:
        embed.add_field(name=lang.t("job.field.why"), value=why_text(job, FIELD_SHOWN, lang), inline=False)
    if job.result_message_id and job.delivery_outcome in (DeliveryOutcome.ATTACHED, DeliveryOutcome.LINKED):
        embed.add_field(name=lang.t("details.field.posted"), value=jump_url(job), inline=False)
    if job.provider == "sandbox":
        embed.set_footer(text=lang.t("job.sandbox_note"))
    return embed


def timings(details: JobDetails, lang: Lang = EN) -> str:
    """Queued, submitted, completed, delivered (or failed): each when it happened (in the member's own time
    zone, as Discord shows timestamps) and how long after queueing."""
    job = details.job
    reached = {event.to_status: event.at for event in details.events if event.to_status is not None}
    steps: list[tuple[str, datetime | None]] = [
        ("details.step.queued", job.created_at),
        ("details.step.submitted", job.submitted_at or reached.get(JobStatus.SUBMITTED)),
        ("details.step.completed", job.completed_at or reached.get(JobStatus.COMPLETED)),
        ("details.step.delivered", reached.get(JobStatus.DELIVERED)),
        ("details.step.failed", reached.get(JobStatus.FAILED)),
    ]
    lines = []
    for key, at in steps:
        if at is None:
            continue
        when = discord.utils.format_dt(at, "f")
        if key == "details.step.queued":
            lines.append(lang.t("details.timing", step=lang.t(key), when=when))
        else:
            lines.append(lang.t("details.timing_after", step=lang.t(key), when=when,
                                after=_duration((at - job.created_at).total_seconds(), lang)))
    return "\n".join(lines)


def _duration(seconds: float, lang: Lang = EN) -> str:
    seconds = max(0, round(seconds))
    minutes, rest = divmod(seconds, 60)
    return lang.t("time.minutes_seconds", minutes=minutes, seconds=rest) if minutes else lang.t(
        "time.seconds", seconds=rest)


def jump_url(job: Job) -> str:
    return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.result_message_id}"


def show_content(job: Job, *, shown_by: int, video: str | None, original_exists: bool, lang: Lang = EN) -> str:
    """The text of a `/show` post: whose video, who showed it, where it was first posted, and the video's own
    link, which Discord plays inline."""
    if shown_by == job.user_id:
        lines = [lang.t("show.own_again", shown_by=f"<@{shown_by}>")]
    else:
        lines = [lang.t("show.other_again", shown_by=f"<@{shown_by}>", owner=f"<@{job.user_id}>")]
    if original_exists:
        lines.append(lang.t("show.first_posted", link=jump_url(job)))
    else:
        lines.append(lang.t("show.first_post_gone"))
    if video:
        lines.append(video)
    return "\n".join(lines)


def show_choice_name(job: Job, lang: Lang = EN) -> str:
    """How a job looks among `/show`'s suggestions (plain text, at most 100 characters)."""
    name = f"{job.id} · {settings_line(job, lang)} · {one_line(job.request.prompt)}"
    return name if len(name) <= 100 else name[:99] + "…"


# -- /queue ---------------------------------------------------------------------------------------------
QUEUE_LISTED = 15  # waiting jobs listed by name before "…and N more" (the member's own are always listed)


def queue_text(snapshot: QueueSnapshot, *, guild_id: int, user_id: int, lang: Lang = EN) -> str:
    """`/queue` for one member: their own place first, then what is at the provider and what waits, in the order
    it will be sent, with estimated times as Discord relative timestamps (they count down by themselves).
    Other servers share the provider's slots, so their jobs are counted but not named."""
    if not snapshot.running and not snapshot.waiting:
        return lang.t("queue.empty")
    head = [_your_place(snapshot, guild_id, user_id, lang)]
    foot = [_estimate_basis(snapshot, lang)]
    running = [lang.t("queue.running", whose=_whose(entry, guild_id, user_id, lang), since=_relative(entry.since),
                      finish=_relative(entry.estimate.finish)) for entry in snapshot.running]
    listed = [entry for entry in snapshot.waiting
              if (entry.position or 0) <= QUEUE_LISTED or (entry.guild_id, entry.user_id) == (guild_id, user_id)]
    waiting = [lang.t("queue.waiting_entry", position=entry.position, whose=_whose(entry, guild_id, user_id, lang),
                      since=_relative(entry.since), start=_relative(entry.estimate.start),
                      finish=_relative(entry.estimate.finish))
               for entry in listed]
    if len(listed) < len(snapshot.waiting):
        waiting.append(lang.t("queue.more_waiting", count=len(snapshot.waiting) - len(listed)))
    lists = [lang.t("queue.at_provider", running=len(snapshot.running), slots=snapshot.slots),
             *(running or [lang.t("queue.nothing_running")]),
             lang.t("queue.waiting", count=len(snapshot.waiting)), *(waiting or [lang.t("queue.nobody_waiting")])]
    room = MESSAGE_LIMIT - sum(len(line) + 1 for line in (*head, *foot))
    return "\n".join([*head, join_within(lists, room, more=lambda left: lang.t("queue.more_lines", count=left)),
                      *foot])


def _your_place(snapshot: QueueSnapshot, guild_id: int, user_id: int, lang: Lang) -> str:
    mine = snapshot.of_member(guild_id, user_id)
    if not mine:
        return lang.t("queue.yours_none")
    parts = []
    for entry in mine:
        if entry.position is None:
            parts.append(lang.t("queue.yours_running", finish=_relative(entry.estimate.finish)))
        else:
            parts.append(lang.t("queue.yours_waiting", position=entry.position, start=_relative(entry.estimate.start),
                                finish=_relative(entry.estimate.finish)))
    return lang.t("queue.yours", parts=lang.t("queue.yours_separator").join(parts))


def _whose(entry: QueueEntry, guild_id: int, user_id: int, lang: Lang) -> str:
    if entry.guild_id != guild_id:
        return lang.t("queue.other_server")
    return lang.t("queue.you") if entry.user_id == user_id else f"<@{entry.user_id}>"


def _estimate_basis(snapshot: QueueSnapshot, lang: Lang) -> str:
    typical = snapshot.typical
    if typical.seconds is None:
        basis = lang.t("queue.basis_default")
    else:
        basis = lang.t("queue.basis_recent", samples=typical.samples, span=_span(typical.seconds, lang))
    return lang.t("queue.estimates", basis=basis, slots=snapshot.slots)


def _relative(moment: datetime) -> str:
    return discord.utils.format_dt(moment, "R")


def _span(seconds: float, lang: Lang) -> str:
    minutes, rest = divmod(max(0, round(seconds)), 60)
    if minutes and rest:
        return lang.t("time.minutes_seconds", minutes=minutes, seconds=rest)
    return lang.t("time.minutes", minutes=minutes) if minutes else lang.t("time.seconds", seconds=rest)
