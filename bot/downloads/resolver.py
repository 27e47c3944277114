"""A DNS resolver that checks every address a name resolves to, at connect time.

aiohttp asks its resolver each time it opens a connection (the download sessions keep no DNS cache),
so a name that resolved to a public address for a check and to an internal one a moment later (DNS
rebinding) is refused at the moment it matters. Literal IP hosts never reach a resolver; the fetcher
checks those itself.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from aiohttp.abc import AbstractResolver, ResolveResult

from bot.core.ports.video_source import DownloadRefused
from bot.downloads.policy import IPAddress, parse_address


class GuardedResolver(AbstractResolver):
    """Resolves with `inner` and refuses the name if any address it gives is one `problem` objects to."""

    def __init__(self, inner: AbstractResolver, problem: Callable[[IPAddress], str | None]) -> None:
        self._inner = inner  # owned by whoever passed it (shared by the download sessions)
        self._problem = problem

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = parse_address(result["host"])
            problem = f"{result['host']} is not an address" if address is None else self._problem(address)
            if problem is not None:
                raise DownloadRefused(f"{host} resolves to {problem}")
        return results

    async def close(self) -> None:
        pass
