"""Scaling out: one bot process against two on one PostgreSQL database, and one on SQLite for reference.

Every bot here is a real child process (tests/processes.py) with the production poll schedule and event loop,
its own HTTP listener and PUBLIC_BASE_URL, and shards of SHARD_COUNT=2: one process runs both shards
(SHARD_IDS=0,1), two processes one each. The fake Discord (two servers, one on each shard, 100 members in each)
and the fake runblob run in this process; PostgreSQL is the throwaway server of tests/postgres.py (the
machine's initdb and pg_ctl; durability off, as in the tests, so the figures are for the work, not the disk).

Figures, for each setup:
- callbacks persisted per second: N SUBMITTED runblob jobs are written into a fresh database through the
  stores; the bots start (the leader's recovery tracks them), then another process sends one authenticated
  runblob `failed` webhook per job over 50 keep-alive connections, spread over the processes' listeners as a
  proxy would. Rate = N / (first send -> last 200); every job is then checked FAILED.
- `/video` acknowledgements per second, sustained: 50 members at a time (25 in each server, so both shards
  work) each send `/video` again as soon as the last one was answered, for a fixed window after a warm-up.
  Counted: answers within Discord's 3 s; also their p99. Nothing completes (the fake provider never finishes).
- SIGKILL of the leader to the last orphaned job delivered (two processes only): jobs through `/video`, the
  fake provider finishing each after a few seconds; the leader is killed once some are delivered and others
  are queued or at the provider. t1: the survivor says it leads (/healthz); t2: the last orphan DELIVERED.

    python -m bench.scale [--callbacks N] [--ack-seconds S] [--lease-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._common import Figure, machine, members, percentile, report, setup_logging
from bench._processes import Child, CountingRunblob, callback_sender_child, video_options
from bot.core.callback_tokens import CallbackSigner
from bot.core.models import Job, JobStatus, VideoRequest
from storage.backends import Stores, open_stores
from tests import postgres
from tests.contract.parts import quota_service
from tests.fakes.discord import FakeDiscord
from tests.processes import CALLBACK_SECRET, BotProcesses

CALLBACKS = 3000
CONNECTIONS = 50
ACK_SECONDS = 10.0
ACK_WARMUP_SECONDS = 2.0
ACK_CONCURRENCY_PER_SERVER = 25
ACK_DEADLINE = 3.0  # Discord's: an interaction not answered by then is dead
LEASE_SECONDS = 10  # the bench's LEASE_SECONDS (production default: 30); the takeover waits this long
FAILOVER_JOBS = 60
FAILOVER_PROVIDER_SECONDS = 4.0
SHARDS = 2
MEMBERS_PER_SERVER = 100
LIMITS = {"DEFAULT_USER_QUOTA": "1000000", "MAX_ACTIVE_JOBS_PER_USER": "100000"}


@dataclass(frozen=True)
class Setup:
    name: str
    processes: int
    on_postgres: bool

    @property
    def shards(self) -> list[str]:
        return ["0,1"] if self.processes == 1 else [str(shard) for shard in range(self.processes)]


SETUPS = [Setup("1 process, SQLite", 1, False), Setup("1 process, PostgreSQL", 1, True),
          Setup("2 processes, PostgreSQL", 2, True)]


# -- the child: the bot as production runs it, pointed at the fake Discord ---------------------------------------
def child_main() -> None:
    """`python -m bench.scale --child`: the real bot with its production schedule and event loop."""
    import discord.gateway
    import discord.http
    import yarl

    from bot.app import Application
    from bot.config import load_settings
    from bot.discord_adapter.attachments import DISCORD_CDN_BASES
    from bot.event_loop import run_on
    from bot.logs import setup_logging as bot_logging

    discord.http.Route.BASE = os.environ["FAKE_DISCORD_API"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["FAKE_DISCORD_GATEWAY"])
    settings = load_settings()
    bot_logging(settings)
    application = Application(settings, guild_ready_timeout=0.05,
                              discord_cdn_bases=(*DISCORD_CDN_BASES, os.environ["FAKE_DISCORD_CDN"]))
    run_on(settings.event_loop, application.run_forever())


# -- the world the bots live in ---------------------------------------------------------------------------------
@dataclass
class Server:
    guild_id: int
    channel_id: int


@asynccontextmanager
async def discord_world() -> AsyncIterator[tuple[FakeDiscord, list[Server]]]:
    fake = FakeDiscord(token="fake-bot-token")
    fake.max_concurrency = SHARDS  # one process running both shards identifies both at once (a large bot's bucket)
    await fake.start()
    servers = []
    for shard in range(SHARDS):
        guild = fake.add_guild_on_shard(shard, SHARDS, name=f"Bench {shard}")
        channel_id = 840000000000000010 + shard
        fake.add_channel(guild.id, channel_id, f"videos-{shard}")
        for index, member in enumerate(members(MEMBERS_PER_SERVER)):
            fake.add_member(guild.id, member, f"member{index}")
        servers.append(Server(guild.id, channel_id))
    try:
        yield fake, servers
    finally:
        await fake.close()


class Databases:
    """A fresh database per measurement: PostgreSQL on one throwaway cluster, or a SQLite file."""

    def __init__(self) -> None:
        binaries = postgres.server_binaries()
        self.cluster = postgres.PostgresCluster(binaries) if binaries else None

    def __enter__(self) -> Databases:
        if self.cluster is not None:
            self.cluster.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cluster is not None:
            self.cluster.stop()

    def url(self, setup: Setup) -> str | None:
        if not setup.on_postgres:
            return None
        assert self.cluster is not None
        return self.cluster.url(self.cluster.new_database())


def bots(setup: Setup, discord: FakeDiscord, provider: CountingRunblob, folder: Path, database_url: str | None,
         lease_seconds: int, **settings: str) -> BotProcesses:
    folder.mkdir(parents=True, exist_ok=True)
    return BotProcesses(discord, provider, folder, count=setup.processes, database_url=database_url,
                        shard_count=SHARDS, shards=setup.shards, lease_seconds=lease_seconds, module="bench.scale",
                        args=("--child",), settings={"FAKE_DISCORD_CDN": discord.cdn_url, **LIMITS, **settings})


async def open_store_of(processes: BotProcesses, database_url: str | None) -> Stores:
    return await open_stores(database_path=Path(processes[0].env["DATABASE_PATH"]), database_url=database_url)


async def started(processes: BotProcesses, lease_seconds: int) -> None:
    """Every process ready; with several, one of them leading (a lone process always leads)."""
    await processes.start()
    if len(processes.children) > 1:
        await processes.wait_leader(timeout=lease_seconds * 3)


async def count_statuses(stores: Stores) -> Counter[str]:
    return Counter({status.value: count for status, count in (await stores.jobs.count_by_status()).items()})


# -- callbacks persisted per second -----------------------------------------------------------------------------
async def seed_submitted(stores: Stores, count: int, guild_id: int, channel_id: int) -> list[tuple[str, str]]:
    """`count` SUBMITTED runblob jobs without status messages, charged as /video charges them: (job id,
    provider job id)."""
    quotas = quota_service(stores, default_user_quota=10**9, max_active_jobs=10**9)
    now = datetime.now(UTC)
    owners = members(MEMBERS_PER_SERVER)
    made: list[tuple[str, str]] = []
    gate = asyncio.Semaphore(50)

    async def one(index: int) -> None:
        request = VideoRequest(f"bench callback job {index}: a kite over the dunes", 5, "16:9", "std")
        job = Job(id=f"{index:016x}", guild_id=guild_id, channel_id=channel_id, user_id=owners[index % len(owners)],
                  request=request, provider="runblob", status=JobStatus.QUEUED, created_at=now, updated_at=now,
                  cost=5)
        async with gate:
            await stores.jobs.insert(job, quotas.charge_for(job))
            await stores.jobs.transition(job.id, JobStatus.QUEUED, JobStatus.SUBMITTED, now,
                                         provider_job_id=f"gen-{index:06d}")
        made.append((job.id, f"gen-{index:06d}"))

    await asyncio.gather(*(one(index) for index in range(count)))
    return made


async def callbacks_per_second(setup: Setup, databases: Databases, folder: Path, count: int,
                               lease_seconds: int) -> tuple[float, str]:
    async with discord_world() as (discord, servers):
        provider = CountingRunblob()  # answers the leader's resume checks: `processing`
        await provider.start()
        database_url = databases.url(setup)
        processes = bots(setup, discord, provider, folder, database_url, lease_seconds)
        sender: Child | None = None
        stores = await open_store_of(processes, database_url)
        try:
            seeded = await seed_submitted(stores, count, servers[0].guild_id, servers[0].channel_id)
            provider.preload([provider_id for _, provider_id in seeded], "processing")
            await started(processes, lease_seconds)
            signer = CallbackSigner(CALLBACK_SECRET)
            requests = [
                (f"{processes[index % setup.processes].url}{signer.path('runblob', job_id)}",
                 json.dumps({"generation_id": provider_id, "status": "failed",
                             "message": "GENERATION_FAILED"}).encode())
                for index, (job_id, provider_id) in enumerate(seeded)
            ]
            sender = Child(callback_sender_child, requests, CONNECTIONS)
            await sender.start()
            sent = await sender.ask("go", timeout=600)
            statuses = await count_statuses(stores)
        finally:
            if sender is not None:
                await sender.close()
            await stores.close()
            await processes.close()
            await provider.close()
    elapsed = sent["finished"] - sent["started"]
    failed = statuses.get(JobStatus.FAILED.value, 0)
    note = f"{count:,} in {elapsed:.2f} s; answers {sent['statuses']}; {'all' if failed == count else 'NOT all'} FAILED"
    return count / elapsed, note


# -- /video acknowledgements per second, sustained --------------------------------------------------------------
async def acks_per_second(setup: Setup, databases: Databases, folder: Path, seconds: float,
                          lease_seconds: int) -> tuple[float, str]:
    async with discord_world() as (discord, servers):
        provider = CountingRunblob()  # never finishes a job: nothing is delivered while commands arrive
        await provider.start()
        processes = bots(setup, discord, provider, folder, databases.url(setup), lease_seconds)
        latencies: list[float] = []
        late = 0
        counting = False
        try:
            await started(processes, lease_seconds)
            stop_at = time.monotonic() + ACK_WARMUP_SECONDS + seconds
            everyone = members(MEMBERS_PER_SERVER)

            async def member_loop(server: Server, slot: int) -> None:
                nonlocal late
                sent = 0
                while time.monotonic() < stop_at:
                    user = everyone[(slot + sent * ACK_CONCURRENCY_PER_SERVER) % len(everyone)]
                    interaction = await discord.send_slash_command(
                        guild_id=server.guild_id, channel_id=server.channel_id, user_id=user, name="video",
                        options=video_options(f"sustained {slot}/{sent}: a lighthouse in a storm"))
                    sent += 1
                    with suppress(TimeoutError):  # counted below as late
                        await interaction.wait_response(ACK_DEADLINE * 3)
                    if not counting:
                        continue
                    latency = interaction.response_latency
                    if latency is not None and latency <= ACK_DEADLINE:
                        latencies.append(latency)
                    else:
                        late += 1

            async def window() -> None:
                nonlocal counting
                await asyncio.sleep(ACK_WARMUP_SECONDS)
                counting = True

            began = time.monotonic()
            await asyncio.gather(window(), *(member_loop(server, slot) for server in servers
                                             for slot in range(ACK_CONCURRENCY_PER_SERVER)))
            measured = time.monotonic() - began - ACK_WARMUP_SECONDS
            shards = Counter(i.shard[0] for i in discord.interactions if i.shard is not None)
        finally:
            await processes.close()
            await provider.close()
    rate = len(latencies) / measured
    note = (f"{len(latencies):,} answered within 3 s in {measured:.1f} s ({late} late or unanswered); "
            f"p99 {percentile(latencies, 99) * 1000:.0f} ms; commands per shard {dict(sorted(shards.items()))}")
    return rate, note


# -- SIGKILL of the leader to the last orphan delivered ---------------------------------------------------------
async def failover(setup: Setup, databases: Databases, folder: Path, lease_seconds: int) -> dict[str, Any]:
    async with discord_world() as (discord, servers):
        provider = CountingRunblob(auto_complete_after=FAILOVER_PROVIDER_SECONDS)
        await provider.start()
        database_url = databases.url(setup)
        processes = bots(setup, discord, provider, folder, database_url, lease_seconds, MAX_CONCURRENT_JOBS="20")
        stores = await open_store_of(processes, database_url)
        try:
            await processes.start()
            leader = await processes.wait_leader(timeout=lease_seconds * 3)
            survivor = next(child for child in processes if child is not leader)
            everyone = members(MEMBERS_PER_SERVER)
            interactions = await asyncio.gather(*(
                discord.send_slash_command(
                    guild_id=servers[n % SHARDS].guild_id, channel_id=servers[n % SHARDS].channel_id,
                    user_id=everyone[n], name="video", options=video_options(f"failover {n}: a red fox in snow"))
                for n in range(FAILOVER_JOBS)))
            await asyncio.gather(*(i.wait_response(10) for i in interactions), return_exceptions=True)
            deadline = time.monotonic() + 120
            while True:
                counts = await count_statuses(stores)
                if counts["delivered"] >= 10 and counts["queued"] >= 5:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"never mid-run: {dict(counts)}")
                await asyncio.sleep(0.05)
            killed_wall = datetime.now(UTC)
            t0 = await leader.kill()
            at_kill = await count_statuses(stores)
            await processes.wait_leader(timeout=lease_seconds * 3, among=[survivor])
            t1 = time.monotonic() - t0
            deadline = time.monotonic() + 300
            while True:
                counts = await count_statuses(stores)
                if sum(counts[s] for s in ("delivered", "failed", "cancelled")) == FAILOVER_JOBS:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"jobs never finished: {dict(counts)}")
                await asyncio.sleep(0.1)
            jobs = [job for job in await stores.jobs.with_status((JobStatus.DELIVERED,))]
        finally:
            await stores.close()
            await processes.close()
            await provider.close()
    last = max(job.updated_at for job in jobs)
    unfinished = sum(at_kill[s] for s in ("queued", "submitted", "processing", "completed"))
    return {"t1": t1, "t2": (last - killed_wall).total_seconds(), "at_kill": dict(at_kill),
            "unfinished": unfinished, "end": dict(counts)}


# -- the run ------------------------------------------------------------------------------------------------------
async def run(callbacks: int, ack_seconds: float, lease_seconds: int) -> list[Figure]:
    setup_logging("scale")
    rows: list[Figure] = []
    table: list[tuple[str, str, str, str]] = []
    timeline: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, Databases() as databases:
        for number, setup in enumerate(SETUPS):
            if setup.on_postgres and databases.cluster is None:
                table.append((setup.name, "not measured: no PostgreSQL server programs (initdb, pg_ctl)", "", ""))
                continue
            print(f"\n--- {setup.name} ---", flush=True)
            rate, rate_note = await callbacks_per_second(setup, databases, Path(tmp) / f"{number}-callbacks",
                                                         callbacks, lease_seconds)
            print(f"  callbacks: {rate:,.0f}/s ({rate_note})", flush=True)
            acks, acks_note = await acks_per_second(setup, databases, Path(tmp) / f"{number}-acks", ack_seconds,
                                                    lease_seconds)
            print(f"  /video acknowledgements: {acks:,.0f}/s ({acks_note})", flush=True)
            kill = "n/a (one process: its supervisor restarts it)"
            if setup.processes > 1:
                timeline = await failover(setup, databases, Path(tmp) / f"{number}-failover", lease_seconds)
                kill = (f"{timeline['t2']:.1f} s (takeover after {timeline['t1']:.1f} s; "
                        f"LEASE_SECONDS={lease_seconds})")
                print(f"  failover: {timeline}", flush=True)
            table.append((setup.name, f"{rate:,.0f}/s", f"{acks:,.0f}/s", kill))
            rows += [Figure(f"callbacks persisted, {setup.name}", "informational", f"{rate:,.0f}/s ({rate_note})",
                            "n/a"),
                     Figure(f"/video acks sustained, 2 servers on 2 shards, {setup.name}", "informational",
                            f"{acks:,.0f}/s ({acks_note})", "n/a")]
            if setup.processes > 1 and timeline is not None:
                rows.append(Figure("SIGKILL of the leader -> last orphaned job delivered", "informational",
                                   kill, "n/a"))

    print(f"\n## Scaling out ({machine()})\n")
    print("| setup | callbacks persisted | `/video` acks sustained (2 servers, 2 shards) | SIGKILL -> last orphan "
          "delivered |")
    print("| --- | --- | --- | --- |")
    for name, rate_text, acks_text, kill_text in table:
        print(f"| {name} | {rate_text} | {acks_text} | {kill_text} |")
    if timeline is not None:
        print(f"\nFailover timeline (2 processes, {FAILOVER_JOBS} jobs, provider {FAILOVER_PROVIDER_SECONDS:g} s a "
              f"job, MAX_CONCURRENT_JOBS=20, LEASE_SECONDS={lease_seconds:g}):")
        print(f"  t0 = 0.0 s   SIGKILL of the leader; jobs then {timeline['at_kill']} ({timeline['unfinished']} "
              "unfinished)")
        print(f"  t1 = {timeline['t1']:.1f} s   the other process leads (/healthz)")
        print(f"  t2 = {timeline['t2']:.1f} s   the last orphaned job delivered; in the end {timeline['end']}")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nAll processes share this machine's cores with the fakes, PostgreSQL and the callback sender; load "
          f"average at the end (1, 5, 15 min): {load}.")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # a bot process of the benchmark
    parser.add_argument("--summary-json", type=Path, help="also write the figures here (used by python -m bench)")
    parser.add_argument("--callbacks", type=int, default=CALLBACKS, help="callbacks sent per setup")
    parser.add_argument("--ack-seconds", type=float, default=ACK_SECONDS, help="the sustained /video window")
    parser.add_argument("--lease-seconds", type=int, default=LEASE_SECONDS, help="LEASE_SECONDS of the bots")
    args = parser.parse_args()
    if args.child:
        child_main()
        return
    report(asyncio.run(run(args.callbacks, args.ack_seconds, args.lease_seconds)), args.summary_json)


if __name__ == "__main__":
    main()
