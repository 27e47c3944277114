"""How jobs look in Discord: the status message, the result post, and the member's job list."""

from __future__ import annotations

import discord

from bot.core.models import DeliveryOutcome, Job, JobStatus
from bot.core.ports import Result

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


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        title=TITLES[job.status], colour=COLOURS[job.status], description=_clip(job.request.prompt, 1500)
    )
    embed.add_field(name="Settings", value=settings_line(job), inline=True)
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>", inline=True)
    if job.status is JobStatus.QUEUED and queue_position is not None:
        embed.add_field(name="Queue position", value=str(queue_position), inline=True)
    if job.request.negative_prompt:
        embed.add_field(name="Avoid", value=_clip(job.request.negative_prompt, 1000), inline=False)
    if job.status is JobStatus.FAILED and job.last_error:
        embed.add_field(name="Why", value=_clip(job.last_error, 1000), inline=False)
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
    embed = discord.Embed(colour=discord.Colour.green(), description=_clip(job.request.prompt, 3000))
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
    lines = []
    for job in jobs:
        when = discord.utils.format_dt(job.created_at, "R")
        line = f"`{job.id}` {TITLES[job.status]} · {settings_line(job)} · {when}\n> {_clip(job.request.prompt, 80)}"
        if job.status is JobStatus.FAILED and job.last_error:
            line += f"\n> _{_clip(job.last_error, 150)}_"
        if job.result_message_id:
            line += f"\n> https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.result_message_id}"
        lines.append(line)
    return _clip("\n".join(lines), 1900)
