"""Helper processes, so that what a benchmark measures in the bot's process is the bot's alone: the fake
runblob holding 10,000 jobs, the fake Discord receiving a 100 MB upload, the sender of thousands of
callbacks, and a static file server for a 100 MB video.

Children are spawned (not forked: the parent runs an event loop) and talk to the parent over a pipe:
their first message is a greeting, then they answer `{"cmd": ...}` requests until told to stop, the
pipe closes, or their lifetime runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.discord import FakeDiscord
from tests.fakes.provider_base import FakeJob
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, CHANNEL, GUILD

CHILD_LIFETIME = 600.0  # a child never outlives this, whatever happens to its parent
Handler = Callable[[dict[str, Any]], Awaitable[Any]]


# -- the fake runblob, instrumented -----------------------------------------------------------------
class CountingRunblob(FakeRunblob):
    """tests/fakes/runblob.py, plus: when each status call arrived, jobs that were created in a database
    rather than through the fake (`preload`), and finished videos served from elsewhere."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status_times: list[float] = []
        self.external_video_url: str | None = None

    async def _status(self, request: web.Request) -> web.Response:
        self.status_times.append(time.monotonic())
        return await super()._status(request)

    def preload(self, provider_job_ids: Sequence[str], state: str = "processing") -> None:
        now = time.monotonic()
        for provider_job_id in provider_job_ids:
            payload = {"prompt": "preloaded", "duration": "5", "model": "kling_o3"}
            self.jobs[provider_job_id] = FakeJob(provider_job_id, payload, state, now)

    def video_url(self, job_id: str) -> str:
        return self.external_video_url or super().video_url(job_id)


# -- the parent's side --------------------------------------------------------------------------------
class Child:
    """A spawned helper process. `await start()` waits for its greeting; `ask` sends a command."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self.process = context.Process(target=target, args=(child_end, *args), daemon=True)
        self.process.start()
        child_end.close()
        self.greeting: Any = None

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def _receive(self, timeout: float) -> Any:
        if not self._conn.poll(timeout):
            raise TimeoutError(f"helper process {self.pid} did not answer within {timeout:.0f} s")
        return self._conn.recv()

    async def start(self, timeout: float = 60) -> Any:
        self.greeting = await asyncio.to_thread(self._receive, timeout)
        return self.greeting

    async def ask(self, command: str, timeout: float = 60, **arguments: Any) -> Any:
        self._conn.send({"cmd": command, **arguments})
        return await asyncio.to_thread(self._receive, timeout)

    async def close(self, timeout: float = 10) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._conn.send({"cmd": "stop"})
        await asyncio.to_thread(self.process.join, timeout)
        if self.process.is_alive():
            self.process.terminate()
            await asyncio.to_thread(self.process.join, 5)
        self._conn.close()


# -- the child's side ---------------------------------------------------------------------------------
async def _serve_commands(conn: Connection, handlers: dict[str, Handler]) -> None:
    deadline = time.monotonic() + CHILD_LIFETIME
    while time.monotonic() < deadline:
        if not await asyncio.to_thread(conn.poll, 0.5):
            continue
        try:
            message = conn.recv()
        except EOFError:  # the parent went away
            return
        if message["cmd"] == "stop":
            return
        conn.send(await handlers[message["cmd"]](message))


def _rss_mb() -> float:
    from bench._common import rss_mb

    return rss_mb()


def runblob_child(conn: Connection, provider_job_ids: list[str], state: str) -> None:
    """A CountingRunblob that already knows `provider_job_ids` (in `state`)."""
    asyncio.run(_runblob_child(conn, provider_job_ids, state))


async def _runblob_child(conn: Connection, provider_job_ids: list[str], state: str) -> None:
    fake = CountingRunblob()
    await fake.start()
    fake.preload(provider_job_ids, state)
    conn.send({"base_url": fake.base_url, "api_key": fake.api_key})

    async def stats(_: dict[str, Any]) -> dict[str, Any]:
        return {"status_times": fake.status_times, "status_calls": fake.status_calls,
                "submit_calls": fake.submit_calls, "rss_mb": _rss_mb()}

    try:
        await _serve_commands(conn, {"stats": stats})
    finally:
        await fake.close()


def discord_child(conn: Connection, premium_tier: int, member_count: int = 0) -> None:
    """The fake Discord of the tests, with the harness's guild, channels and members (and `member_count`
    more). Commands: "posts" (the bot's messages in the channel) and "burst" (fire /video commands)."""
    asyncio.run(_discord_child(conn, premium_tier, member_count))


def video_options(prompt: str) -> list[dict[str, Any]]:
    """`/video` options in wire form, as BotHarness.video sends them."""
    return [{"name": "prompt", "type": 3, "value": prompt}, {"name": "duration", "type": 4, "value": 5},
            {"name": "aspect", "type": 3, "value": "16:9"}]


async def _discord_child(conn: Connection, premium_tier: int, member_count: int) -> None:
    from bench._common import members

    fake = FakeDiscord(token="fake-bot-token")
    await fake.start()
    fake.add_guild(GUILD, name="Bench Club", premium_tier=premium_tier)
    fake.add_channel(GUILD, CHANNEL, "general")
    fake.add_member(GUILD, ALICE, "alice")
    fake.add_member(GUILD, BOB, "bob")
    for index, member in enumerate(members(member_count)):
        fake.add_member(GUILD, member, f"member{index}")
    conn.send({"base_url": fake.base_url, "gateway_url": fake.gateway_url})

    async def burst(message: dict[str, Any]) -> dict[str, Any]:
        """Dispatch one /video per user at once; answer each one's (latency, flags, had errors)."""
        started = time.monotonic()
        interactions = await asyncio.gather(*(
            fake.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=user, name="video",
                                    options=video_options(f"{message['label']}: a lighthouse in a storm, shot {n}"))
            for n, user in enumerate(message["users"])
        ))
        await asyncio.gather(*(i.wait_response(message["timeout_each"]) for i in interactions), return_exceptions=True)
        answers = [(i.response_latency, int((i.response or {}).get("data", {}).get("flags") or 0)
                    if i.response else None, bool(i.errors)) for i in interactions]
        return {"answers": answers, "wall": time.monotonic() - started}

    async def posts(_: dict[str, Any]) -> dict[str, Any]:
        messages = [
            {"content": m.get("content") or "", "attachments": [(a["filename"], a["size"]) for a in m["attachments"]]}
            for m in fake.messages.get(CHANNEL, []) if m.get("author", {}).get("bot")
        ]
        return {"messages": messages, "rss_mb": _rss_mb(), "internal_errors": [repr(e) for e in fake.internal_errors]}

    try:
        await _serve_commands(conn, {"posts": posts, "burst": burst})
    finally:
        await fake.close()


@contextlib.contextmanager
def discord_py_pointed_at(base_url: str, gateway_url: str) -> Iterator[None]:
    """What FakeDiscord.point_discord_py does, for a fake running in another process (upload-limit
    overrides are not carried over: use a guild's premium tier instead)."""
    import discord.gateway
    import discord.http
    import yarl

    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


def callback_sender_child(conn: Connection, requests: list[tuple[str, bytes]], concurrency: int) -> None:
    """Posts every (url, JSON body) as fast as a pool of `concurrency` connections allows, on "go"."""
    asyncio.run(_callback_sender_child(conn, requests, concurrency))


async def _callback_sender_child(conn: Connection, requests: list[tuple[str, bytes]], concurrency: int) -> None:
    conn.send({"ready": len(requests)})

    async def go(_: dict[str, Any]) -> dict[str, Any]:
        statuses: Counter[int] = Counter()
        queue = iter(requests)
        connector = aiohttp.TCPConnector(limit=concurrency)
        headers = {"Content-Type": "application/json"}
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def worker() -> None:
                for url, body in queue:  # the workers share one iterator: each request is sent once
                    try:
                        async with session.post(url, data=body, headers=headers) as response:
                            await response.read()
                            statuses[response.status] += 1
                    except (aiohttp.ClientError, TimeoutError):
                        statuses[0] += 1

            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            finished = time.monotonic()
        return {"started": started, "finished": finished, "statuses": dict(statuses)}

    await _serve_commands(conn, {"go": go})


# -- a static file server -------------------------------------------------------------------------------
@contextlib.contextmanager
def static_file_server(folder: Path) -> Iterator[tuple[str, int]]:
    """`python -m http.server` on 127.0.0.1 serving `folder`; yields (base URL, pid)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the static file server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
