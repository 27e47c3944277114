"""Links to a member's images that last: what the core asks before sending an earlier job's images again.

Discord signs its attachment links and they stop working after about a day, so a Re-roll or Remix of an
image job asks for links that work now. The Discord adapter implements this (bot/discord_adapter/
attachments.py); links it does not manage come back unchanged.
"""

from __future__ import annotations

from typing import Protocol

from bot.core.errors import InvalidRequest
from bot.core.messages import Message, english_names

IMAGE_GONE_MESSAGE = Message("error.image_gone")
IMAGE_NOT_REFRESHED = Message("error.image_not_refreshed")
__getattr__ = english_names(__name__, {"IMAGE_GONE": IMAGE_GONE_MESSAGE})


class ImageUnavailable(InvalidRequest):
    """An image could not be had at a working link: shown to the member, nothing charged."""


class ImageLinks(Protocol):
    async def refresh(self, urls: tuple[str, ...]) -> tuple[str, ...]:
        """The same images, in the same order, at links that work now. Raises ImageUnavailable."""
        ...
