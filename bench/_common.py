"""What the benchmarks share: the machine line, memory readings, percentiles, the fake Discord world,
seeding a database with jobs, and printing figures in a form `python -m bench` can collect."""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import logging
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core.models import JobStatus
from storage.database import Database
from tests.fakes.discord import FakeDiscord
from tests.harness import ALICE, BOB, CHANNEL, GUILD, OTHER_CHANNEL

MiB = 1024 * 1024
FIRST_MEMBER = 820000000000000000  # members the benchmarks add, beyond the harness's ALICE and BOB


# -- the machine ------------------------------------------------------------------------------------
def cpu_count() -> int:
    """What `nproc` prints: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    return f"{cpu_count()} × {cpu_model()}, Python {platform.python_version()}"


def code_version() -> str:
    """The commit measured, and whether the working tree (outside bench/) had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        changes = subprocess.run(["git", "status", "--porcelain", "--", ".", ":!bench"], cwd=root,
                                 capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown commit"
    return f"commit {commit or 'unknown'}" + (" + uncommitted changes in the working tree" if changes else "")


# -- memory -----------------------------------------------------------------------------------------
def rss_mb(pid: int | str = "self") -> float:
    """Resident memory (VmRSS) of a process in MB (2^20 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line in /proc/<pid>/status")


class RssSampler:
    """Reads this process's VmRSS every `interval` seconds in a background thread (at most `limit` samples)."""

    def __init__(self, interval: float = 0.01, limit: int = 100_000) -> None:
        self.interval = interval
        self.limit = limit
        self.samples: list[tuple[float, float]] = []  # (monotonic time, MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.samples) < self.limit:
            self.samples.append((time.monotonic(), rss_mb()))
            self._stop.wait(self.interval)

    def between(self, start: float, end: float) -> list[float]:
        return [mb for at, mb in self.samples if start <= at <= end]


# -- statistics -------------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), interpolating linearly between the closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most events in any half-open window [t, t + window) of the given length."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# -- reporting --------------------------------------------------------------------------------------
@dataclass
class Figure:
    """One row of the summary table."""

    figure: str
    target: str
    measured: str
    verdict: str  # "met", "missed" or "n/a" (informational rows)


def bench_arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--summary-json", type=Path, help="also write the figures here (used by python -m bench)")
    return parser.parse_args()


def report(figures: Iterable[Figure], summary_json: Path | None) -> None:
    rows = list(figures)
    print()
    print("| figure | target | measured | verdict |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row.figure} | {row.target} | {row.measured} | {row.verdict} |")
    print(f"\nmachine: {machine()}; code: {code_version()}")
    if summary_json is not None:
        summary_json.write_text(json.dumps([asdict(row) for row in rows]))


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def setup_logging(name: str) -> Path:
    """The bot logs at INFO (its production default) into a file; warnings and errors also reach stderr."""
    folder = Path(tempfile.gettempdir()) / "kling-bench-logs"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.log"
    to_file = logging.FileHandler(path, mode="w")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.WARNING)
    to_stderr.setFormatter(logging.Formatter("    [bot log] %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [to_file, to_stderr]
    root.setLevel(logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return path


class LockProbe:
    """Diagnosis only: counts the bot's pieces of database work (`Database.run`) and the trips to the
    database thread that carried them (each trip is one transaction for a whole batch), and the time
    spent on the thread."""

    def __init__(self) -> None:
        self.works = 0
        self.trips = 0
        self.on_thread: list[float] = []
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> LockProbe:
        run, on_thread = Database.run, Database._on_thread
        self._saved = {"run": run, "_on_thread": on_thread}

        async def counted_run(database: Database, work: Any) -> Any:
            self.works += 1
            return await run(database, work)

        async def timed_trip(database: Database, function: Any, *args: Any) -> Any:
            self.trips += 1
            started = time.perf_counter()
            try:
                return await on_thread(database, function, *args)
            finally:
                self.on_thread.append(time.perf_counter() - started)

        Database.run = counted_run  # type: ignore[method-assign]
        Database._on_thread = timed_trip  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self._saved.items():
            setattr(Database, name, original)

    def reset(self) -> None:
        self.works = self.trips = 0
        self.on_thread.clear()

    def describe(self, wall: float) -> list[str]:
        busy = sum(self.on_thread)
        per_trip = self.works / self.trips if self.trips else 0.0
        return [f"{self.works} pieces of database work in {self.trips} trips to the database thread "
                f"({per_trip:.1f} per trip); trips took {busy:.2f} s of the {wall:.2f} s measured ({busy / wall:.0%}), "
                f"including the wait for the event loop to take each result back"]


# -- the bot and its fakes ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def generous_limits() -> dict[str, Any]:
    """Per-member limits high enough that a benchmark's burst is never refused for quota (only settings
    that exist in this version of the bot are passed)."""
    wanted = {"default_user_quota": 100_000, "max_active_jobs_per_user": 1000}
    return {name: value for name, value in wanted.items() if name in Settings.model_fields}


def members(count: int) -> list[int]:
    return [FIRST_MEMBER + index for index in range(count)]


@asynccontextmanager
async def fake_discord(member_count: int = 0, *, premium_tier: int = 0) -> AsyncIterator[FakeDiscord]:
    """The fake Discord of tests/conftest.py, with `member_count` extra members in the guild."""
    fake = FakeDiscord(token="fake-bot-token")
    await fake.start()
    fake.point_discord_py()
    fake.add_guild(GUILD, name="Bench Club", premium_tier=premium_tier)
    fake.add_channel(GUILD, CHANNEL, "general")
    fake.add_channel(GUILD, OTHER_CHANNEL, "art")
    fake.add_member(GUILD, ALICE, "alice")
    fake.add_member(GUILD, BOB, "bob")
    for index, member in enumerate(members(member_count)):
        fake.add_member(GUILD, member, f"member{index}")
    try:
        yield fake
    finally:
        fake.restore_discord_py()
        await fake.close()


async def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll `condition()` (sync or async) until true; raises TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


# -- seeding the database -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SeedJob:
    """A job written straight into the database, as a previous run of the bot would have left it."""

    id: str  # 16 hex digits, like the bot's own ids
    provider: str
    status: JobStatus
    user_id: int
    provider_job_id: str | None = None
    video_url: str | None = None
    duration: int = 5


def job_id(index: int) -> str:
    return f"{index:016x}"


async def seed_jobs(database_path: Path, jobs: Sequence[SeedJob]) -> None:
    """Create the database (running the bot's migrations) and insert `jobs` in one transaction."""
    database = await Database.open(database_path)
    now = datetime.now(UTC)
    created = (now - timedelta(seconds=20)).isoformat(timespec="microseconds")
    submitted = (now - timedelta(seconds=15)).isoformat(timespec="microseconds")
    completed = now.isoformat(timespec="microseconds")
    rows: list[tuple[Any, ...]] = []
    events: list[tuple[str | None, ...]] = []
    for job in jobs:
        at_provider = job.status is not JobStatus.QUEUED
        rows.append((
            job.id, GUILD, CHANNEL, job.user_id, job.provider,
            f"benchmark job {job.id}: a red fox running through fresh snow at dawn, cinematic, slow motion",
            job.duration, "16:9", "std", None, 0, "[]", 0, job.status.value, None, created, completed,
            submitted if at_provider else None, job.provider_job_id,
            completed if job.status is JobStatus.COMPLETED else None, job.video_url,
        ))
        events.append((job.id, created, "created", None, JobStatus.QUEUED.value, None))
        if at_provider:
            events.append((job.id, submitted, "status", JobStatus.QUEUED.value, job.status.value, "seeded"))
    def work(connection: sqlite3.Connection) -> None:
        connection.executemany(
            """INSERT INTO jobs (id, guild_id, channel_id, user_id, provider, prompt, duration, aspect, mode,
                   negative_prompt, audio, image_urls, cost, status, status_message_id, created_at, updated_at,
                   submitted_at, provider_job_id, completed_at, video_url)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )
        connection.executemany(
            "INSERT INTO job_events (job_id, at, kind, from_status, to_status, detail) VALUES (?, ?, ?, ?, ?, ?)",
            events,
        )

    try:
        await database.run(work)
    finally:
        await database.close()


def seed_jobs_sync(database_path: Path, jobs: Sequence[SeedJob]) -> None:
    """`seed_jobs` for a fresh process (see `seed_in_subprocess`)."""
    asyncio.run(seed_jobs(database_path, jobs))


def seed_in_subprocess(database_path: Path, jobs: Sequence[SeedJob]) -> None:
    """Seed from another process, so the measured process never held the rows or SQLite's caches."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(seed_jobs_sync, database_path, list(jobs)).result(timeout=300)
