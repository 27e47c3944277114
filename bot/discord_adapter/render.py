"""How jobs look in Discord: the status message, the result post, and the member's job list.

Prompts, negative prompts and failure reasons (which can quote the provider) are member or provider text:
always through `text.escape_clipped`, so they show as typed and never as formatting, links or mentions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import discord

from bot.core.engine import JobDetails
from bot.core.eta import QueueEntry, QueueSnapshot
from bot.core.models import DeliveryOutcome, Job, JobStatus
from bot.core.ports.provider import Capabilities
from bot.core.ports.publisher import Result
from bot.discord_adapter.text import MESSAGE_LIMIT, escape_clipped, inline_code, join_within, one_line

TITLES = {
    JobStatus.QUEUED: "⏳ Queued",
    JobStatus.SUBMITTED: "📨 Submitted to the provider",
    JobStatus.PROCESSING: "🎬 Generating",
    JobStatus.COMPLETED: "📦 Finished, posting it",
    JobStatus.DELIVERED: "✅ Done",
    JobStatus.FAILED: "❌ Failed",
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
    JobStatus.QUEUED: "Estimated start",
    JobStatus.SUBMITTED: "Estimated finish",
    JobStatus.PROCESSING: "Estimated finish",
}
DELIVERED_BY_DM_AS_ASKED = "Sent to the requester by direct message, as they asked in `/settings`."
SANDBOX_NOTE = "Sandbox: a simulated provider; the clip is a sample, not generated from your prompt."
# Escaped text runs longer than typed text; these keep an embed under Discord's 6,000 characters in all
# (prompt + negative prompt + reason + the bot's own short fields) and each part under its own limit.
PROMPT_SHOWN = 3000
FIELD_SHOWN = 1000
JOB_LINES_PROMPT = 80
JOB_LINES_REASON = 150
# How the engine words a cancelled job's reason (bot/core/engine.py): the bot's own mention of who cancelled,
# shown as a mention. No other reason starts so (provider text only ever follows the bot's own words).
CANCELLED_BY = re.compile(r"Cancelled by <@(?P<user>\d+)> ")


def reason_text(reason: str, limit: int) -> str:
    """A failure reason shown escaped (it can quote the provider), except the mention of who cancelled."""
    lead = CANCELLED_BY.match(reason)
    if lead is None:
        return escape_clipped(reason, limit)
    shown = f"Cancelled by <@{lead['user']}> "
    return shown + escape_clipped(reason[lead.end():], limit - len(shown))


def settings_line(job: Job) -> str:
    request = job.request
    parts = [f"{request.duration} s", request.aspect, request.mode]
    if request.audio:
        parts.append("audio")
    if request.image_urls:
        parts.append(f"{len(request.image_urls)} image(s)")
    return " · ".join(parts)


def status_embed(job: Job, *, queue_position: int | None = None, eta: datetime | None = None) -> discord.Embed:
    embed = discord.Embed(
        title=TITLES[job.status], colour=COLOURS[job.status],
        description=escape_clipped(job.request.prompt, PROMPT_SHOWN),
    )
    embed.add_field(name="Settings", value=settings_line(job), inline=True)
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>", inline=True)
    if job.status is JobStatus.QUEUED and queue_position is not None:
        embed.add_field(name="Queue position", value=str(queue_position), inline=True)
    if eta is not None and job.status in ETA_FIELDS:  # a relative time: Discord counts it down by itself
        embed.add_field(name=ETA_FIELDS[job.status], value=f"about {discord.utils.format_dt(eta, 'R')}", inline=True)
    if job.request.negative_prompt:
        embed.add_field(name="Avoid", value=escape_clipped(job.request.negative_prompt, FIELD_SHOWN), inline=False)
    if job.status is JobStatus.FAILED and job.last_error:
        embed.add_field(name="Why", value=reason_text(job.last_error, FIELD_SHOWN), inline=False)
    if job.status is JobStatus.DELIVERED and job.delivery_outcome is DeliveryOutcome.DIRECT_MESSAGE:
        embed.add_field(name="Delivery", value=(DELIVERED_BY_DM_AS_ASKED if job.deliver_by_dm
                                                else "Could not post here; the video was sent by direct message."))
    if job.status is JobStatus.DELIVERED and job.delivery_outcome is DeliveryOutcome.UNDELIVERABLE:
        embed.add_field(name="Delivery", value="The video could not be posted here or sent by direct message.")
    footer = f"Job {job.id} · {job.provider}"
    if job.provider == "sandbox":
        footer += f"\n{SANDBOX_NOTE}"
    embed.set_footer(text=footer)
    return embed


def direct_message_note(job: Job) -> str:
    """Why a result came by direct message: the member asked for it, or the channel refused it."""
    if job.deliver_by_dm:
        return "(You asked for your videos by direct message; change that with `/settings`.)"
    return "(I could not post it in the channel you asked in.)"


def result_content(job: Job, result: Result) -> str:
    lines = [f"<@{job.user_id}> your video is ready."]
    if result.link:
        lines.append(f"It is too large to attach here, so here is a link: {result.link}")
        if result.link_expires:
            lines.append("The provider's links expire (usually within a day): download it soon.")
    return "\n".join(lines)


def result_embed(job: Job) -> discord.Embed:
    embed = discord.Embed(colour=discord.Colour.green(), description=escape_clipped(job.request.prompt, PROMPT_SHOWN))
    embed.add_field(name="Settings", value=settings_line(job), inline=True)
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>", inline=True)
    footer = f"Job {job.id} · {job.provider}"
    if job.provider == "sandbox":
        footer += f"\n{SANDBOX_NOTE}"
    embed.set_footer(text=footer)
    return embed


def jobs_listing(jobs: list[Job]) -> str:
    if not jobs:
        return "You have no video jobs yet. Start one with `/video`."
    entries = []
    for job in jobs:
        when = discord.utils.format_dt(job.created_at, "R")
        prompt = escape_clipped(one_line(job.request.prompt), JOB_LINES_PROMPT)
        entry = f"`{job.id}` {TITLES[job.status]} · {settings_line(job)} · {when}\n> {prompt}"
        if job.status is JobStatus.FAILED and job.last_error:
            entry += f"\n> _{reason_text(one_line(job.last_error), JOB_LINES_REASON)}_"
        if job.result_message_id:
            entry += f"\n> https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.result_message_id}"
        entries.append(entry)
    return join_within(entries, MESSAGE_LIMIT, more=lambda left: f"…and {left} older job(s) not shown.")


# -- Details and /show ----------------------------------------------------------------------------------
LINE_FILE_NAME = "video-command.txt"
LINE_INTRO = "To make this video again, copy this line into the message box:"
LINE_TOO_LONG = ("The `/video` line that makes this video again is too long for one message, so it is in the "
                 "attached file: copy it from there.")
IMAGES_NOT_IN_LINE = "It started from {count} image(s), which a line of text cannot carry: attach them again."


@dataclass(frozen=True, slots=True)
class DetailsMessage:
    """The private Details answer: `content` with the `/video` line in a code block, or, when that would pass
    Discord's 2,000 characters, `line_file` holding the line (sent as a text file)."""

    content: str
    embed: discord.Embed
    line_file: str | None = None


def video_line(job: Job, caps: Capabilities) -> str:
    """The `/video` command that asks for the same video: every option `/video` has for it, in its order, so no
    default fills one in differently. Line breaks become spaces (the message box sends options on one line)."""
    request = job.request
    parts = [f"prompt:{one_line(request.prompt)}", f"duration:{request.duration}", f"aspect:{request.aspect}"]
    if len(caps.modes) > 1:
        parts.append(f"mode:{request.mode}")
    if caps.negative_prompt and request.negative_prompt:
        parts.append(f"negative_prompt:{one_line(request.negative_prompt)}")
    if caps.audio:  # said either way: left out, the member's own /settings default would apply
        parts.append(f"audio:{request.audio}")
    return "/video " + " ".join(parts)


def copyable(text: str) -> str:
    """`text` shown verbatim, to copy: a code block, or an inline code span when the text holds the block's own
    fence ("```"), which Discord would end the block at (a span's fence grows past any backticks in it).
    Nothing inside either is formatting, a link or a mention."""
    if "```" not in text:
        return f"```\n{text}\n```"
    return inline_code(text)


def details_message(details: JobDetails, caps: Capabilities) -> DetailsMessage:
    job = details.job
    line = video_line(job, caps)
    notes = [LINE_INTRO, copyable(line)]
    if job.request.image_urls:
        notes.append(IMAGES_NOT_IN_LINE.format(count=len(job.request.image_urls)))
    content = "\n".join(notes)
    line_file = None
    if len(content) > MESSAGE_LIMIT:
        content, line_file = "\n".join([LINE_TOO_LONG, *notes[2:]]), line + "\n"
    return DetailsMessage(content, details_embed(details), line_file)


def details_embed(details: JobDetails) -> discord.Embed:
    """Prompt, settings, cost, who, where and when. Sized like the status embed: the prompt and negative
    prompt at most PROMPT_SHOWN + FIELD_SHOWN, the rest short, so the whole stays under 6,000 characters."""
    job = details.job
    embed = discord.Embed(title=f"Details of job {job.id}", colour=COLOURS[job.status],
                          description=escape_clipped(job.request.prompt, PROMPT_SHOWN))
    if job.request.negative_prompt:
        embed.add_field(name="Avoid", value=escape_clipped(job.request.negative_prompt, FIELD_SHOWN), inline=False)
    embed.add_field(name="Settings", value=settings_line(job), inline=True)
    embed.add_field(name="Cost", value=f"{job.cost} credits", inline=True)
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>", inline=True)
    embed.add_field(name="Status", value=TITLES[job.status], inline=True)
    embed.add_field(name="Provider", value=job.provider, inline=True)
    embed.add_field(name="Job id", value=f"`{job.id}`", inline=True)
    embed.add_field(name="Timings", value=timings(details), inline=False)
    if job.status is JobStatus.FAILED and job.last_error:
        embed.add_field(name="Why", value=reason_text(job.last_error, FIELD_SHOWN), inline=False)
    if job.result_message_id and job.delivery_outcome in (DeliveryOutcome.ATTACHED, DeliveryOutcome.LINKED):
        embed.add_field(name="Posted", value=jump_url(job), inline=False)
    if job.provider == "sandbox":
        embed.set_footer(text=SANDBOX_NOTE)
    return embed


def timings(details: JobDetails) -> str:
    """Queued, submitted, completed, delivered (or failed): each when it happened (in the member's own time
    zone, as Discord shows timestamps) and how long after queueing."""
    job = details.job
    reached = {event.to_status: event.at for event in details.events if event.to_status is not None}
    steps: list[tuple[str, datetime | None]] = [
        ("Queued", job.created_at),
        ("Submitted", job.submitted_at or reached.get(JobStatus.SUBMITTED)),
        ("Completed", job.completed_at or reached.get(JobStatus.COMPLETED)),
        ("Delivered", reached.get(JobStatus.DELIVERED)),
        ("Failed", reached.get(JobStatus.FAILED)),
    ]
    lines = []
    for name, at in steps:
        if at is None:
            continue
        after = "" if name == "Queued" else f" (after {_duration((at - job.created_at).total_seconds())})"
        lines.append(f"{name}: {discord.utils.format_dt(at, 'f')}{after}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def jump_url(job: Job) -> str:
    return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.result_message_id}"


def show_content(job: Job, *, shown_by: int, video: str | None, original_exists: bool) -> str:
    """The text of a `/show` post: whose video, who showed it, where it was first posted, and the video's own
    link, which Discord plays inline."""
    whose = "their" if shown_by == job.user_id else f"<@{job.user_id}>'s"
    lines = [f"<@{shown_by}> shows {whose} video again."]
    if original_exists:
        lines.append(f"First posted here: {jump_url(job)}")
    else:
        lines.append("Its first post is no longer there, so only its details can be shown.")
    if video:
        lines.append(video)
    return "\n".join(lines)


def show_choice_name(job: Job) -> str:
    """How a job looks among `/show`'s suggestions (plain text, at most 100 characters)."""
    name = f"{job.id} · {settings_line(job)} · {one_line(job.request.prompt)}"
    return name if len(name) <= 100 else name[:99] + "…"


# -- /queue ---------------------------------------------------------------------------------------------
QUEUE_LISTED = 15  # waiting jobs listed by name before "…and N more" (the member's own are always listed)
QUEUE_EMPTY = "Nothing is being made or waiting right now: a `/video` starts at once."


def queue_text(snapshot: QueueSnapshot, *, guild_id: int, user_id: int) -> str:
    """`/queue` for one member: their own place first, then what is at the provider and what waits, in the order
    it will be sent, with estimated times as Discord relative timestamps (they count down by themselves).
    Other servers share the provider's slots, so their jobs are counted but not named."""
    if not snapshot.running and not snapshot.waiting:
        return QUEUE_EMPTY
    head = [_your_place(snapshot, guild_id, user_id)]
    foot = [_estimate_basis(snapshot)]
    running = [f"• {_whose(entry, guild_id, user_id)} · sent {_relative(entry.since)} · "
               f"done about {_relative(entry.estimate.finish)}" for entry in snapshot.running]
    listed = [entry for entry in snapshot.waiting
              if (entry.position or 0) <= QUEUE_LISTED or (entry.guild_id, entry.user_id) == (guild_id, user_id)]
    waiting = [f"{entry.position}. {_whose(entry, guild_id, user_id)} · queued {_relative(entry.since)} · "
               f"starts about {_relative(entry.estimate.start)} · done about {_relative(entry.estimate.finish)}"
               for entry in listed]
    if len(listed) < len(snapshot.waiting):
        waiting.append(f"…and {len(snapshot.waiting) - len(listed)} more waiting.")
    lists = [f"**At the provider** ({len(snapshot.running)} of {snapshot.slots} at a time)",
             *(running or ["• nothing right now"]),
             f"**Waiting** ({len(snapshot.waiting)})", *(waiting or ["• nobody"])]
    room = MESSAGE_LIMIT - sum(len(line) + 1 for line in (*head, *foot))
    return "\n".join([*head, join_within(lists, room, more=lambda left: f"…and {left} more line(s)."), *foot])


def _your_place(snapshot: QueueSnapshot, guild_id: int, user_id: int) -> str:
    mine = snapshot.of_member(guild_id, user_id)
    if not mine:
        return "You have no videos being made or waiting."
    parts = []
    for entry in mine:
        if entry.position is None:
            parts.append(f"at the provider, done about {_relative(entry.estimate.finish)}")
        else:
            parts.append(f"**#{entry.position}** in the queue, starts about {_relative(entry.estimate.start)}, "
                         f"done about {_relative(entry.estimate.finish)}")
    return "Your videos: " + "; ".join(parts) + "."


def _whose(entry: QueueEntry, guild_id: int, user_id: int) -> str:
    if entry.guild_id != guild_id:
        return "a member of another server"
    return "**you**" if entry.user_id == user_id else f"<@{entry.user_id}>"


def _estimate_basis(snapshot: QueueSnapshot) -> str:
    typical = snapshot.typical
    if typical.seconds is None:
        basis = "the provider's own timings (no video has finished here yet)"
    else:
        basis = f"the provider's last {typical.samples} videos (half took under {_span(typical.seconds)})"
    return f"-# Estimates come from {basis}, {snapshot.slots} at a time; they are a guide, not a promise."


def _relative(moment: datetime) -> str:
    return discord.utils.format_dt(moment, "R")


def _span(seconds: float) -> str:
    minutes, rest = divmod(max(0, round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes and rest else f"{minutes} min" if minutes else f"{rest} s"

