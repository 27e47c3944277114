"""From a provider callback to the result post starting, on runblob with callbacks.

The bot runs on tests/fakes/runblob.py with PUBLIC_BASE_URL pointing at its own listener (the
`pushed` fixture of tests/e2e/test_runblob.py) and the real poll schedule. One job at a time: /video,
wait until it is SUBMITTED, then t0 is taken just before FakeRunblob.finish() sends the webhook, and t1
is when the fake Discord's middleware logs the bot's POST /channels/{id}/messages (its arrival, before
the upload body is read). The interval includes the bot fetching the finished video from the fake
provider, since it posts the file; the second series uses a larger clip to show that part.

    python -m bench.callback_to_post
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import (
    Figure,
    MiB,
    bench_arguments,
    fake_discord,
    free_port,
    generous_limits,
    ms,
    percentile,
    report,
    setup_logging,
    verdict,
)
from bot.core.models import JobStatus
from bot.core.schedule import poll_delay
from tests.conftest import runblob_harness
from tests.fakes.discord import FakeDiscord
from tests.fakes.provider_base import DEFAULT_VIDEO
from tests.fakes.runblob import FakeRunblob
from tests.harness import CHANNEL, BotHarness

WARM_UP = 3
SMALL_JOBS = 30  # with the fakes' default 4 KB clip
LARGE_JOBS = 10  # with an 8 MB clip (under the 10 MiB upload limit, so still attached)
LARGE_CLIP = 8 * MiB
TARGET_P50 = 0.050
POST = rf"/channels/{CHANNEL}/messages$"


class StampedRequests(list[tuple[str, str]]):
    """FakeDiscord.requests, also remembering when each request reached the fake's middleware."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: tuple[str, str]) -> None:
        self.times.append(time.perf_counter())
        super().append(item)


async def one_job(harness: BotHarness, discord: FakeDiscord, runblob: FakeRunblob, n: int) -> tuple[float, float]:
    """(callback sent -> post arriving, callback sent -> webhook answered) for one job."""
    requests = discord.requests
    assert isinstance(requests, StampedRequests)
    interaction = await harness.video(f"job {n}: a koi pond in the rain")
    job = await harness.job_for(interaction)
    job = await harness.wait_status(job.id, JobStatus.SUBMITTED)
    await harness.running.publisher.wait_for_edits()
    assert job.provider_job_id is not None
    start = len(requests)
    t0 = time.perf_counter()
    await runblob.finish(job.provider_job_id)  # returns once the bot has answered the webhook
    answered = time.perf_counter() - t0
    method, path = await discord.wait_for_request("POST", POST, start=start)
    index = next(i for i in range(start, len(requests)) if requests[i] == (method, path))
    posted = requests.times[index] - t0
    await harness.wait_status(job.id, JobStatus.DELIVERED)
    await harness.running.publisher.wait_for_edits()
    return posted, answered


async def run() -> list[Figure]:
    log_file = setup_logging("callback_to_post")
    series: dict[str, list[float]] = {"small": [], "large": []}
    answers: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-c2p-") as tmp:
        async with fake_discord() as discord:
            discord.requests = StampedRequests()
            runblob = FakeRunblob()
            await runblob.start()
            port = free_port()
            harness = runblob_harness(discord, runblob, Path(tmp), http_port=port,
                                      public_base_url=f"http://127.0.0.1:{port}", **generous_limits())
            harness.poll_schedule = poll_delay
            await harness.start()
            try:
                for n in range(WARM_UP):
                    await one_job(harness, discord, runblob, -n - 1)
                for n in range(SMALL_JOBS):
                    posted, answered = await one_job(harness, discord, runblob, n)
                    series["small"].append(posted)
                    answers.append(answered)
                runblob.video = DEFAULT_VIDEO[:16] + b"\x00" * (LARGE_CLIP - 16)
                for n in range(LARGE_JOBS):
                    posted, answered = await one_job(harness, discord, runblob, SMALL_JOBS + n)
                    series["large"].append(posted)
                    answers.append(answered)
                jobs = WARM_UP + SMALL_JOBS + LARGE_JOBS
                status_calls, submits = runblob.status_calls, runblob.submit_calls
                results = len(harness.results_in(CHANNEL))
            finally:
                await harness.stop()
                await runblob.close()

    small, large = series["small"], series["large"]
    print(f"provider callback -> channel post starting: runblob with callbacks, {SMALL_JOBS} + {LARGE_JOBS} jobs one "
          f"at a time (after {WARM_UP} warm-up jobs)")
    print("  t0: just before the fake runblob sends the webhook; t1: the bot's POST /channels/{id}/messages")
    print("  reaching the fake Discord. Includes fetching the clip from the fake provider (it is attached).")
    print("  fake Discord, fake runblob and bot share one process and event loop; bot log:", log_file)

    def line(values: list[float]) -> str:
        return (f"p50 {ms(percentile(values, 50))}  p95 {ms(percentile(values, 95))}  "
                f"min {ms(min(values))}  max {ms(max(values))}")

    print(f"  {len(DEFAULT_VIDEO) / 1024:.0f} KB clip: {line(small)}")
    print(f"  {LARGE_CLIP / MiB:.0f} MB clip: {line(large)}")
    print(f"  webhook answered by the bot (t0 -> response): {line(answers)}")
    print(f"  status calls: {status_calls} for {jobs} jobs ({status_calls / jobs:.2f} per job); "
          f"submits {submits}; result posts {results}")
    p50 = percentile(small, 50)
    details: dict[str, Any] = {"p95": ms(percentile(small, 95)), "large": ms(percentile(large, 50))}
    return [
        Figure("provider callback received to the channel post starting", "p50 under 50 ms",
               f"p50 {ms(p50)}, p95 {details['p95']} (4 KB clip; with an 8 MB clip p50 {details['large']})",
               verdict(p50 < TARGET_P50)),
        Figure("status calls per job with callbacks working (callback_to_post run)", "at most 1 on average",
               f"{status_calls / jobs:.2f} ({status_calls} calls, {jobs} jobs, real poll schedule)",
               verdict(status_calls / jobs <= 1)),
    ]


def main() -> None:
    args = bench_arguments(__doc__ or "")
    report(asyncio.run(run()), args.summary_json)


if __name__ == "__main__":
    main()
