"""Where a start waiting for the member's Confirm is kept (CONFIRM_ABOVE_CREDITS): storage/confirmations.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class HeldStart:
    token: str
    guild_id: int
    user_id: int
    payload: str  # JSON, written and read by bot/core/confirmations.py
    created_at: datetime


class ConfirmationRepository(Protocol):
    async def hold(self, held: HeldStart, *, forget_before: datetime) -> None:
        """Keep `held`; those created before `forget_before` (long expired) are removed in the same step."""
        ...

    async def take(self, token: str) -> HeldStart | None:
        """The start under `token`, removed in the same transaction: only one caller ever gets it."""
        ...
