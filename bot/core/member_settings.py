"""A member's own defaults for `/video` (`/settings`): duration, aspect, mode, audio and delivery by direct
message, per server. Values are checked against the provider's capabilities when they are set, and
applied to the options a member leaves empty when they ask for a video.

A member only ever reads and changes their own settings: every method takes the acting member and
works on their row alone, so there is no one else's authority to check.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.core.clock import Clock
from bot.core.errors import InvalidRequest
from bot.core.jobs import Submission
from bot.core.messages import Choices, Message, english_names
from bot.core.moderation import Actor
from bot.core.ports.provider import Capabilities
from bot.core.ports.repositories import MemberSettings, MemberSettingsRepository

NOT_IN_A_SERVER_MESSAGE = Message("error.settings_not_in_server")
__getattr__ = english_names(__name__, {"NOT_IN_A_SERVER": NOT_IN_A_SERVER_MESSAGE})
FIELDS = ("duration", "aspect", "mode", "audio", "deliver_by_dm")


class MemberSettingsService:
    def __init__(self, repository: MemberSettingsRepository, capabilities: Capabilities, clock: Clock) -> None:
        self.repository = repository
        self.capabilities = capabilities
        self.clock = clock

    async def show(self, actor: Actor) -> MemberSettings:
        """The member's settings as they apply now: a default the provider no longer offers (the operator
        switched providers) shows, and works, as no default."""
        _in_a_server(actor)
        return self.usable(await self.repository.get(actor.guild_id, actor.user_id))

    async def change(self, actor: Actor, **changes: Any) -> MemberSettings:
        """Set some of the member's defaults (`duration`, `aspect`, `mode`, `audio`, `deliver_by_dm`; a value of
        None leaves that one as it is). Raises InvalidRequest, saving nothing, when a value is not one the
        provider offers. Returns the settings as they apply now."""
        _in_a_server(actor)
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise ValueError(f"not a member setting: {sorted(unknown)}")
        given = {name: value for name, value in changes.items() if value is not None}
        for name, value in given.items():
            self._check(name, value)
        current = self.usable(await self.repository.get(actor.guild_id, actor.user_id))
        updated = dataclasses.replace(current, **given)
        if given:
            await self.repository.save(updated, self.clock.now())
        return updated

    async def reset(self, actor: Actor) -> MemberSettings:
        """Forget the member's defaults: the provider's first choices apply again, videos come to the channel."""
        _in_a_server(actor)
        await self.repository.reset(actor.guild_id, actor.user_id)
        return MemberSettings(actor.guild_id, actor.user_id)

    async def apply(self, submission: Submission) -> Submission:
        """Fill the options the member left empty: their own default where they have one the provider offers,
        else the provider's first duration and aspect (the mode is left to the intake, which takes the
        provider's first). An option the member gave is never changed."""
        caps = self.capabilities
        wanted = self.usable(await self.repository.get(submission.guild_id, submission.user_id))
        return dataclasses.replace(
            submission,
            duration=submission.duration if submission.duration is not None else wanted.duration or caps.durations[0],
            aspect=submission.aspect or wanted.aspect or caps.aspects[0],
            mode=submission.mode or wanted.mode,
            audio=submission.audio if submission.audio is not None else bool(wanted.audio),
            deliver_by_dm=(submission.deliver_by_dm if submission.deliver_by_dm is not None
                           else wanted.deliver_by_dm),
        )

    def usable(self, settings: MemberSettings) -> MemberSettings:
        """`settings` without the defaults the current provider does not offer."""
        caps = self.capabilities
        return dataclasses.replace(
            settings,
            duration=settings.duration if settings.duration in caps.durations else None,
            aspect=settings.aspect if settings.aspect in caps.aspects else None,
            mode=settings.mode if settings.mode in caps.modes else None,
            audio=settings.audio if caps.audio else None,
        )

    def _check(self, name: str, value: Any) -> None:
        caps = self.capabilities
        if name == "duration" and value not in caps.durations:
            raise InvalidRequest("error.settings_duration", value=value, choices=Choices.of(caps.durations))
        if name == "aspect" and value not in caps.aspects:
            raise InvalidRequest("error.settings_aspect", value=value, choices=Choices.of(caps.aspects))
        if name == "mode" and value not in caps.modes:
            raise InvalidRequest("error.settings_mode", value=value, choices=Choices.of(caps.modes))
        if name == "audio" and value and not caps.audio:
            raise InvalidRequest("error.settings_audio")


def _in_a_server(actor: Actor) -> None:
    if not actor.guild_id:
        raise InvalidRequest(NOT_IN_A_SERVER_MESSAGE)
