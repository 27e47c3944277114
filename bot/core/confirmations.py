"""The cost preview (CONFIRM_ABOVE_CREDITS): before a job that costs more credits than that, the member is told
privately what it costs and what they have left after it, and nothing is charged or queued until they confirm.

What Confirm will start is held in the database under a random token (the buttons carry it), so a restart in
between loses nothing. Taking it removes it in one transaction: a second click (or a click on a copy of the
buttons) finds nothing and starts nothing, so nothing is ever charged twice. After `ttl` seconds it is
expired: the member is told to run the command again. Confirm goes through the engine's usual submit, which
checks everything again (credits, limits, rules may have changed meanwhile).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.core.clock import Clock
from bot.core.engine import JobEngine
from bot.core.errors import InvalidRequest
from bot.core.jobs import ImageInput, Submission
from bot.core.models import Shot
from bot.core.ports.confirmations import ConfirmationRepository, HeldStart
from bot.core.quotas import Period

CONFIRM_TTL_SECONDS = 600.0  # ten minutes to decide; the preview's numbers are stale after that anyway
FORGET_AFTER = timedelta(days=1)  # never-answered previews are removed this long after they were made
EXPIRED = "confirm.expired"  # "This confirmation has expired or was already used, ... Run the command again."


@dataclass(frozen=True, slots=True)
class CostPreview:
    cost: int
    available: int  # what the member could spend now: their own room, the pool's and the operator's ceilings
    period: Period
    submission: Submission  # with the member's /settings applied: what Confirm starts is what was priced

    @property
    def remaining_after(self) -> int:
        return max(0, self.available - self.cost)

    @property
    def fits(self) -> bool:
        return self.cost <= self.available


@dataclass(frozen=True, slots=True)
class PendingStart:
    """What Confirm starts: a new video (`submission`), or an earlier job again (`rerun_of`: Re-roll, or Remix
    with its new `prompt`) for `user_id` in `channel_id`."""

    user_id: int
    channel_id: int
    submission: Submission | None = None
    rerun_of: str | None = None
    prompt: str | None = None


class Confirmations:
    def __init__(self, *, store: ConfirmationRepository, engine: JobEngine, threshold: int, clock: Clock,
                 ttl: float = CONFIRM_TTL_SECONDS) -> None:
        self.store = store
        self.engine = engine
        self.threshold = threshold  # CONFIRM_ABOVE_CREDITS; 0: never ask
        self.clock = clock
        self.ttl = ttl

    async def preview(self, submission: Submission) -> CostPreview | None:
        """The preview to show before starting `submission`, or None when it needs no confirmation. Bad input
        raises here as it would at submit (InvalidRequest), before anything is held."""
        if not self.threshold:
            return None
        applied = await self.engine.member_settings.apply(submission)
        cost = self.engine.quotas.cost(self.engine.intake.build_request(applied))
        if cost <= self.threshold:
            return None
        balance = await self.engine.quotas.balance(submission.guild_id, submission.user_id)
        return CostPreview(cost, balance.available, balance.period, applied)

    async def preview_rerun(self, job_id: str, *, user_id: int, channel_id: int,
                            prompt: str | None = None) -> CostPreview | None:
        if not self.threshold:
            return None
        earlier = await self.engine.get(job_id)
        return await self.preview(self.engine.intake.resubmission(
            earlier, user_id=user_id, channel_id=channel_id or earlier.channel_id, prompt=prompt))

    async def hold(self, guild_id: int, start: PendingStart) -> str:
        """Keep `start` until Confirm; returns the token the buttons carry."""
        token = secrets.token_hex(8)
        now = self.clock.now()
        await self.store.hold(HeldStart(token, guild_id, start.user_id, _to_json(start), now),
                              forget_before=now - FORGET_AFTER)
        return token

    async def take(self, token: str, *, guild_id: int, user_id: int) -> PendingStart:
        """The start held under `token`, once: InvalidRequest (EXPIRED) when it is gone, too old, or someone
        else's (only the member who asked sees the buttons; a stranger's click must not start it either)."""
        held = await self.store.take(token)
        if held is None or held.guild_id != guild_id or held.user_id != user_id:
            raise InvalidRequest(EXPIRED)
        if (self.clock.now() - held.created_at).total_seconds() > self.ttl:
            raise InvalidRequest(EXPIRED)
        return _from_json(held.payload)

    async def drop(self, token: str) -> None:
        """Cancel: forget the held start."""
        await self.store.take(token)


# -- what is held, as JSON ------------------------------------------------------------------------------------
def _to_json(start: PendingStart) -> str:
    data: dict[str, Any] = {"user_id": start.user_id, "channel_id": start.channel_id, "rerun_of": start.rerun_of,
                            "prompt": start.prompt, "submission": None}
    if start.submission is not None:
        data["submission"] = dataclasses.asdict(start.submission)
    return json.dumps(data)


def _from_json(text: str) -> PendingStart:
    data = json.loads(text)
    submission = data.get("submission")
    return PendingStart(user_id=int(data["user_id"]), channel_id=int(data["channel_id"]),
                        submission=_submission(submission) if submission is not None else None,
                        rerun_of=data.get("rerun_of"), prompt=data.get("prompt"))


def _submission(fields: dict[str, Any]) -> Submission:
    """`dataclasses.asdict` turned tuples into lists and nested records into dicts: back again."""
    known = {field.name for field in dataclasses.fields(Submission)}
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in known:
            continue  # a field a newer or older bot wrote
        if name == "images":
            value = tuple(ImageInput(**image) for image in value)
        elif name == "end_image":
            value = ImageInput(**value) if value is not None else None
        elif name == "shots":
            value = tuple(Shot(**shot) for shot in value)
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return Submission(**values)
