"""Several real bot processes on one database, as an operator runs them to scale out: each its own child process
(tests/bot_process.py, or another entry module), its own HTTP listener and PUBLIC_BASE_URL, its own shards of
SHARD_COUNT, all pointed at one fake Discord and one fake provider that run in the test's process.

Process `i` of `n` runs shard `i` of `n` (SHARD_COUNT=n, SHARD_IDS=i) with a short LEASE_SECONDS, so a test can
SIGKILL the leader and watch another take over within seconds. Every wait here is bounded; `tails()` gives the
end of each child's log for a failure message (the fixture in tests/e2e/test_processes.py prints them when a
test ends, which pytest shows only for a failed test).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.discord import FakeDiscord
from tests.fakes.provider_base import FakeProviderServer
from tests.harness import free_port

ROOT = Path(__file__).resolve().parents[1]
LEASE_SECONDS = 3  # LEASE_SECONDS of the children: a dead leader is replaced within seconds, not half a minute
CALLBACK_SECRET = "test-callback-secret"  # one secret for all: a callback may reach any process
START_TIMEOUT = 45.0  # a child's start-up, on two cores shared with other test runs
STOP_TIMEOUT = 15.0
# Settings of the parent's environment that must not leak into a child: each child's come from here alone.
PARENT_ONLY = ("KLING", "RUNBLOB", "DISCORD", "DATABASE", "SHARD", "LEASE", "PUBLIC_BASE_URL", "HTTP_", "MEDIA_",
               "CALLBACK_", "DEV_GUILD", "ALLOWED_GUILD", "METRICS_TOKEN", "ALERT_")


@dataclass
class BotChild:
    """One bot process. `start` launches it, `wait_ready` waits for its /healthz to answer 200."""

    index: int
    port: int
    env: dict[str, str]
    log: Path
    module: str = "tests.bot_process"
    args: tuple[str, ...] = ()
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    stopped_at: float | None = None
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int:
        assert self.process is not None, "the process was never started"
        return self.process.pid

    async def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, *self.args, env=self.env, cwd=ROOT, stdout=log, stderr=log
            )
        self.started_at = time.monotonic()
        self.stopped_at = None

    async def get(self, path: str, timeout: float = 2.0) -> tuple[int, str] | None:
        """(status, body) of a GET on the child's listener; None when nothing answers (not up, or dead)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        try:
            async with self._session.get(self.url + path) as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def health(self) -> dict[str, Any] | None:
        """The child's /healthz as JSON (whatever its status code); None when it does not answer."""
        answer = await self.get("/healthz")
        if answer is None:
            return None
        try:
            body = json.loads(answer[1])
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def role(self) -> str | None:
        """What the child says it is in /healthz (`leader`, `follower`); None when it does not say or answer."""
        health = await self.health()
        role = health.get("role") if health else None
        return str(role) if role is not None else None

    async def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until /healthz answers 200 (database and every shard of the process connected)."""
        deadline = time.monotonic() + timeout
        while True:
            answer = await self.get("/healthz")
            if answer is not None and answer[0] == 200:
                return
            if not self.alive:
                raise RuntimeError(f"bot process {self.index} exited ({self._exit()}) before it was ready:\n"
                                   f"{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"bot process {self.index} was not ready within {timeout:.0f} s "
                                   f"(/healthz: {answer}):\n{self.tail()}")
            await asyncio.sleep(0.05)

    async def kill(self) -> float:
        """SIGKILL, as a crash or an OOM kill would: no shutdown code runs. Returns the moment it was sent."""
        assert self.process is not None, "the process was never started"
        sent = time.monotonic()
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), timeout=STOP_TIMEOUT)
        self.stopped_at = sent
        return sent

    async def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM (a graceful stop, drained first); SIGKILL if it is not gone within `timeout`. The exit code."""
        assert self.process is not None, "the process was never started"
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=timeout)
            except TimeoutError:
                self.process.send_signal(signal.SIGKILL)
                await asyncio.wait_for(self.process.wait(), timeout=STOP_TIMEOUT)
        self.stopped_at = self.stopped_at or time.monotonic()
        assert self.process.returncode is not None
        return self.process.returncode

    async def close(self) -> None:
        """Whatever state it is in: stopped, and its HTTP session closed."""
        if self.alive:
            await self.terminate(timeout=5)
        if self._session is not None:
            await self._session.close()

    def tail(self, chars: int = 4000) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text[-chars:]

    def _exit(self) -> str:
        code = self.process.returncode if self.process else None
        if code is not None and code < 0:
            return f"signal {-code}"
        return f"exit code {code}"


class BotProcesses:
    """`count` bot processes on one database: PostgreSQL at `database_url`, or (one process, for reference)
    SQLite in `folder`. Process i runs shard i of `count`, unless `shards` says otherwise (a list of SHARD_IDS,
    one per process). The provider is runblob at `provider` (a fake server); callbacks go to each process's own
    listener (PUBLIC_BASE_URL), as each process would be reached behind a proxy."""

    def __init__(self, discord: FakeDiscord | Mapping[str, str], provider: FakeProviderServer | Mapping[str, str],
                 folder: Path, *, count: int = 2, database_url: str | None = None, shard_count: int | None = None,
                 shards: list[str] | None = None, lease_seconds: int = LEASE_SECONDS,
                 module: str = "tests.bot_process", args: tuple[str, ...] = (), log_level: str = "INFO",
                 settings: Mapping[str, str] | None = None) -> None:
        if database_url is None and count > 1:
            raise ValueError("several processes share one database: PostgreSQL (database_url)")
        self.folder = folder
        discord_urls = _discord_urls(discord)
        provider_urls = _provider_urls(provider)
        shard_count = shard_count or count
        shards = shards or [str(index) for index in range(count)]
        inherited = {name: value for name, value in os.environ.items() if not name.startswith(PARENT_ONLY)}
        self.children: list[BotChild] = []
        for index in range(count):
            port = free_port()
            home = folder / f"bot{index}"
            env = {
                **inherited,
                "PYTHONPATH": str(ROOT),
                "FAKE_DISCORD_API": discord_urls["base_url"],
                "FAKE_DISCORD_GATEWAY": discord_urls["gateway_url"],
                "DISCORD_TOKEN": "fake-bot-token",
                "KLING_PROVIDER": "runblob",
                "RUNBLOB_API_KEY": provider_urls["api_key"],
                "RUNBLOB_BASE_URL": provider_urls["base_url"],
                "DATABASE_PATH": str(home / "bot.sqlite3"),  # with DATABASE_URL only its folder is used (work files)
                "MEDIA_DIR": str(folder / "media"),  # shared, as the processes of one installation share a volume
                "HTTP_HOST": "127.0.0.1",
                "HTTP_PORT": str(port),
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                "CALLBACK_SECRET": CALLBACK_SECRET,
                "SHARD_COUNT": str(shard_count),
                "SHARD_IDS": shards[index],
                "LEASE_SECONDS": str(lease_seconds),
                "DOWNLOAD_ALLOW_NETWORKS": "127.0.0.1/32",  # the fake serves its videos over plain http here
                "POLL_RATE_PER_MINUTE": "6000",  # the fake has no limit; runblob's 60 a minute would throttle a test
                "LOG_LEVEL": log_level,
                **{name.upper(): value for name, value in (settings or {}).items()},  # any setting, as in .env
            }
            if database_url is not None:
                env["DATABASE_URL"] = database_url
            self.children.append(BotChild(index, port, env, home / "bot.log", module=module, args=args))

    def __getitem__(self, index: int) -> BotChild:
        return self.children[index]

    def __iter__(self) -> Any:
        return iter(self.children)

    @property
    def alive(self) -> list[BotChild]:
        return [child for child in self.children if child.alive]

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start every process at once and wait until each one's /healthz answers 200."""
        for child in self.children:
            await child.start()
        await asyncio.gather(*(child.wait_ready(timeout) for child in self.children))

    async def roles(self) -> list[str | None]:
        """Each process's role from /healthz (None for a dead one)."""
        return list(await asyncio.gather(*(child.role() if child.alive else _none() for child in self.children)))

    async def wait_leader(self, timeout: float, *, among: list[BotChild] | None = None) -> BotChild:
        """Until exactly one live process says it leads; that one."""
        candidates = among or self.children
        deadline = time.monotonic() + timeout
        roles: list[str | None] = []
        while True:
            roles = list(await asyncio.gather(*(c.role() if c.alive else _none() for c in candidates)))
            leaders = [child for child, role in zip(candidates, roles, strict=True) if role == "leader"]
            if len(leaders) == 1:
                return leaders[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no single leader within {timeout:.0f} s (roles: {roles}):\n{self.tails()}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await asyncio.gather(*(child.close() for child in self.children), return_exceptions=True)

    def tails(self, chars: int = 4000) -> str:
        return "\n".join(f"----- bot process {child.index} (port {child.port}, {child.log}) -----\n"
                         f"{child.tail(chars)}" for child in self.children)


async def _none() -> None:
    return None


def _discord_urls(discord: FakeDiscord | Mapping[str, str]) -> dict[str, str]:
    if isinstance(discord, FakeDiscord):
        return {"base_url": discord.base_url, "gateway_url": discord.gateway_url}
    return {"base_url": discord["base_url"], "gateway_url": discord["gateway_url"]}


def _provider_urls(provider: FakeProviderServer | Mapping[str, str]) -> dict[str, str]:
    if isinstance(provider, FakeProviderServer):
        return {"base_url": provider.base_url, "api_key": provider.api_key}
    return {"base_url": provider["base_url"], "api_key": provider["api_key"]}

