"""Downloads a provider's finished video, only from where videos live.

Every hop is checked: the scheme (https; plain http only to DOWNLOAD_ALLOW_NETWORKS), the address it
connects to (at connect time, by the sessions' resolver; literal IP hosts here), at most three
redirects followed by hand, and the first bytes must be a video container. The sessions are the bot's
own for downloads: no cookies, no proxy from the environment, no DNS cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
from aiohttp import hdrs
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from yarl import URL

from bot.core.ports.video_source import DownloadFailed, DownloadRefused, NotAVideo, TooLarge
from bot.downloads.policy import AddressPolicy, IPAddress, parse_address
from bot.downloads.resolver import GuardedResolver
from bot.downloads.sniff import HEAD_BYTES, looks_like_video

DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=600, sock_connect=15, sock_read=60)
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 256 * 1024
# Dotted or plain numbers that are not a canonical address ("127.1", "2130706433", "0x7f.0.0.1"): some
# libraries read them as addresses, so they are refused rather than guessed at.
LEGACY_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)


class SafeVideoSource:
    """The bot's `VideoSource`. `local_files` maps a URL to a file that is read instead of fetched (the
    sandbox's clip, which its own listener serves on loopback)."""

    def __init__(self, policy: AddressPolicy, *, local_files: Mapping[str, Path] | None = None,
                 resolver: AbstractResolver | None = None, timeout: aiohttp.ClientTimeout = DOWNLOAD_TIMEOUT,
                 max_redirects: int = MAX_REDIRECTS) -> None:
        self.policy = policy
        self.local_files = dict(local_files or {})
        self.max_redirects = max_redirects
        self._resolver = resolver or DefaultResolver()
        self._secure = _session(GuardedResolver(self._resolver, policy.secure_problem), timeout)
        self._plain = _session(GuardedResolver(self._resolver, policy.plain_problem), timeout)

    async def fetch(self, url: str, target: Path, limit: int) -> int:
        local = self.local_files.get(url)
        if local is not None:
            return await asyncio.to_thread(_copy_local, local, target, limit)
        async with self._open(url) as (host, response):
            head = await _read_head(host, response)
            if response.content_length is not None and response.content_length > limit:
                raise TooLarge
            return await _save(head, response, target, limit)

    async def check(self, url: str) -> None:
        if url in self.local_files:
            return
        async with self._open(url) as (host, response):
            await _read_head(host, response)

    async def close(self) -> None:
        await self._secure.close()
        await self._plain.close()
        await self._resolver.close()

    @contextlib.asynccontextmanager
    async def _open(self, url: str) -> AsyncIterator[tuple[str, aiohttp.ClientResponse]]:
        """The final response after checked redirects (status 200), with the host that sent it."""
        current = _parse(url)
        for _ in range(self.max_redirects + 1):
            session, host = self._session_for(current)
            try:
                response = await session.get(current, allow_redirects=False)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise DownloadFailed(f"{host}: {_describe(exc)}") from exc
            try:
                if response.status in REDIRECT_STATUSES:
                    current = _redirect_target(host, current, response)
                    continue
                if response.status != 200:
                    raise DownloadFailed(f"{host} answered HTTP {response.status}")
                try:
                    yield host, response
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise DownloadFailed(f"{host}: {_describe(exc)}") from exc
                return
            finally:
                response.close()  # never reused: a body read only in part must not linger in a pool
        raise DownloadRefused(f"the link redirected more than {self.max_redirects} times")

    def _session_for(self, url: URL) -> tuple[aiohttp.ClientSession, str]:
        """The session for this hop (https or plain), after the checks that need no connection."""
        scheme = url.scheme.lower()
        if scheme not in ("https", "http"):
            raise DownloadRefused(f"the link uses the {scheme or 'missing'} scheme; only https is downloaded")
        host = url.host
        if not host:
            raise DownloadRefused("the link has no host")
        secure = scheme == "https"
        address = parse_address(host)
        if address is None and LEGACY_NUMERIC_HOST.match(host):
            raise DownloadRefused(f"{host} is a number, not a host name or a canonical address")
        if address is not None:
            problem = self._problem(address, secure)
            if problem is not None:
                raise DownloadRefused(problem)
        return (self._secure if secure else self._plain), host

    def _problem(self, address: IPAddress, secure: bool) -> str | None:
        return self.policy.secure_problem(address) if secure else self.policy.plain_problem(address)


def _session(resolver: AbstractResolver, timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(),
                                 trust_env=False)


def _parse(url: str) -> URL:
    try:
        return URL(url)
    except (ValueError, TypeError) as exc:
        raise DownloadRefused("the link cannot be read as a URL") from exc


def _redirect_target(host: str, current: URL, response: aiohttp.ClientResponse) -> URL:
    location = response.headers.get(hdrs.LOCATION)
    if not location:
        raise DownloadFailed(f"{host} answered HTTP {response.status} without a Location")
    try:
        return current.join(URL(location))
    except (ValueError, TypeError) as exc:
        raise DownloadRefused(f"{host} redirected to something that is not a URL") from exc


async def _read_head(host: str, response: aiohttp.ClientResponse) -> bytes:
    head = b""
    while len(head) < HEAD_BYTES:
        chunk = await response.content.read(HEAD_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    if not looks_like_video(head):
        kind = response.headers.get(hdrs.CONTENT_TYPE, "no content type")[:80]
        raise NotAVideo(f"{host} did not send a video ({kind})")
    return head


async def _save(head: bytes, response: aiohttp.ClientResponse, target: Path, limit: int) -> int:
    """Stream the rest of the body after `head` into `target`; TooLarge as soon as it passes `limit`."""
    written = len(head)
    if written > limit:
        raise TooLarge
    with target.open("wb") as file:
        file.write(head)
        async for chunk in response.content.iter_chunked(CHUNK):
            written += len(chunk)
            if written > limit:
                raise TooLarge
            file.write(chunk)
    return written


def _copy_local(source: Path, target: Path, limit: int) -> int:
    with source.open("rb") as reader:
        head = reader.read(HEAD_BYTES)
        if not looks_like_video(head):
            raise NotAVideo(f"{source.name} is not a video")
        size = source.stat().st_size
        if size > limit:
            raise TooLarge
        with target.open("wb") as writer:
            writer.write(head)
            shutil.copyfileobj(reader, writer, CHUNK)
    return size


def _describe(error: BaseException) -> str:
    """A short description that does not repeat the URL (it may carry a signature)."""
    if isinstance(error, aiohttp.ClientResponseError):
        return f"HTTP {error.status}"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect ({error.os_error.strerror or error.os_error.__class__.__name__})"
    return error.__class__.__name__
