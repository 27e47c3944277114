"""The small interfaces the core talks through. Discord is one implementation of `Publisher`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from bot.core.models import Job


class PublishError(Exception):
    """Discord (or whatever publishes) refused. `permanent`: retrying the same target will not help
    (channel gone, permission missing); transient ones are retried with backoff."""

    def __init__(self, message: str, *, permanent: bool, too_large: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.too_large = too_large  # the attachment was over the upload limit after all


@dataclass(frozen=True, slots=True)
class Result:
    """What to post for a finished job: the file when it fits, else a link (and whether it expires)."""

    file: Path | None = None
    link: str | None = None
    link_expires: bool = False
    size_bytes: int | None = None


class Publisher(Protocol):
    async def show_status(self, job: Job, *, queue_position: int | None = None, eta: datetime | None = None) -> None:
        """Bring the job's public status message up to date (best effort; never raises). `eta`: the estimated
        start of a queued job, the estimated finish of a job at the provider (bot/core/eta.py)."""
        ...

    async def upload_limit(self, guild_id: int) -> int:
        """The largest file, in bytes, that may be attached in this guild."""
        ...

    async def post_result(self, job: Job, result: Result, *, nonce: str) -> int:
        """Post the finished video in the job's channel; returns the message id. Raises PublishError."""
        ...

    async def direct_message_result(self, job: Job, result: Result, *, nonce: str) -> int:
        """Send the result to the requester privately: what they asked for (`job.deliver_by_dm`), or the
        fallback when the channel refused; with `nonce`, like `post_result`. Raises PublishError."""
        ...
