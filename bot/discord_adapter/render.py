"""How jobs look in Discord: the status message, the result post, and the member's job list.

Prompts, negative prompts and failure reasons (which can quote the provider) are member or provider text:
always through `text.escape_clipped`, so they show as typed and never as formatting, links or mentions.
"""

from __future__ import annotations

import discord

from bot.core.models import DeliveryOutcome, Job, JobStatus
from bot.core.ports.publisher import Result
from bot.discord_adapter.text import MESSAGE_LIMIT, escape_clipped, join_within, one_line

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
SANDBOX_NOTE = "Sandbox: a simulated provider; the clip is a sample, not generated from your prompt."
# Escaped text runs longer than typed text; these keep an embed under Discord's 6,000 characters in all
# (prompt + negative prompt + reason + the bot's own short fields) and each part under its own limit.
PROMPT_SHOWN = 3000
FIELD_SHOWN = 1000
JOB_LINES_PROMPT = 80
JOB_LINES_REASON = 150


def settings_line(job: Job) -> str:
    request = job.request
    parts = [f"{request.duration} s", request.aspect, request.mode]
    if request.audio:
        parts.append("audio")
    if request.image_urls:
        parts.append(f"{len(request.image_urls)} image(s)")
    return " · ".join(parts)


def status_embed(job: Job, *, queue_position: int | None = None) -> discord.Embed:
    embed = discord.Embed(
        title=TITLES[job.status], colour=COLOURS[job.status],
        description=escape_clipped(job.request.prompt, PROMPT_SHOWN),
    )
    embed.add_field(name="Settings", value=settings_line(job), inline=True)
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>", inline=True)
    if job.status is JobStatus.QUEUED and queue_position is not None:
        embed.add_field(name="Queue position", value=str(queue_position), inline=True)
    if job.request.negative_prompt:
        embed.add_field(name="Avoid", value=escape_clipped(job.request.negative_prompt, FIELD_SHOWN), inline=False)
    if job.status is JobStatus.FAILED and job.last_error:
        embed.add_field(name="Why", value=escape_clipped(job.last_error, FIELD_SHOWN), inline=False)
    if job.status is JobStatus.DELIVERED and job.delivery_outcome is DeliveryOutcome.DIRECT_MESSAGE:
        embed.add_field(name="Delivery", value="Could not post here; the video was sent by direct message.")
    if job.status is JobStatus.DELIVERED and job.delivery_outcome is DeliveryOutcome.UNDELIVERABLE:
        embed.add_field(name="Delivery", value="The video could not be posted here or sent by direct message.")
    footer = f"Job {job.id} · {job.provider}"
    if job.provider == "sandbox":
        footer += f"\n{SANDBOX_NOTE}"
    embed.set_footer(text=footer)
    return embed


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
            entry += f"\n> _{escape_clipped(one_line(job.last_error), JOB_LINES_REASON)}_"
        if job.result_message_id:
            entry += f"\n> https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.result_message_id}"
        entries.append(entry)
    return join_within(entries, MESSAGE_LIMIT, more=lambda left: f"…and {left} older job(s) not shown.")
