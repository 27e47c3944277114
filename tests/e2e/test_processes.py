"""Two real bot processes on one PostgreSQL database, one shard each, against the fake Discord and one fake
runblob: 200 jobs across members and two servers (one on each shard) posted exactly once while the leader is
SIGKILLed mid-run, and twenty simultaneous `/video` across both processes with room for three.

Each process has its own listener and PUBLIC_BASE_URL, so the provider calls back the process that submitted a
job; after the SIGKILL those callbacks fail (connection refused) and the survivor, once it holds the lease,
finds the jobs with its poll loop. That is what a real installation behind a proxy does when one process dies.

Runs only with PostgreSQL's server programs (tests/postgres.py): skipped without them, failing under
REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests import postgres
from tests.clips import make_clip
from tests.e2e.commands import EPHEMERAL
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.runblob import FakeRunblob
from tests.processes import LEASE_SECONDS, BotProcesses
from tests.waiting import until, until_true

log = logging.getLogger(__name__)

pytestmark = pytest.mark.timeout(180)  # two bot processes on two shared cores: start-up alone is seconds

SHARDS = 2
MEMBERS = [830000000000000100 + index for index in range(10)]
RESULT_FILE = re.compile(r"^kling-(\w+)\.mp4$")
FINAL = ("delivered", "failed", "cancelled")


@dataclass
class Server:
    guild_id: int
    channel_id: int
    shard: int


@pytest.fixture
def servers(discord_fake: FakeDiscord) -> list[Server]:
    """Two servers, one on each shard of two, with the same ten members in both."""
    made = []
    for shard in range(SHARDS):
        guild = discord_fake.add_guild_on_shard(shard, SHARDS, name=f"Studio {shard}")
        channel_id = 830000000000000010 + shard
        discord_fake.add_channel(guild.id, channel_id, f"videos-{shard}")
        for index, member in enumerate(MEMBERS):
            discord_fake.add_member(guild.id, member, f"member{index}")
        made.append(Server(guild.id, channel_id, shard))
    return made


StartProcesses = Callable[..., Awaitable[BotProcesses]]


@pytest.fixture
async def start_processes(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path,
                          servers: list[Server]) -> AsyncIterator[StartProcesses]:
    """Starts two bot processes (shard 0 and shard 1 of 2) on this test's PostgreSQL database. When the test
    ends they are stopped and the end of each one's log is printed: pytest shows it when the test failed."""
    database_url = postgres.database_url(tmp_path)  # skips (or fails, REQUIRE_POSTGRES=1) without PostgreSQL
    started: list[BotProcesses] = []

    async def start(**settings: str) -> BotProcesses:
        processes = BotProcesses(discord_fake, runblob, tmp_path, count=SHARDS, database_url=database_url,
                                 settings=settings)
        started.append(processes)
        await processes.start()
        return processes

    try:
        yield start
    finally:
        for processes in started:
            await processes.close()
            print(processes.tails())


async def video(discord_fake: FakeDiscord, server: Server, user_id: int, prompt: str) -> FakeInteraction:
    options = [{"name": "prompt", "type": 3, "value": prompt}, {"name": "duration", "type": 4, "value": 5},
               {"name": "aspect", "type": 3, "value": "16:9"}]
    return await discord_fake.send_slash_command(guild_id=server.guild_id, channel_id=server.channel_id,
                                                 user_id=user_id, name="video", options=options)


def is_public(response: dict[str, Any]) -> bool:
    return response["type"] == 4 and not (response["data"].get("flags") or 0) & EPHEMERAL


def result_posts(discord_fake: FakeDiscord, servers: list[Server]) -> Counter[str]:
    """How many finished-video posts each job id has, across both servers' channels."""
    posted: Counter[str] = Counter()
    for server in servers:
        for message in discord_fake.messages.get(server.channel_id, []):
            if "your video is ready" not in (message.get("content") or ""):
                continue
            names = [RESULT_FILE.match(a.get("filename", "")) for a in message.get("attachments", [])]
            job_ids = [name.group(1) for name in names if name]
            assert len(job_ids) == 1, message
            posted[job_ids[0]] += 1
    return posted


async def statuses(database_url: str) -> Counter[str]:
    rows = await postgres.run_sql(database_url, "SELECT status, COUNT(*) FROM jobs GROUP BY status")
    return Counter({status: count for status, count in rows})


async def test_two_hundred_jobs_on_two_processes_survive_a_sigkill_of_the_leader_posted_once(
    start_processes: StartProcesses, discord_fake: FakeDiscord, runblob: FakeRunblob, servers: list[Server],
    tmp_path: Path,
) -> None:
    runblob.auto_complete_after = 1.5  # then its webhook goes to the submitting process; polls see it too
    runblob.video = make_clip(frames=6, gop=2)  # a real clip: each delivery also keeps its last frame (Continue)
    processes = await start_processes(MAX_CONCURRENT_JOBS="20", MAX_ACTIVE_JOBS_PER_USER="100",
                                      DEFAULT_USER_QUOTA="100000")
    database_url = postgres.database_url(tmp_path)
    leader = await processes.wait_leader(timeout=LEASE_SECONDS * 4)
    survivor = next(child for child in processes if child is not leader)

    # 200 /video, 100 in each server (each answered by the process running that server's shard), by ten members,
    # twenty at a time as members type them.
    prompts = [f"job {number:03d}: a paper boat on a rainy street" for number in range(200)]
    answers: list[dict[str, Any]] = []
    for start in range(0, len(prompts), 20):
        batch = await asyncio.gather(*(
            video(discord_fake, servers[number % SHARDS], MEMBERS[number % len(MEMBERS)], prompts[number])
            for number in range(start, start + 20)
        ))
        answers += await asyncio.gather(*(interaction.wait_response(timeout=10) for interaction in batch))
    assert all(is_public(answer) for answer in answers), [a for a in answers if not is_public(a)][:3]
    shards_answering = Counter(interaction.shard for interaction in discord_fake.interactions)
    assert shards_answering == {(0, SHARDS): 100, (1, SHARDS): 100}

    # Mid-run: some delivered, others still queued or at the provider.
    async def some_delivered_others_waiting() -> bool:
        counts = await statuses(database_url)
        return counts["delivered"] >= 40 and counts["queued"] >= 10

    deadline = time.monotonic() + 60
    while not await some_delivered_others_waiting():
        assert time.monotonic() < deadline, f"never mid-run: {await statuses(database_url)}\n{processes.tails()}"
        await asyncio.sleep(0.05)
    killed_wall = datetime.now().astimezone()
    t0 = await leader.kill()
    at_kill = await statuses(database_url)
    orphans = {row[0] for row in await postgres.run_sql(
        database_url, "SELECT id FROM jobs WHERE status NOT IN ('delivered', 'failed', 'cancelled')")}

    # The survivor takes the lease once it runs out (LEASE_SECONDS) and finishes every job.
    await processes.wait_leader(timeout=LEASE_SECONDS * 4, among=[survivor])
    t1 = time.monotonic()

    async def all_final() -> bool:
        counts = await statuses(database_url)
        return sum(counts[status] for status in FINAL) == len(prompts)

    deadline = time.monotonic() + 90
    while not await all_final():
        assert time.monotonic() < deadline, f"jobs left: {await statuses(database_url)}\n{processes.tails()}"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # a second post would come now, if one were coming

    rows = await postgres.run_sql(database_url, "SELECT id, status, result_message_id, updated_at, last_error "
                                                "FROM jobs")
    by_status = Counter(row[1] for row in rows)
    posted = result_posts(discord_fake, servers)
    assert len(rows) == len(prompts)
    assert max(posted.values()) == 1  # never posted twice
    delivered = {row[0] for row in rows if row[1] == "delivered"}
    assert set(posted) == delivered  # every delivered job posted, and nothing else
    # A job whose submit was on the wire at the SIGKILL cannot be known to have reached the provider: it is
    # failed, refunded and left for reconciliation (bot/core/engine.py recover), never sent a second time.
    not_delivered = [row for row in rows if row[1] != "delivered"]
    assert all(row[0] in orphans for row in not_delivered), not_delivered
    assert len(not_delivered) <= 20, not_delivered  # at most the submits that were on the wire (MAX_CONCURRENT_JOBS)
    submitted_prompts = Counter(job.payload.get("prompt") for job in runblob.jobs.values())
    assert max(submitted_prompts.values()) == 1  # no job sent to the provider twice
    # The survivor finished what the dead leader left: jobs at the provider (their callbacks went to the dead
    # listener) and jobs still queued.
    assert delivered & orphans
    dead_callbacks = [url for url, _, status in runblob.callbacks_sent if status == 0]
    assert dead_callbacks and all(url.startswith(leader.url) for url in dead_callbacks)

    last_orphan = max(datetime.fromisoformat(row[3]) for row in rows if row[0] in orphans and row[1] == "delivered")
    t2 = (last_orphan - killed_wall).total_seconds()
    timeline = [
        f"failover timeline (2 processes, PostgreSQL, LEASE_SECONDS={LEASE_SECONDS}, 200 jobs, "
        f"MAX_CONCURRENT_JOBS=20, provider 1.5 s per job):",
        f"  t0 = 0.00 s  SIGKILL of the leader (process {leader.index}); jobs then: {dict(at_kill)}; "
        f"{len(orphans)} unfinished",
        f"  t1 = {t1 - t0:.2f} s  process {survivor.index} says it leads (/healthz)",
        f"  t2 = {t2:.2f} s  the last orphaned job delivered",
        f"  end: {dict(by_status)}; {len(posted)} posts, none twice; "
        f"{len(dead_callbacks)} callbacks refused by the dead listener; {len(not_delivered)} failed as uncertain",
    ]
    print("\n" + "\n".join(timeline))
    (tmp_path / "failover-timeline.txt").write_text("\n".join(timeline) + "\n")
    log.info("%s", "\n".join(timeline))


async def test_twenty_simultaneous_videos_across_both_processes_with_room_for_three_give_three(
    start_processes: StartProcesses, discord_fake: FakeDiscord, runblob: FakeRunblob, servers: list[Server],
    tmp_path: Path,
) -> None:
    # One member, room for three 5-credit videos across every server (the operator's ceiling is shared by all).
    await start_processes(TOTAL_CREDIT_CEILING="15", DEFAULT_USER_QUOTA="1000", MAX_ACTIVE_JOBS_PER_USER="20")
    member = MEMBERS[0]
    interactions = await asyncio.gather(*(
        video(discord_fake, servers[number % SHARDS], member, f"burst {number}: a comet over a harbour")
        for number in range(20)
    ))
    responses = await asyncio.gather(*(interaction.wait_response(timeout=10) for interaction in interactions))

    assert Counter(interaction.shard for interaction in interactions) == {(0, SHARDS): 10, (1, SHARDS): 10}
    public = [response for response in responses if is_public(response)]
    private = [response["data"]["content"] for response in responses if not is_public(response)]
    assert len(public) == 3 and len(private) == 17
    assert all(response["type"] == 4 for response in responses)
    assert all("leaves 0 of 15 credits" in text for text in private), private[:3]
    database_url = postgres.database_url(tmp_path)
    assert await postgres.run_sql(database_url, "SELECT COUNT(*), SUM(cost) FROM jobs") == [(3, 15)]
    await until(lambda: len(runblob.jobs) == 3, "the three accepted jobs reach the provider", timeout=20)


async def test_a_leader_stopped_with_sigterm_hands_over_and_the_other_delivers(
    start_processes: StartProcesses, discord_fake: FakeDiscord, runblob: FakeRunblob, servers: list[Server],
    tmp_path: Path,
) -> None:
    runblob.auto_complete_after = 0.3
    processes = await start_processes()
    leader = await processes.wait_leader(timeout=LEASE_SECONDS * 4)
    survivor = next(child for child in processes if child is not leader)

    assert await leader.terminate() == 0  # drained, the lease released, a clean exit
    await processes.wait_leader(timeout=LEASE_SECONDS * 4, among=[survivor])
    health = await survivor.health()
    assert health is not None and health["status"] == "ok" and health["role"] == "leader"

    # The survivor's own server still works end to end; the stopped process's shard has nobody to answer it.
    mine = next(server for server in servers if str(server.shard) == survivor.env["SHARD_IDS"])
    answer = await (await video(discord_fake, mine, MEMBERS[0], "after the handover: a swan at dusk")).wait_response(10)
    assert is_public(answer)
    await until(lambda: sum(result_posts(discord_fake, servers).values()) == 1, "the video is posted", timeout=20)

    async def recorded() -> bool:  # the post arrives at Discord a moment before the bot records it
        return await statuses(postgres.database_url(tmp_path)) == Counter({"delivered": 1})

    await until_true(recorded, "the delivery recorded as the only job", timeout=10)
