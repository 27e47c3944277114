"""10,000 jobs in flight: the bot's resident memory, and whether the poll rate limit holds.

A fresh database is seeded (from another process) with 10,000 SUBMITTED runblob jobs, each with a
provider job id; a fake runblob in another process knows all of them as `processing` and records
when each status call arrives. Then the bot starts and its recovery tracks all 10,000, polling on the
real schedule with POLL_RATE_PER_MINUTE=60 and no callbacks (the worst case for polling). The bot's
process RSS is read after start-up and every second for 65 s; the most status calls the fake saw in
any 60 s window is the rate limit as the provider would count it.

    python -m bench.in_flight
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench._common import (
    Figure,
    SeedJob,
    bench_arguments,
    fake_discord,
    job_id,
    max_in_window,
    members,
    report,
    rss_mb,
    seed_in_subprocess,
    setup_logging,
    verdict,
)
from bench._processes import Child, runblob_child
from bot.core.models import JobStatus
from bot.core.schedule import poll_delay
from tests.harness import BotHarness

JOBS = 10_000
OBSERVE_SECONDS = 65
RATE_PER_MINUTE = 60
TARGET_MB = 200.0


async def run() -> list[Figure]:
    log_file = setup_logging("in_flight")
    provider_ids = [f"gen-{index:05d}" for index in range(JOBS)]
    owners = members(1000)
    seeds = [SeedJob(job_id(index), "runblob", JobStatus.SUBMITTED, owners[index % len(owners)], provider_ids[index])
             for index in range(JOBS)]
    with tempfile.TemporaryDirectory(prefix="bench-inflight-") as tmp:
        started = time.monotonic()
        await asyncio.to_thread(seed_in_subprocess, Path(tmp) / "bot.sqlite3", seeds)
        seeded_in = time.monotonic() - started
        del seeds
        runblob = Child(runblob_child, provider_ids, "processing")
        try:
            fake = await runblob.start()
            async with fake_discord() as discord:
                harness = BotHarness(discord, Path(tmp), kling_provider="runblob", runblob_api_key=fake["api_key"],
                                     runblob_base_url=fake["base_url"], poll_rate_per_minute=RATE_PER_MINUTE)
                harness.poll_schedule = poll_delay
                before = rss_mb()
                started = time.monotonic()
                await harness.start()
                start_up = time.monotonic() - started
                try:
                    after_start = rss_mb()
                    tracked = harness.running.tracker.tracked_count
                    cpu = time.process_time()
                    samples = []
                    for _ in range(OBSERVE_SECONDS):
                        await asyncio.sleep(1)
                        samples.append(rss_mb())
                    cpu = time.process_time() - cpu
                    counts = await harness.running.store.count_by_status()
                    stats = await runblob.ask("stats")
                finally:
                    await harness.stop()
        finally:
            await runblob.close()

    times = sorted(stats["status_times"])
    most = max_in_window(times, 60.0)
    spans = [times[i + RATE_PER_MINUTE] - times[i] for i in range(len(times) - RATE_PER_MINUTE)]
    tightest = min(spans, default=float("inf"))
    peak = max([after_start, *samples])
    print(f"{JOBS:,} jobs in flight: SUBMITTED runblob jobs seeded in {seeded_in:.1f} s (another process), recovered "
          f"by the bot at start-up; poll only, real schedule, POLL_RATE_PER_MINUTE={RATE_PER_MINUTE}")
    print("  the fake runblob runs in its own process; the fake Discord shares the bot's process (it holds no")
    print(f"  messages here: the seeded jobs have no status messages); bot log: {log_file}")
    print(f"  start-up (recovery + login + gateway ready): {start_up:.2f} s; jobs tracked: {tracked:,}")
    print(f"  RSS of the bot's process: {before:.1f} MB before start (interpreter, imports, fake Discord), "
          f"{after_start:.1f} MB after start-up, {samples[-1]:.1f} MB after {OBSERVE_SECONDS} s, peak {peak:.1f} MB")
    print(f"  CPU used by the bot's process while it polled: {cpu:.2f} s in {OBSERVE_SECONDS} s")
    print(f"  status calls at the fake: {len(times)} in {OBSERVE_SECONDS} s; most in any 60 s window: {most}; "
          f"shortest span holding {RATE_PER_MINUTE + 1} calls: {tightest:.4f} s")
    if most > RATE_PER_MINUTE:
        print(f"  -> call {RATE_PER_MINUTE + 1} arrived {(60 - tightest) * 1000:.2f} ms inside the first call's "
              "60 s window: the bot's limiter")
        print("     stamps a call when it takes the slot, so the time calls spend in transit is not allowed for")
    print(f"  job statuses at the end: { {s.value: n for s, n in counts.items() if n} }")
    print(f"  (the fake runblob's own process: {stats['rss_mb']:.1f} MB, not counted above)")
    return [
        Figure(f"{JOBS:,} jobs in flight: resident memory", "under 200 MB",
               f"peak {peak:.1f} MB over {OBSERVE_SECONDS} s ({before:.1f} MB before start; fake Discord included)",
               verdict(peak < TARGET_MB and tracked == JOBS)),
        Figure(f"{JOBS:,} jobs in flight: poll rate limit held", f"at most {RATE_PER_MINUTE} calls in any 60 s",
               f"{most} calls in the busiest 60 s window at the fake (the {RATE_PER_MINUTE + 1}st "
               f"{tightest:.4f} s after the 1st; {len(times)} calls in {OBSERVE_SECONDS} s)",
               verdict(most <= RATE_PER_MINUTE)),
    ]


def main() -> None:
    args = bench_arguments(__doc__ or "")
    report(asyncio.run(run()), args.summary_json)


if __name__ == "__main__":
    main()
