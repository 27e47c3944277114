"""A long history: a database holding 1,000,000 finished jobs and 3,000,000 ledger rows, against an empty one.

The big database is filled by a child process with plain sqlite3 (executemany, 100,000 rows a
transaction; the growing tables' secondary indexes are dropped while filling and built again after, the
ledger's triggers stay so the running totals are right). It holds what a year of use leaves: 300 members
in 3 servers (most of it in the benchmark's), jobs spread over the last 365 days (1 in 12 failed and
refunded, with their events: created, submitted, then completed and delivered or failed; random job
ids like the bot's), a grant now and then, and two more years of ledger rows whose jobs were pruned long
ago. The bot then runs on it with JOB_RETENTION_DAYS=0, so it sees the whole table, and the same
measurements are made on an empty database (created the same way). The bot is started 6 times on each,
alternating (each database first in turn, so drift on the machine hits both alike; the jobs a round
queued are marked delivered before the next start, so no start has anything to recover). Each start measures:

- start-up: `Application.start` until the discord.py client is ready (recovery and start-up refunds
  included);
- a `GET /metrics` straight after start-up (its job counts not cached yet), and one right after it (cached);
- `/video` acknowledgement: 5 warm-up commands, then 3 bursts of 100 from 100 members who all have history
  (18 bursts per database, compared by the median of their p99: bursts vary more among themselves, with
  WAL checkpoints and garbage collection, than the databases do);
- `/quota show`, `/jobs`, and `/quota history` for the whole server and for one member (a moderator asks),
  4 of each one after another, each answer's latency as the fake Discord saw it.

Finally, on the big database without the bot, 20 prune batches as JOB_RETENTION_DAYS=180 would run them
(informational: the time one batch holds the database thread). The fake Discord is in the bot's process,
as in the tests. The database files are removed at the end.

    python -m bench.history [--jobs N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench._common import (
    Figure,
    fake_discord,
    generous_limits,
    members,
    ms,
    percentile,
    report,
    setup_logging,
    verdict,
)
from bot.core.models import IN_FLIGHT, JobStatus
from bot.core.quotas import REFUND_SWEEP_DAYS
from bot.core.retention import PAUSE_BETWEEN_BATCHES, PRUNE_BATCH
from bot.core.schedule import poll_delay
from storage.database import Database
from storage.jobs import JobStore
from storage.quotas import QuotaStore
from tests.fakes.discord import DEFAULT_MEMBER_PERMISSIONS, FakeDiscord, FakeInteraction
from tests.harness import CHANNEL, GUILD, MANAGE_GUILD, BotHarness

JOBS = 1_000_000
LEDGER_PER_JOB = 3  # 3,000,000 ledger rows for 1,000,000 jobs
MEMBERS = 300
GUILDS = (GUILD, GUILD + 100, GUILD + 200)
MODERATOR = 820000000000999999
CHUNK = 100_000  # rows per executemany, and per transaction
FAILED_EVERY = 12
GRANT_EVERY = 100
BURST = 100
ROUNDS = 6  # bot starts per database, alternating between the two
BURSTS_PER_ROUND = 3
WARM_UP = 5
REPEATS_PER_ROUND = 4
PRUNE_BATCHES = 20
RETENTION_DAYS = 180
RESPONSE_TIMEOUT = 15.0
TARGET_ACK_RATIO = 1.1
TARGET_METRICS = 0.050
SETTINGS: dict[str, Any] = {"sandbox_pending_seconds": 3600.0, "sandbox_processing_seconds": 3600.0,
                            "job_retention_days": 0}
# The growing tables' indexes the fill keeps: the ledger's refund trigger reads them for every refund.
KEPT_WHILE_FILLING = {"quota_ledger_once_per_job", "quota_ledger_by_member"}

JOB_SQL = """INSERT INTO jobs (id, guild_id, channel_id, user_id, provider, prompt, duration, aspect, mode, cost,
    status, created_at, updated_at, submitted_at, provider_job_id, completed_at)
    VALUES (?, ?, ?, ?, 'sandbox', ?, 5, '16:9', 'std', 5, ?, ?, ?, ?, ?, ?)"""
EVENT_SQL = "INSERT INTO job_events (job_id, at, kind, from_status, to_status) VALUES (?, ?, ?, ?, ?)"
LEDGER_SQL = """INSERT INTO quota_ledger (at, guild_id, user_id, actor_id, kind, period, amount, job_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""


# -- filling the database (in a child process) --------------------------------------------------------------
def fill(path: Path, jobs: int) -> dict[str, float]:
    """Create the database with the bot's migrations, then add `jobs` finished jobs and 3x as many ledger rows."""
    asyncio.run(_create(path))
    if not jobs:
        return {"seconds": 0.0}
    started = time.perf_counter()
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY"):
        connection.execute(f"PRAGMA {pragma}")
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('jobs', 'job_events', 'quota_ledger')").fetchall()
    dropped = [(name, sql) for name, sql in indexes if name not in KEPT_WHILE_FILLING]
    for name, _ in dropped:
        connection.execute(f"DROP INDEX {name}")
    now = datetime.now(UTC)
    _fill_old_ledger(connection, now, jobs)
    _fill_jobs(connection, now, jobs)
    indexing = time.perf_counter()
    for _, sql in dropped:
        connection.execute(sql)
    connection.execute("PRAGMA journal_mode=WAL")
    counts = {
        "jobs": connection.execute("SELECT COUNT(*) FROM jobs").fetchone()[0],
        "events": connection.execute("SELECT COUNT(*) FROM job_events").fetchone()[0],
        "ledger": connection.execute("SELECT COUNT(*) FROM quota_ledger").fetchone()[0],
    }
    connection.close()
    _flush(path)
    return {**counts, "seconds": time.perf_counter() - started, "indexing": time.perf_counter() - indexing,
            "bytes": path.stat().st_size}


def _flush(path: Path) -> None:
    """Write the filled file out to disk now: otherwise the kernel writes it back while the bot is being
    measured, and the bot's own writes wait behind gigabytes of it."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


async def _create(path: Path) -> None:
    database = await Database.open(path)
    await database.close()


def _place(n: int) -> tuple[int, int]:
    """Most of the history is in the benchmark's server; every member has some everywhere."""
    guild = GUILDS[0] if n % 5 < 3 else GUILDS[1 + n % 2]
    return guild, members(MEMBERS)[(n * 7919) % MEMBERS]


def _job_id(rng: random.Random) -> str:
    """Random, like the bot's own (`secrets.token_hex(8)`): the indexes keyed by job id get new jobs scattered
    all over them, as in a real database, not appended at one end."""
    return f"{rng.getrandbits(64):016x}"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _fill_old_ledger(connection: sqlite3.Connection, now: datetime, jobs: int) -> None:
    """The two years before: reserves (and some refunds) of jobs pruned long ago, so only ledger rows."""
    recent = jobs + jobs // FAILED_EVERY + jobs // GRANT_EVERY
    rows = max(0, LEDGER_PER_JOB * jobs - recent)
    start = now - timedelta(days=3 * 365)
    step = timedelta(days=2 * 365) / max(1, rows)
    rng = random.Random(20241120)
    batch: list[tuple[Any, ...]] = []
    job = ""
    for k in range(rows):
        at = start + step * k
        guild, user = _place(k)
        refund = k % FAILED_EVERY == FAILED_EVERY - 1
        job = job if refund else _job_id(rng)  # a refund gives back the charge just before it
        batch.append((_iso(at), guild, user, None if refund else user, "refund" if refund else "reserve",
                      at.date().isoformat(), 5, job))
        if len(batch) >= CHUNK:
            _commit(connection, [(LEDGER_SQL, batch)])
            batch = []
    _commit(connection, [(LEDGER_SQL, batch)])


def _fill_jobs(connection: sqlite3.Connection, now: datetime, count: int) -> None:
    start = now - timedelta(days=365)
    step = timedelta(days=365) / count
    rng = random.Random(20261120)
    jobs: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    ledger: list[tuple[Any, ...]] = []
    for n in range(count):
        created = start + step * n
        finished = created + timedelta(seconds=rng.randint(60, 400))
        at, done, period = _iso(created), _iso(finished), created.date().isoformat()
        guild, user = _place(n)
        failed = n % FAILED_EVERY == 5
        job = _job_id(rng)
        jobs.append((job, guild, CHANNEL, user, f"history {n}: a red fox running through fresh snow at dawn",
                     "failed" if failed else "delivered", at, done, at, f"sb-{n}", None if failed else done))
        events.append((job, at, "created", None, "queued"))
        events.append((job, at, "status", "queued", "submitted"))
        if failed:
            events.append((job, done, "status", "submitted", "failed"))
        else:
            events.append((job, done, "status", "submitted", "completed"))
            events.append((job, done, "status", "completed", "delivered"))
        ledger.append((at, guild, user, user, "reserve", period, 5, job))
        if failed:
            ledger.append((done, guild, user, None, "refund", period, 5, job))
        if n % GRANT_EVERY == 0:
            ledger.append((at, guild, user, MODERATOR, "grant", period, 20, None))
        if len(jobs) >= CHUNK:
            _commit(connection, [(JOB_SQL, jobs), (EVENT_SQL, events), (LEDGER_SQL, ledger)])
            jobs, events, ledger = [], [], []
    _commit(connection, [(JOB_SQL, jobs), (EVENT_SQL, events), (LEDGER_SQL, ledger)])


def _commit(connection: sqlite3.Connection, work: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
    connection.execute("BEGIN")
    for sql, rows in work:
        if rows:
            connection.executemany(sql, rows)
    connection.execute("COMMIT")


def fill_in_child(path: Path, jobs: int) -> dict[str, float]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fill, path, jobs).result(timeout=400)


# -- measuring the bot on it ------------------------------------------------------------------------------
@dataclass
class Run:
    """Everything measured on one database, over all rounds."""

    label: str
    path: Path
    startups: list[float] = field(default_factory=list)
    metrics_first: list[float] = field(default_factory=list)
    metrics_cached: list[float] = field(default_factory=list)
    bursts: list[list[float]] = field(default_factory=list)
    unanswered: int = 0
    refused: int = 0
    commands: dict[str, list[float]] = field(default_factory=dict)

    @property
    def p99s(self) -> list[float]:
        return [percentile(burst, 99) for burst in self.bursts]

    @property
    def p50s(self) -> list[float]:
        return [percentile(burst, 50) for burst in self.bursts]


async def answered(interactions: list[FakeInteraction]) -> list[FakeInteraction]:
    await asyncio.gather(*(i.wait_response(RESPONSE_TIMEOUT) for i in interactions), return_exceptions=True)
    return interactions


async def scrape(session: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with session.get(url) as response:
        text = await response.text()
    elapsed = time.perf_counter() - started
    if response.status != 200 or "kling_jobs{" not in text:
        raise RuntimeError(f"/metrics answered {response.status}")
    return elapsed


async def slash(discord: FakeDiscord, by: int, name: str, sub: str | None = None,
                **options: Any) -> FakeInteraction:
    wire = [{"name": key, "type": 6 if key == "user" else 4, "value": str(value) if key == "user" else value}
            for key, value in options.items()]
    if sub is not None:
        wire = [{"name": sub, "type": 1, "options": wire}]
    return await discord.send_slash_command(guild_id=GUILD, channel_id=CHANNEL, user_id=by, name=name,
                                            options=wire)


async def measure_round(run: Run, round_index: int) -> None:
    """One start of the bot on `run`'s database: start-up, two scrapes, a few bursts and commands, stop."""
    users = members(BURST)
    async with fake_discord(BURST) as discord:
        discord.add_member(GUILD, MODERATOR, "moderator", permissions=DEFAULT_MEMBER_PERMISSIONS | MANAGE_GUILD)
        harness = BotHarness(discord, run.path.parent, **SETTINGS, **generous_limits())
        harness.poll_schedule = poll_delay
        started = time.perf_counter()
        await harness.start()
        run.startups.append(time.perf_counter() - started)
        try:
            async with aiohttp.ClientSession() as session:
                url = f"{harness.running.listener_url}/metrics"
                run.metrics_first.append(await scrape(session, url))
                run.metrics_cached.append(await scrape(session, url))
            for n in range(WARM_UP):
                await answered([await harness.video(f"warm-up {n}", user_id=users[n])])
            await harness.running.publisher.wait_for_edits()
            for index in range(BURSTS_PER_ROUND):
                interactions = await answered(list(await asyncio.gather(*(
                    harness.video(f"round {round_index} burst {index}: a lighthouse in a storm, shot {n}",
                                  user_id=user) for n, user in enumerate(users)))))
                run.bursts.append([i.response_latency for i in interactions if i.response_latency is not None])
                run.unanswered += sum(1 for i in interactions if i.response is None)
                run.refused += sum(1 for i in interactions if i.response and
                                   int(i.response.get("data", {}).get("flags") or 0) & 64)
                await harness.running.publisher.wait_for_edits()
                await asyncio.sleep(0.5)
            commands = {
                "/quota show": lambda n: slash(discord, users[n], "quota", "show"),
                "/jobs": lambda n: slash(discord, users[n], "jobs"),
                "/quota history (server)": lambda n: slash(discord, MODERATOR, "quota", "history"),
                "/quota history (member)": lambda n: slash(discord, MODERATOR, "quota", "history", user=users[n]),
            }
            for name, send in commands.items():
                for n in range(REPEATS_PER_ROUND):
                    interaction = (await answered([await send(n)]))[0]
                    if interaction.response_latency is None:
                        raise RuntimeError(f"{name} was not answered")
                    run.commands.setdefault(name, []).append(interaction.response_latency)
        finally:
            await harness.stop()
    await asyncio.to_thread(finish_jobs, run.path)


def finish_jobs(path: Path) -> None:
    """The round's jobs (queued for an hour at the sandbox) become history, so the next start has nothing
    to recover and both databases start each round alike."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("UPDATE jobs SET status = 'delivered' WHERE status IN (?, ?, ?, ?)",
                           [status.value for status in (*IN_FLIGHT, JobStatus.COMPLETED)])
    finally:
        connection.close()


@dataclass
class PruneSample:
    times: list[float] = field(default_factory=list)  # seconds each batch held the database
    jobs: int = 0
    events: int = 0
    refund_check: float = 0.0  # the start-up query for failed jobs never refunded


async def prune_sample(path: Path) -> PruneSample:
    """What JOB_RETENTION_DAYS=180 would do first, batch by batch, as the bot's retention loop runs it."""
    database = await Database.open(path)
    store = JobStore(database)
    cutoff = datetime.now(UTC) - timedelta(days=RETENTION_DAYS)
    sample = PruneSample()
    try:
        started = time.perf_counter()
        await QuotaStore(database).failed_without_refund(datetime.now(UTC) - timedelta(days=REFUND_SWEEP_DAYS))
        sample.refund_check = time.perf_counter() - started
        for _ in range(PRUNE_BATCHES):
            started = time.perf_counter()
            pruned = await store.prune_finished(cutoff, PRUNE_BATCH)
            sample.times.append(time.perf_counter() - started)
            sample.jobs, sample.events = sample.jobs + pruned.jobs, sample.events + pruned.events
            await asyncio.sleep(PAUSE_BETWEEN_BATCHES)
    finally:
        await database.close()
    return sample


# -- the run ----------------------------------------------------------------------------------------------
async def run(jobs: int) -> list[Figure]:
    log_file = setup_logging("history")
    print(f"history: the bot on an empty database and on one with {jobs:,} finished jobs and "
          f"{LEDGER_PER_JOB * jobs:,} ledger rows (JOB_RETENTION_DAYS=0), {ROUNDS} rounds each, alternating")
    print(f"  bot log: {log_file}")
    folder = Path(tempfile.mkdtemp(prefix="bench-history-"))
    prune = PruneSample()
    try:
        runs = []
        for label, name, count in (("empty", "empty", 0), (f"{jobs:,} jobs", "full", jobs)):
            (folder / name).mkdir()
            path = folder / name / "bot.sqlite3"
            started = time.perf_counter()
            filled = await asyncio.to_thread(fill_in_child, path, count)
            if count:
                print(f"  filled in {time.perf_counter() - started:.0f} s (indexes built in "
                      f"{filled['indexing']:.0f} s): {filled['jobs']:,.0f} jobs, {filled['events']:,.0f} events, "
                      f"{filled['ledger']:,.0f} ledger rows, {filled['bytes'] / 2**20:,.0f} MiB")
            runs.append(Run(label, path))
        for index in range(ROUNDS):  # alternating, each first in turn, so drift on the machine hits both alike
            for result in runs if index % 2 == 0 else runs[::-1]:
                await measure_round(result, index)
        for result in runs:
            describe(result)
        prune = await prune_sample(runs[1].path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(runs, prune)
    return figures(runs, prune)


def describe(result: Run) -> None:
    print(f"\n  {result.label}: start-up {', '.join(ms(t) for t in result.startups)}; /metrics first "
          f"{', '.join(ms(t) for t in result.metrics_first)}; cached {', '.join(ms(t) for t in result.metrics_cached)}")
    for index, burst in enumerate(result.bursts, 1):
        print(f"    /video burst {index}: p50 {ms(percentile(burst, 50))}  p99 {ms(percentile(burst, 99))}  "
              f"max {ms(max(burst, default=float('nan')))}  ({len(burst)} answered)")
    print(f"    unanswered {result.unanswered}, refused {result.refused}")
    for name, latencies in result.commands.items():
        print(f"    {name}: p50 {ms(percentile(latencies, 50))}  max {ms(max(latencies))}")


def print_table(runs: list[Run], prune: PruneSample) -> None:
    empty, full = runs
    bursts = f"{len(full.bursts)} bursts of {BURST}"
    rows = [
        (f"start-up, Application.start to ready (median of {ROUNDS})", statistics.median(empty.startups),
         statistics.median(full.startups)),
        (f"GET /metrics, first scrape after start-up (median of {ROUNDS})", statistics.median(empty.metrics_first),
         statistics.median(full.metrics_first)),
        ("GET /metrics, first scrape (worst)", max(empty.metrics_first), max(full.metrics_first)),
        ("GET /metrics, cached (median)", statistics.median(empty.metrics_cached),
         statistics.median(full.metrics_cached)),
        (f"/video ack p50 (median of {bursts})", statistics.median(empty.p50s), statistics.median(full.p50s)),
        (f"/video ack p99 (median of {bursts})", statistics.median(empty.p99s), statistics.median(full.p99s)),
        ("/video ack p99 (worst burst)", max(empty.p99s), max(full.p99s)),
    ]
    rows += [(f"{name} p50 ({len(full.commands[name])}, one at a time)", percentile(empty.commands[name], 50),
              percentile(full.commands[name], 50)) for name in empty.commands]
    print(f"\n| measurement | empty | {full.label} |")
    print("| --- | --- | --- |")
    for name, a, b in rows:
        print(f"| {name} | {ms(a)} | {ms(b)} |")
    if prune.times:
        print(f"\nprune sample (JOB_RETENTION_DAYS={RETENTION_DAYS}, batches of {PRUNE_BATCH:,} jobs): {prune.jobs:,} "
              f"jobs and {prune.events:,} events in {len(prune.times)} batches; a batch held the database for p50 "
              f"{ms(percentile(prune.times, 50))}, max {ms(max(prune.times))}")
        print(f"start-up check for failed jobs never refunded (part of start-up): {ms(prune.refund_check)}")


def figures(runs: list[Run], prune: PruneSample) -> list[Figure]:
    empty, full = runs
    ratio = statistics.median(full.p99s) / statistics.median(empty.p99s)
    everyone = all(r.unanswered == 0 and r.refused == 0 for r in runs)
    worst_scrape = max(full.metrics_first + full.metrics_cached)
    return [
        Figure(f"`/video` ack p99 with {full.label} vs empty ({len(full.bursts)} bursts of {BURST}, median p99)",
               f"within {TARGET_ACK_RATIO}x of empty",
               f"{ms(statistics.median(full.p99s))} vs {ms(statistics.median(empty.p99s))} ({ratio:.2f}x)"
               + ("" if everyone else "; some commands unanswered or refused"),
               verdict(ratio <= TARGET_ACK_RATIO and everyone)),
        Figure(f"`/metrics` scrape with {full.label}", "under 50 ms",
               f"first after start-up {ms(statistics.median(full.metrics_first))} (worst {ms(max(full.metrics_first))})"
               f", cached {ms(statistics.median(full.metrics_cached))}", verdict(worst_scrape < TARGET_METRICS)),
        Figure(f"start-up with {full.label}", "—",
               f"{ms(statistics.median(full.startups))} (empty: {ms(statistics.median(empty.startups))})", "n/a"),
        Figure(f"`/quota show` and `/jobs` with {full.label}", "—",
               f"p50 {p50(full, '/quota show')} and {p50(full, '/jobs')} "
               f"(empty: {p50(empty, '/quota show')} and {p50(empty, '/jobs')})", "n/a"),
        Figure(f"one prune batch ({PRUNE_BATCH:,} jobs with their events) in {full.label}", "—",
               f"p50 {ms(percentile(prune.times, 50))}, max {ms(max(prune.times, default=float('nan')))}", "n/a"),
    ]


def p50(result: Run, command: str) -> str:
    return ms(percentile(result.commands[command], 50))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary-json", type=Path, help="also write the figures here (used by python -m bench)")
    parser.add_argument("--jobs", type=int, default=JOBS, help=f"finished jobs in the big database ({JOBS:,})")
    args = parser.parse_args()
    try:
        measured = asyncio.run(run(args.jobs))
    except BaseException:
        # A bot whose start failed half-way is never stopped, and its database thread would keep this process
        # alive: say what went wrong and leave.
        traceback.print_exc()
        sys.stdout.flush()
        os._exit(1)
    report(measured, args.summary_json)


if __name__ == "__main__":
    main()
