"""The callback listener: authenticated callbacks persisted per second.

5,000 SUBMITTED runblob jobs (no status messages, so no Discord edits) are seeded into a fresh
database; the bot starts with callbacks (PUBLIC_BASE_URL = its own listener) and its recovery tracks
them. Another process then sends one authenticated runblob webhook per job,
`{generation_id, status: "failed", message: "GENERATION_FAILED"}`, as fast as a pool of 50 keep-alive
connections allows. "failed" keeps Discord uploads out of the figure: it measures the listener, the
token check, parsing, the conditional status change and its event row (and the quota refund, where
the bot has one). The bot answers 200 only after the change is committed, so the time from the first
send to the last 200 bounds the persistence time from above; afterwards every job is checked FAILED.

The figure is the median of 5 runs (each with a fresh database and bot), with their min and max. The bot runs
on the loop EVENT_LOOP would choose, as in production (`--loop asyncio` for asyncio's own).

    python -m bench.callback_throughput [--runs 5] [--loop uvloop|asyncio] [--diagnose] [--profile]

--profile samples the bot's process with py-spy (bench/_pyspy.py) during each run's callbacks and prints the
top functions by their own time on the event loop's thread and on all threads, over all runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench._common import (
    Figure,
    LockProbe,
    SeedJob,
    fake_discord,
    free_port,
    job_id,
    members,
    report,
    seed_in_subprocess,
    setup_logging,
    verdict,
)
from bench._processes import Child, CountingRunblob, callback_sender_child
from bench._pyspy import Sampler, summarise
from bot.core.models import JobStatus
from bot.core.schedule import poll_delay
from bot.event_loop import EVENT_LOOPS, default_event_loop, run_on
from bot.gc_tuning import tune_for_serving
from tests.conftest import runblob_harness

JOBS = 5000
CONNECTIONS = 50
RUNS = 5
TARGET_PER_SECOND = 5000.0


@dataclass
class Outcome:
    rate: float
    elapsed: float
    all_failed: bool


async def run(runs: int = RUNS, jobs: int = JOBS, diagnose: bool = False, profile: Path | None = None,
              loop_name: str = "asyncio") -> list[Figure]:
    log_file = setup_logging("callback_throughput")
    print(f"callback listener on {loop_name}: {runs} runs of {jobs:,} authenticated runblob 'failed' webhooks, one "
          f"per SUBMITTED job, sent from another process over {CONNECTIONS} keep-alive connections")
    print("  'failed' keeps Discord uploads out: this is the listener + persistence path. The bot, the fake")
    print(f"  Discord and the fake runblob (answering ~1 resume check a second) share one process; bot log: {log_file}")
    outcomes = []
    for index in range(runs):
        raw = profile.with_name(f"{profile.name}.{index + 1}") if profile is not None else None
        outcome = await one_run(jobs, diagnose, raw)
        outcomes.append(outcome)
    rates = [o.rate for o in outcomes]
    median, low, high = statistics.median(rates), min(rates), max(rates)
    all_failed = all(o.all_failed for o in outcomes)
    print(f"  median of {runs} runs: {median:,.0f} callbacks/s (min {low:,.0f}, max {high:,.0f})")
    if profile is not None:
        merged = profile.with_name(profile.name + ".all")
        merged.write_text("".join(profile.with_name(f"{profile.name}.{n + 1}").read_text() for n in range(runs)))
        print(f"\n  py-spy, all {runs} runs' callbacks:\n")
        print(summarise(merged))
        print("\n  all threads:\n")
        print(summarise(merged, main_thread_only=False))
    return [Figure(f"callback listener ({loop_name})", "5,000 authenticated callbacks a second persisted",
                   f"{median:,.0f}/s, median of {runs} runs (min {low:,.0f}, max {high:,.0f}; each {jobs:,} 'failed' "
                   f"callbacks over {CONNECTIONS} connections; {'all' if all_failed else 'NOT all'} FAILED in the "
                   "database)",
                   verdict(median >= TARGET_PER_SECOND and all_failed))]


async def one_run(jobs: int, diagnose: bool, raw: Path | None) -> Outcome:
    provider_ids = [f"gen-{index:05d}" for index in range(jobs)]
    owners = members(500)
    seeds = [SeedJob(job_id(index), "runblob", JobStatus.SUBMITTED, owners[index % len(owners)], provider_ids[index])
             for index in range(jobs)]
    with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp, ExitStack() as stack:
        await asyncio.to_thread(seed_in_subprocess, Path(tmp) / "bot.sqlite3", seeds)
        runblob = CountingRunblob()  # answers the bot's resume checks: the jobs are `processing` there
        runblob.preload(provider_ids, "processing")
        await runblob.start()
        async with fake_discord() as discord:
            port = free_port()
            harness = runblob_harness(discord, runblob, Path(tmp), http_port=port,
                                      public_base_url=f"http://127.0.0.1:{port}")
            harness.poll_schedule = poll_delay
            await harness.start()
            tune_for_serving()  # as Application.run_forever does once started (bot/gc_tuning.py)
            sender: Child | None = None
            try:
                app = harness.running
                requests = [
                    (f"{app.listener_url}{app.signer.path('runblob', seed.id)}",
                     json.dumps({"generation_id": seed.provider_job_id, "status": "failed",
                                 "message": "GENERATION_FAILED"}).encode())
                    for seed in seeds
                ]
                sender = Child(callback_sender_child, requests, CONNECTIONS)
                await sender.start()
                probe = stack.enter_context(LockProbe()) if diagnose else None
                async with AsyncExitStack() as sampling:
                    if raw is not None:
                        await sampling.enter_async_context(Sampler(raw))
                    cpu = time.process_time()
                    sent = await sender.ask("go", timeout=600)
                    cpu = time.process_time() - cpu
                if probe is not None:
                    probe_lines = probe.describe(sent["finished"] - sent["started"])
                    stack.close()
                rows = await harness.sql("SELECT status, COUNT(*) FROM jobs GROUP BY status")
                status_calls = runblob.status_calls
                tracked = app.tracker.tracked_count
            finally:
                if sender is not None:
                    await sender.close()
                await harness.stop()
                await runblob.close()

    elapsed = sent["finished"] - sent["started"]
    rate = jobs / elapsed
    statuses = {row[0]: row[1] for row in rows}
    all_failed = statuses.get(JobStatus.FAILED.value, 0) == jobs
    print(f"  {time.strftime('%H:%M:%S')} load {_load()}: first send -> last answer: {elapsed:.2f} s = "
          f"{rate:,.0f} callbacks/s; answers {sent['statuses']}")
    print(f"  jobs in the database afterwards: {statuses}; still tracked: {tracked}; status calls meanwhile: "
          f"{status_calls}")
    print(f"  CPU used by the bot's process meanwhile: {cpu:.2f} s ({cpu / elapsed:.0%} of one core)")
    if diagnose:
        for line in probe_lines:
            print(f"  database lock: {line}")
    return Outcome(rate, elapsed, all_failed)


def _load() -> str:
    """The 1-minute load average: another process busy on the machine shows here."""
    with contextlib.suppress(OSError):
        return Path("/proc/loadavg").read_text().split()[0]
    return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary-json", type=Path, help="also write the figures here (used by python -m bench)")
    parser.add_argument("--diagnose", action="store_true", help="time the bot's database lock while callbacks arrive")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs to take the median of (default {RUNS})")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="sample with py-spy; its collapsed stacks go to FILE.1, FILE.2, ... and FILE.all")
    parser.add_argument("--loop", choices=EVENT_LOOPS, default=None,
                        help="the event loop to run on (default: EVENT_LOOP's default on this machine)")
    args = parser.parse_args()
    loop_name = args.loop or default_event_loop()
    report(run_on(loop_name, run(args.runs, diagnose=args.diagnose, profile=args.profile, loop_name=loop_name)),
           args.summary_json)


if __name__ == "__main__":
    main()
