"""Delivering a 100 MB video: how much the bot's resident memory grows while it streams it.

The video (100,000,000 bytes) is served by `python -m http.server` in another process, and the fake
Discord runs in another process too, so neither the served bytes nor the received upload are in the
bot's process. One SUBMITTED runblob job is seeded; a fake runblob (in the bot's process, holding one
job and no video) answers `processing` until the baseline is taken, then `completed` with the
video's URL, and the bot delivers it. VmRSS is sampled every 10 ms in a background thread.

  A: guild upload limit 10 MiB (no boost), PUBLIC_BASE_URL set: the bot streams the video into its
     media folder and posts a link.
  B: guild premium tier 3 (100 MiB limit): the bot streams the video to a temporary file and uploads
     it as an attachment through discord.py.
  C (correctness, not memory): a job that is already COMPLETED when the bot starts, in a tier-3 guild,
     with a 12 MB video. It should be attached; if the outcome is a link, the recovered delivery ran
     before the gateway told the bot the guild's upload limit.

The bot polls every 0.25 s here (not the real schedule), so that delivery starts right after the
baseline is taken.

    python -m bench.large_delivery
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bench._common import (
    Figure,
    MiB,
    RssSampler,
    SeedJob,
    bench_arguments,
    free_port,
    job_id,
    report,
    rss_mb,
    seed_jobs,
    setup_logging,
    verdict,
)
from bench._processes import Child, CountingRunblob, discord_child, discord_py_pointed_at, static_file_server
from bot.core.models import JobStatus
from tests.fakes.discord import FakeDiscord
from tests.harness import ALICE, BotHarness

VIDEO_BYTES = 100_000_000  # "100 MB"; under a tier-3 guild's 100 MiB limit, so B attaches it
SMALL_VIDEO_BYTES = 12_000_000  # over the unboosted 10 MiB limit, under tier 3's
TARGET_GROWTH_MB = 30.0
PROVIDER_JOB = "gen-00000"
IDLE_SECONDS = 1.5  # after start-up, before the baseline is taken
DELIVERY_TIMEOUT = 180.0


@dataclass
class Delivery:
    label: str
    baseline: float
    peak: float
    seconds: float
    outcome: str
    posts: list[dict[str, Any]]
    discord_rss: float
    samples: int

    @property
    def growth(self) -> float:
        return self.peak - self.baseline


def write_video(path: Path, size: int) -> None:
    with path.open("wb") as file:
        file.write(b"\x00\x00\x00\x18ftypmp42")
        file.truncate(size)  # the rest reads as zeros


async def deliver(label: str, folder: Path, video_url: str, premium_tier: int, *, completed_at_start: bool) -> Delivery:
    """Start the bot with one job and measure its RSS from the baseline until the job is DELIVERED."""
    discord = Child(discord_child, premium_tier)
    runblob = CountingRunblob()
    runblob.external_video_url = video_url
    runblob.preload([PROVIDER_JOB], "processing")
    await runblob.start()
    try:
        urls = await discord.start()
        status = JobStatus.COMPLETED if completed_at_start else JobStatus.SUBMITTED
        seed = SeedJob(job_id(1), "runblob", status, ALICE, PROVIDER_JOB, video_url if completed_at_start else None)
        await seed_jobs(folder / "bot.sqlite3", [seed])
        port = free_port()
        with discord_py_pointed_at(urls["base_url"], urls["gateway_url"]), RssSampler(0.01) as sampler:
            # The fake Discord is in the child; the harness only starts and stops the bot here.
            harness = BotHarness(cast(FakeDiscord, None), folder, kling_provider="runblob",
                                 runblob_api_key=runblob.api_key, runblob_base_url=runblob.base_url,
                                 http_port=port, public_base_url=f"http://127.0.0.1:{port}")
            harness.poll_schedule = lambda checks_done, **_: 0.25
            begun = time.monotonic()
            baseline = rss_mb()  # with a COMPLETED job, delivery starts inside start(): growth includes start-up
            await harness.start()
            try:
                if not completed_at_start:
                    await asyncio.sleep(IDLE_SECONDS)
                    now = time.monotonic()
                    baseline = max(sampler.between(now - 1.0, now))
                    begun = now
                    runblob.set_state(PROVIDER_JOB, "completed")
                delivered = await harness.wait_status(seed.id, JobStatus.DELIVERED, timeout=DELIVERY_TIMEOUT)
                finished = time.monotonic()
                await asyncio.sleep(0.2)
                peak = max(sampler.between(begun, time.monotonic()))
            finally:
                await harness.stop()
        posted = await discord.ask("posts")
    finally:
        await discord.close()
        await runblob.close()
    outcome = delivered.delivery_outcome.value if delivered.delivery_outcome else "none"
    return Delivery(label, baseline, peak, finished - begun, outcome, posted["messages"], posted["rss_mb"],
                    len(sampler.samples))


def describe(delivery: Delivery, size: int) -> None:
    attachments = [a for post in delivery.posts for a in post["attachments"]]
    links = [url for post in delivery.posts for url in re.findall(r"https?://\S+", post["content"])]
    print(f"  {delivery.label}:")
    print(f"    outcome {delivery.outcome}; {size / 1e6:.0f} MB delivered in {delivery.seconds:.2f} s "
          f"({size / MiB / delivery.seconds:.0f} MiB/s)")
    print(f"    bot RSS: baseline {delivery.baseline:.1f} MB, peak {delivery.peak:.1f} MB, growth "
          f"{delivery.growth:.1f} MB ({delivery.samples} samples, every 10 ms)")
    if attachments:
        print(f"    the fake Discord received the attachment {attachments[0][0]} ({attachments[0][1]:,} bytes); it "
              f"holds it in its own process ({delivery.discord_rss:.0f} MB RSS)")
    elif links:
        print(f"    posted a link: {links[0]}")


async def run() -> list[Figure]:
    log_file = setup_logging("large_delivery")
    with tempfile.TemporaryDirectory(prefix="bench-video-") as served, \
            tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        write_video(Path(served) / "big.mp4", VIDEO_BYTES)
        write_video(Path(served) / "small.mp4", SMALL_VIDEO_BYTES)
        with static_file_server(Path(served)) as (base_url, _):
            a = await deliver("A: 10 MiB upload limit, archived and linked", Path(tmp) / "a", f"{base_url}/big.mp4",
                              0, completed_at_start=False)
            b = await deliver("B: tier-3 guild (100 MiB limit), attached", Path(tmp) / "b", f"{base_url}/big.mp4",
                              3, completed_at_start=False)
            c = await deliver("C: COMPLETED at start-up, tier-3 guild, 12 MB", Path(tmp) / "c",
                              f"{base_url}/small.mp4", 3, completed_at_start=True)

    print(f"delivering a {VIDEO_BYTES / 1e6:.0f} MB video: served by python -m http.server and received by the fake "
          "Discord, both in other processes;")
    print(f"  baseline = the highest RSS in the second before delivery starts (bot idle); bot log: {log_file}")
    describe(a, VIDEO_BYTES)
    describe(b, VIDEO_BYTES)
    describe(c, SMALL_VIDEO_BYTES)
    if c.outcome != "attached":
        print("    -> a job recovered as COMPLETED is delivered before the gateway's GUILD_CREATE arrives, so the")
        print("       bot used the default 10 MiB upload limit and linked a video this guild could have attached")
    return [
        Figure("delivering a 100 MB video (A: over the limit, archived + link)", "RSS grows by under 30 MB",
               f"+{a.growth:.1f} MB (baseline {a.baseline:.1f}, peak {a.peak:.1f}; outcome {a.outcome})",
               verdict(a.growth < TARGET_GROWTH_MB and a.outcome == "linked")),
        Figure("delivering a 100 MB video (B: tier-3 guild, attached)", "RSS grows by under 30 MB",
               f"+{b.growth:.1f} MB (baseline {b.baseline:.1f}, peak {b.peak:.1f}; outcome {b.outcome})",
               verdict(b.growth < TARGET_GROWTH_MB and b.outcome == "attached")),
        Figure("completed job recovered at start-up, tier-3 guild, 12 MB (correctness)", "attached",
               f"{c.outcome} (RSS +{c.growth:.1f} MB incl. start-up)", verdict(c.outcome == "attached")),
    ]


def main() -> None:
    args = bench_arguments(__doc__ or "")
    report(asyncio.run(run()), args.summary_json)


if __name__ == "__main__":
    main()
