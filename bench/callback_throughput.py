"""The callback listener: authenticated callbacks persisted per second.

5,000 SUBMITTED runblob jobs (no status messages, so no Discord edits) are seeded into a fresh
database; the bot starts with callbacks (PUBLIC_BASE_URL = its own listener) and its recovery tracks
them. Another process then sends one authenticated runblob webhook per job,
`{generation_id, status: "failed", message: "GENERATION_FAILED"}`, as fast as a pool of 50 keep-alive
connections allows. "failed" keeps Discord uploads out of the figure: it measures the listener, the
token check, parsing, the conditional status change and its event row (and the quota refund, where
the bot has one). The bot answers 200 only after the change is committed, so the time from the first
send to the last 200 bounds the persistence time from above; afterwards every job is checked FAILED.

    python -m bench.callback_throughput [--diagnose]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from contextlib import ExitStack
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
from bot.core.models import JobStatus
from bot.core.schedule import poll_delay
from tests.conftest import runblob_harness

JOBS = 5000
CONNECTIONS = 50
TARGET_PER_SECOND = 2000.0


async def run(jobs: int = JOBS, diagnose: bool = False) -> list[Figure]:
    log_file = setup_logging("callback_throughput")
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
    print(f"callback listener: {jobs:,} authenticated runblob 'failed' webhooks, one per SUBMITTED job, sent from "
          f"another process over {CONNECTIONS} keep-alive connections")
    print("  'failed' keeps Discord uploads out: this is the listener + persistence path. The bot, the fake")
    print(f"  Discord and the fake runblob (answering ~1 resume check a second) share one process; bot log: {log_file}")
    print(f"  first send -> last answer: {elapsed:.2f} s = {rate:,.0f} callbacks/s; answers {sent['statuses']}")
    print(f"  jobs in the database afterwards: {statuses}; still tracked: {tracked}; status calls meanwhile: "
          f"{status_calls}")
    print(f"  CPU used by the bot's process meanwhile: {cpu:.2f} s ({cpu / elapsed:.0%} of one core)")
    if diagnose:
        for line in probe_lines:
            print(f"  database lock: {line}")
    return [Figure("callback listener", "2,000 authenticated callbacks a second persisted",
                   f"{rate:,.0f}/s ({jobs:,} 'failed' callbacks in {elapsed:.2f} s, {CONNECTIONS} connections; "
                   f"{'all' if all_failed else 'NOT all'} FAILED in the database)",
                   verdict(rate >= TARGET_PER_SECOND and all_failed))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary-json", type=Path, help="also write the figures here (used by python -m bench)")
    parser.add_argument("--diagnose", action="store_true", help="time the bot's database lock while callbacks arrive")
    args = parser.parse_args()
    report(asyncio.run(run(diagnose=args.diagnose)), args.summary_json)


if __name__ == "__main__":
    main()
