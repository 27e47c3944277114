"""Which job the current code is handling, for the log.

`bind_job(job)` names the job once, where the bot starts handling it; every log line written inside,
however deep (provider calls, delivery, lifecycle, a Discord edit), then carries the job's id, guild, user
and provider: the edge's logging filter (bot/logs.py) reads `bound_fields()` and copies them onto the record.

It is a ContextVar, so asyncio copies it into every task created inside the `with` block and a task's
binding never reaches another task. A loop that handles many jobs binds inside each per-job task (or in a
`with` around one job's turn), and a task that outlives the job that created it and works for many jobs is
started in `unbound_context()`.

Why the standard library and not structlog: every line already goes through stdlib logging, including
discord.py's and aiohttp's, and structlog's context binding is this same ContextVar; it would add a
dependency and a second logging style without adding anything this needs.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

from bot.core.models import Job


@dataclass(frozen=True, slots=True)
class JobFields:
    """What every log line about a job names. Guild and user are None only where the caller knows the job's
    id alone (a callback for a job this run does not track)."""

    job_id: str
    guild_id: int | None = None
    user_id: int | None = None
    provider: str | None = None

    @classmethod
    def of(cls, job: Job) -> JobFields:
        return cls(job.id, job.guild_id, job.user_id, job.provider)

    def as_dict(self) -> dict[str, str | int]:
        fields = {"job_id": self.job_id, "guild_id": self.guild_id, "user_id": self.user_id,
                  "provider": self.provider}
        return {name: value for name, value in fields.items() if value is not None}


_bound: contextvars.ContextVar[JobFields | None] = contextvars.ContextVar("kling_bot_job", default=None)


@contextlib.contextmanager
def bind_job(job: Job | JobFields) -> Iterator[None]:
    """Name `job` on every log line written inside the block, and in every task started inside it."""
    token = _bound.set(job if isinstance(job, JobFields) else JobFields.of(job))
    try:
        yield
    finally:
        _bound.reset(token)


def bound_fields() -> dict[str, str | int]:
    """The bound job's fields ({} when no job is bound)."""
    fields = _bound.get()
    return fields.as_dict() if fields is not None else {}


def unbound_context() -> contextvars.Context:
    """A copy of the current context with no job bound, for a task started while handling one job that goes
    on to work for others (create_task(..., context=unbound_context()))."""
    context = contextvars.copy_context()
    context.run(_bound.set, None)
    return context
