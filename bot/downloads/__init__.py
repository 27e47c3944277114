"""Result downloads that cannot be turned against the bot: the edge implementation of `VideoSource`."""

from __future__ import annotations

from bot.downloads.fetcher import SafeVideoSource
from bot.downloads.policy import AddressPolicy

__all__ = ["AddressPolicy", "SafeVideoSource"]
