"""Renewing Discord attachment links (the core's `ImageLinks`, bot/core/ports/image_links.py).

Discord signs attachment links (`?ex=…&is=…&hm=…`) and its CDN refuses them after about a day, so an image
job re-rolled or remixed later would hand the provider a dead link. `POST /attachments/refresh-urls` gives
fresh signatures for the same files; discord.py 2.7 has no helper for it, so it is called through the
client's own HTTP client (its rate limits, retries and token), with `discord.http.Route`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import aiohttp
import discord
from discord.http import Route

from bot.core.ports.image_links import IMAGE_GONE_MESSAGE, IMAGE_NOT_REFRESHED, ImageUnavailable

log = logging.getLogger(__name__)

DISCORD_CDN_BASES = ("https://cdn.discordapp.com", "https://media.discordapp.net")
REFRESH_BATCH = 50  # links per request: a job has at most a handful


class DiscordAttachmentLinks:
    """Renews links on Discord's CDN (`cdn_bases`, scheme and host without a trailing slash); any other link
    (an image on another host) is returned as it is."""

    def __init__(self, client: discord.Client, cdn_bases: Iterable[str] = DISCORD_CDN_BASES) -> None:
        self.client = client
        self.cdn_bases = tuple(base.rstrip("/") + "/" for base in cdn_bases)

    def on_discord_cdn(self, url: str) -> bool:
        return url.startswith(self.cdn_bases)

    async def refresh(self, urls: tuple[str, ...]) -> tuple[str, ...]:
        wanted = list(dict.fromkeys(url for url in urls if self.on_discord_cdn(url)))
        if not wanted:
            return urls
        renewed: dict[str, str] = {}
        for start in range(0, len(wanted), REFRESH_BATCH):
            renewed.update(await self._refresh_batch(wanted[start:start + REFRESH_BATCH]))
        missing = [url for url in wanted if url not in renewed]
        if missing:
            log.info("Discord did not renew %d attachment link(s): the files are gone", len(missing))
            raise ImageUnavailable(IMAGE_GONE_MESSAGE)
        return tuple(renewed.get(url, url) for url in urls)

    async def _refresh_batch(self, urls: list[str]) -> dict[str, str]:
        try:
            answer: Any = await self.client.http.request(Route("POST", "/attachments/refresh-urls"),
                                                         json={"attachment_urls": urls})
        except discord.HTTPException as exc:
            log.warning("Discord refused to renew attachment links: %s %s", exc.status, exc.text)
            # 4xx: Discord will not renew these (deleted, not its files); 5xx: it may later.
            raise ImageUnavailable(IMAGE_GONE_MESSAGE if 400 <= exc.status < 500 and exc.status != 429
                                   else IMAGE_NOT_REFRESHED) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not reach Discord to renew attachment links (%s)", exc.__class__.__name__)
            raise ImageUnavailable(IMAGE_NOT_REFRESHED) from exc
        renewed: dict[str, str] = {}
        entries = answer.get("refreshed_urls") if isinstance(answer, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            original, fresh = entry.get("original"), entry.get("refreshed")
            # Only a link to Discord's own CDN is sent on to the provider in place of the stored one.
            if isinstance(original, str) and isinstance(fresh, str) and self.on_discord_cdn(fresh):
                renewed[original] = fresh
        return renewed
