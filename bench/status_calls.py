"""Status calls per job, on the real poll schedule with the whole timeline compressed 100 times.

Everything that is time runs 100 times faster: the bot's poll schedule (bot.core.schedule.poll_delay
divided by SCALE), the moment the fake provider finishes a job (its `auto_complete_after`), the bot's
rate-limit window (the tracker's limiter, shortened after start-up) and runbase's own window at the
fake. So a 5 s video that the provider finishes after 150 s completes here after 1.5 s.

(a) runblob with callbacks (PUBLIC_BASE_URL = the bot's own listener): the webhook arrives at the
    completion time; polling is only the safety net. Informational: the same with every webhook lost.
(b) poll only, on runblob (no PUBLIC_BASE_URL), segmind and runbase; compared with the reference poller
    of runblob's docs for the same completion time: first check 10 s after submit, then 5, 5, 10, 15,
    15 s and 15 s after that, stopping at the first check made at or after the completion time.

    python -m bench.status_calls
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import (
    Figure,
    bench_arguments,
    fake_discord,
    free_port,
    generous_limits,
    members,
    report,
    setup_logging,
    verdict,
    wait_until,
)
from bot.core.models import JobStatus
from bot.core.schedule import poll_delay
from tests.fakes.discord import FakeDiscord
from tests.fakes.provider_base import FakeJob, FakeProviderServer
from tests.fakes.runbase import FakeRunbase
from tests.fakes.runblob import FakeRunblob
from tests.fakes.segmind import FakeSegmind
from tests.harness import BotHarness

SCALE = 100.0
JOBS = 10  # per run, all submitted at once by different members
# The docs' generation times (runblob's status page): 5 s ~2-3 min, 10 s ~3-5 min, 15 s ~5-7 min.
COMPLETION = {5: 150.0, 10: 240.0, 15: 360.0}
REFERENCE_FIRST_CHECK = 10.0
REFERENCE_INTERVALS = (5.0, 5.0, 10.0, 15.0, 15.0)  # then the last one repeats


def reference_checks(completes_at: float) -> int:
    """Status calls runblob's reference poller makes for a job that completes `completes_at` s after
    submit: it checks at 10, 15, 20, 30, 45, 60, 75, ... s and stops at the first check that sees it done."""
    at, checks = REFERENCE_FIRST_CHECK, 1
    while at < completes_at and checks < 10_000:
        at += REFERENCE_INTERVALS[min(checks - 1, len(REFERENCE_INTERVALS) - 1)]
        checks += 1
    return checks


def scaled_schedule(checks_done: int, *, callback_expected_after: float | None = None) -> float:
    return poll_delay(checks_done, callback_expected_after=callback_expected_after) / SCALE


class WebhooksLost(FakeRunblob):
    """runblob whose webhooks never arrive (a firewall, a wrong PUBLIC_BASE_URL, an outage)."""

    async def deliver_webhook(self, job: FakeJob) -> None:
        return None


@dataclass(frozen=True)
class Setup:
    label: str
    provider: str
    fake: type[FakeProviderServer]
    callbacks: bool

    def settings(self, fake: FakeProviderServer) -> dict[str, Any]:
        key = {"runblob": "runblob_api_key", "segmind": "segmind_api_key", "runbase": "runbase_api_key"}
        url = {"runblob": "runblob_base_url", "segmind": "segmind_base_url", "runbase": "runbase_base_url"}
        return {"kling_provider": self.provider, key[self.provider]: fake.api_key, url[self.provider]: fake.base_url}


CALLBACKS = Setup("runblob, callbacks", "runblob", FakeRunblob, True)
LOST = Setup("runblob, callbacks lost", "runblob", WebhooksLost, True)
POLL_ONLY = [Setup("runblob, poll only", "runblob", FakeRunblob, False),
             Setup("segmind, poll only", "segmind", FakeSegmind, False),
             Setup("runbase, poll only", "runbase", FakeRunbase, False)]


@dataclass
class Outcome:
    setup: Setup
    duration: int
    completes_at: float
    status_calls: int
    per_job: list[int]  # status reads per job, as the fake counted them
    delivered: int
    slowest: float  # seconds (unscaled) from submit to DELIVERED for the slowest job
    extra: str = ""

    @property
    def mean(self) -> float:
        return self.status_calls / JOBS


async def run_one(discord: FakeDiscord, tmp: Path, setup: Setup, duration: int) -> Outcome:
    completes_at = COMPLETION[duration]
    fake = setup.fake(auto_complete_after=completes_at / SCALE)
    if isinstance(fake, FakeRunbase):
        fake.rate_window = fake.rate_window / SCALE  # runbase's 20 per 10 s, on the compressed timeline
    await fake.start()
    port = free_port()
    settings = {**setup.settings(fake), **generous_limits(), "http_port": port, "max_concurrent_jobs": JOBS}
    if setup.callbacks:
        settings["public_base_url"] = f"http://127.0.0.1:{port}"
    harness = BotHarness(discord, tmp / f"{setup.provider}-{setup.callbacks}-{duration}", **settings)
    harness.poll_schedule = scaled_schedule
    await harness.start()
    try:
        limiter = harness.running.tracker.limiter
        limiter.per_seconds = limiter.per_seconds / SCALE  # the provider's documented window, compressed
        limiter.window = limiter.window / SCALE
        loop = asyncio.get_running_loop()
        started = loop.time()
        interactions = await asyncio.gather(*(
            harness.video(f"{setup.label}: a paper boat on a stormy sea", duration=duration, user_id=user)
            for user in members(JOBS)
        ))
        jobs = [await harness.job_for(i) for i in interactions]
        # Poll only: done by completion + one 15 s interval; lost webhooks: by the safety-net check.
        expected = harness.running.provider.expected_seconds(jobs[0].request)
        budget = (max(completes_at + 60, 1.5 * expected + 90) / SCALE) * 2 + 10

        async def all_delivered() -> bool:
            for job in jobs:
                current = await harness.running.store.get(job.id)
                if current is None or current.status is not JobStatus.DELIVERED:
                    return False
            return True

        await wait_until(all_delivered, budget, f"{setup.label} jobs to be delivered", interval=0.01)
        slowest = (loop.time() - started) * SCALE
        await asyncio.sleep(30 / SCALE)  # anything still scheduled would show up now
        per_job = [job.status_reads for job in fake.jobs.values()]
        extra = ""
        if isinstance(fake, FakeSegmind):
            extra = f"+ {fake.result_calls / JOBS:.1f} result call(s) per job to fetch the video URL"
        return Outcome(setup, duration, completes_at, fake.status_calls, per_job, JOBS, slowest, extra)
    finally:
        await harness.stop()
        await fake.close()


async def run() -> list[Figure]:
    log_file = setup_logging("status_calls")
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
        async with fake_discord(JOBS) as discord:
            for setup in (CALLBACKS, LOST, *POLL_ONLY):
                for duration in COMPLETION:
                    outcomes.append(await run_one(discord, Path(tmp), setup, duration))

    print(f"status calls per job: real poll schedule, timeline compressed {SCALE:.0f}x, {JOBS} jobs per run "
          "submitted at once; fakes and bot in one process; bot log:", log_file)
    print("  completion times: runblob's documented generation times for 5/10/15 s videos (150/240/360 s)")
    header = f"  {'set-up':26s} {'video':>5s} {'done at':>8s} {'calls/job':>9s} {'per job':>9s} {'reference':>9s}"
    print(header + f" {'slowest delivered':>18s}")
    for o in outcomes:
        low, high = min(o.per_job), max(o.per_job)
        spread = f"{low}" if low == high else f"{low}-{high}"
        print(f"  {o.setup.label:26s} {o.duration:>4d}s {o.completes_at:>7.0f}s {o.mean:>9.2f} {spread:>9s} "
              f"{reference_checks(o.completes_at):>9d} {o.slowest:>16.0f} s  {o.extra}")
    print("  per job: status reads each job got at the fake (segmind counts its result call there too);")
    print("  slowest delivered: submit of the burst -> last job DELIVERED, in uncompressed seconds")
    print("  caveat: the bot schedules each check after the previous one has finished, so a few ms of latency")
    print(f"  per check become {SCALE:.0f}x longer here; a count one below the reference is that drift (at real")
    print("  speed the checks land on the reference times). 150/240/360 s fall exactly on reference check")
    print("  times, which the reference is counted as seeing.")

    callbacks = [o for o in outcomes if o.setup is CALLBACKS]
    lost = [o for o in outcomes if o.setup is LOST]
    polled = [o for o in outcomes if not o.setup.callbacks]
    callback_mean = sum(o.status_calls for o in callbacks) / (JOBS * len(callbacks))
    lost_mean = sum(o.status_calls for o in lost) / (JOBS * len(lost))
    over = [o for o in polled if o.mean > reference_checks(o.completes_at)]
    comparison = "; ".join(
        f"{setup.label.split(',')[0]} "
        + "/".join(f"{o.mean:.1f}" for o in polled if o.setup is setup)
        for setup in POLL_ONLY
    )
    reference = "/".join(str(reference_checks(t)) for t in COMPLETION.values())
    return [
        Figure("status calls per job with callbacks working", "at most 1 on average",
               f"{callback_mean:.2f} (runblob, webhook at 150/240/360 s, schedule compressed {SCALE:.0f}x)",
               verdict(callback_mean <= 1)),
        Figure("status calls per job, callbacks lost (informational)", "—",
               f"{lost_mean:.2f} (the safety-net check finds every job; delivered late)", "n/a"),
        Figure("status calls per job, poll only", "no more than the reference poller",
               f"{comparison} for jobs done at 150/240/360 s; reference {reference}",
               verdict(not over)),
    ]


def main() -> None:
    args = bench_arguments(__doc__ or "")
    report(asyncio.run(run()), args.summary_json)


if __name__ == "__main__":
    main()
