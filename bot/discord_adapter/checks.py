"""Who is asking, in the core's terms, and the server-side moderator check for app commands.

Moderator commands also carry default member permissions, but a server can change those in its
Integrations settings, so every moderator command checks again here before it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.core.messages import Message
from bot.core.moderation import NOT_A_MODERATOR_MESSAGE, Actor

T = TypeVar("T")


def actor_of(interaction: discord.Interaction) -> Actor:
    roles = getattr(interaction.user, "roles", [])
    return Actor(
        guild_id=interaction.guild_id or 0, user_id=interaction.user.id, permissions=interaction.permissions.value,
        role_ids=frozenset(role.id for role in roles),
    )


class NotModerator(app_commands.CheckFailure):
    """Answered privately by the error handler with its message, in the member's language."""

    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


async def require_moderator(interaction: discord.Interaction) -> bool:
    """True for a moderator; raises NotModerator otherwise (a check failure the member sees)."""
    services: Any = getattr(interaction.client, "services", None)
    if interaction.guild_id is None or services is None or not await services.moderation.is_moderator(
        actor_of(interaction)
    ):
        raise NotModerator(NOT_A_MODERATOR_MESSAGE)
    return True


def moderator_only() -> Callable[[T], T]:
    """An app-command check: only moderators may run the command."""
    return app_commands.check(require_moderator)
