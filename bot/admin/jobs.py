"""`kling-bot jobs`: recent jobs as a plain-text table, newest first, with filters."""

from __future__ import annotations

from bot.admin.database import existing_stores
from bot.admin.output import clip, table, when
from bot.config import Settings
from bot.core.models import Job
from storage.admin import JobFilter

ERROR_WIDTH = 60
HEADERS = ("id", "status", "guild", "user", "created (UTC)", "video", "provider", "last error")


async def run(settings: Settings, wanted: JobFilter) -> int:
    async with existing_stores(settings) as stores:
        jobs = await stores.admin.jobs(wanted)
    if not jobs:
        print("no jobs match")
        return 0
    print(table(HEADERS, [row(job) for job in jobs]))
    if len(jobs) == wanted.limit:
        print(f"(the newest {wanted.limit}; --limit N shows more)")
    return 0


def row(job: Job) -> tuple[str, ...]:
    video = f"{job.request.duration}s {job.request.mode}"
    return (job.id, job.status.value, str(job.guild_id), str(job.user_id), when(job.created_at), video,
            job.provider, clip(job.last_error, ERROR_WIDTH))
