"""`/video` acknowledgement under a burst: 200 commands dispatched at once by the fake Discord.

Measured: FakeInteraction.response_latency, the time from the fake queuing INTERACTION_CREATE on the
gateway to the bot's interaction callback request arriving at the fake. The bot runs on the built-in
sandbox with timings so long that nothing completes during the run; each command comes from a
different member, and quotas are set generously, so that every command can be accepted.

Two set-ups: the fake Discord in the bot's own process and event loop (as the tests run it), and the
fake Discord in a separate process, so that its own CPU work (building and parsing 200 interactions,
answering the callbacks and edits) is off the bot's loop as the real Discord would be.

    python -m bench.ack_latency [--diagnose]

--diagnose also times the bot's database lock (the wrapper adds a few microseconds per use).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bench._common import (
    Figure,
    LockProbe,
    fake_discord,
    generous_limits,
    members,
    ms,
    percentile,
    report,
    setup_logging,
    verdict,
)
from bench._processes import Child, discord_child, discord_py_pointed_at
from bot.core.schedule import poll_delay
from tests.fakes.discord import FakeDiscord
from tests.harness import BotHarness

BURST = 200
BURSTS = 3
WARM_UP = 5
TARGET_P99 = 0.100
RESPONSE_TIMEOUT = 15.0
SETTINGS: dict[str, Any] = {"sandbox_pending_seconds": 3600.0, "sandbox_processing_seconds": 3600.0}

# One answer as the fake saw it: (latency in s or None, message flags or None if unanswered, had errors).
Answer = tuple[float | None, int | None, bool]


@dataclass
class Burst:
    latencies: list[float]
    public: int
    refused: int
    unanswered: int
    with_errors: int
    wall: float  # from the first dispatch to the last answer
    cpu: float = 0.0  # CPU seconds this process used meanwhile (all threads)

    @classmethod
    def of(cls, answers: list[Answer], wall: float) -> Burst:
        flags = [f for _, f, _ in answers if f is not None]
        refused = sum(1 for f in flags if f & 64)  # ephemeral: a refusal
        return cls([lat for lat, _, _ in answers if lat is not None], len(flags) - refused, refused,
                   len(answers) - len(flags), sum(1 for *_, err in answers if err), wall)

    def line(self) -> str:
        lat = self.latencies
        return (f"p50 {ms(percentile(lat, 50))}  p95 {ms(percentile(lat, 95))}  p99 {ms(percentile(lat, 99))}  "
                f"max {ms(max(lat, default=float('nan')))} | public {self.public}, refused {self.refused}, "
                f"unanswered {self.unanswered}, with errors {self.with_errors} | all answered in {self.wall:.2f} s"
                f", this process used {self.cpu:.2f} s of CPU meanwhile")


async def in_process_burst(harness: BotHarness, users: list[int], label: str) -> Burst:
    loop = asyncio.get_running_loop()
    started = loop.time()
    interactions = await asyncio.gather(*(
        harness.video(f"{label}: a lighthouse in a storm, shot {n}", user_id=user) for n, user in enumerate(users)
    ))
    await asyncio.gather(*(i.wait_response(RESPONSE_TIMEOUT) for i in interactions), return_exceptions=True)
    answers: list[Answer] = [
        (i.response_latency, int((i.response or {}).get("data", {}).get("flags") or 0) if i.response else None,
         bool(i.errors)) for i in interactions
    ]
    return Burst.of(answers, loop.time() - started)


async def measure(harness: BotHarness, fire: Any, users: list[int], bursts: int,
                  probe: LockProbe | None) -> tuple[list[Burst], int]:
    # A few single commands first, so that one-off costs (first connections, caches) are not in the burst.
    for n in range(WARM_UP):
        await fire(users[n : n + 1], f"warm-up {n}")
    await harness.running.publisher.wait_for_edits()
    results = []
    for index in range(bursts):
        if probe is not None:
            probe.reset()
        cpu = time.process_time()
        burst = await fire(users, f"burst {index + 1}")
        burst.cpu = time.process_time() - cpu
        results.append(burst)
        if probe is not None:
            for line in probe.describe(results[-1].wall):
                print(f"    burst {index + 1} database lock: {line}")
        await harness.running.publisher.wait_for_edits()  # queue-position edits of the burst
        await asyncio.sleep(0.5)
    return results, len(harness.running.dispatcher.queue)


async def run_in_process(burst_size: int, bursts: int, probe: LockProbe | None) -> tuple[list[Burst], int]:
    users = members(burst_size)
    with tempfile.TemporaryDirectory(prefix="bench-ack-") as tmp:
        async with fake_discord(burst_size) as discord:
            harness = BotHarness(discord, Path(tmp), **SETTINGS, **generous_limits())
            harness.poll_schedule = poll_delay
            await harness.start()
            try:
                async def fire(group: list[int], label: str) -> Burst:
                    return await in_process_burst(harness, group, label)

                return await measure(harness, fire, users, bursts, probe)
            finally:
                await harness.stop()


async def run_split(burst_size: int, bursts: int, probe: LockProbe | None) -> tuple[list[Burst], int]:
    users = members(burst_size)
    child = Child(discord_child, 0, burst_size)
    try:
        urls = await child.start()
        with tempfile.TemporaryDirectory(prefix="bench-ack-") as tmp, \
                discord_py_pointed_at(urls["base_url"], urls["gateway_url"]):
            # The fake Discord is in the child; the harness is only used to start and stop the bot.
            harness = BotHarness(cast(FakeDiscord, None), Path(tmp), **SETTINGS, **generous_limits())
            harness.poll_schedule = poll_delay
            await harness.start()
            try:
                async def fire(group: list[int], label: str) -> Burst:
                    answer = await child.ask("burst", timeout=RESPONSE_TIMEOUT + 30, users=group, label=label,
                                             timeout_each=RESPONSE_TIMEOUT)
                    answers: list[Answer] = [(lat, flags, err) for lat, flags, err in answer["answers"]]
                    return Burst.of(answers, answer["wall"])

                return await measure(harness, fire, users, bursts, probe)
            finally:
                await harness.stop()
    finally:
        await child.close()


def figure(label: str, results: list[Burst], burst_size: int) -> Figure:
    worst = max(results, key=lambda b: percentile(b.latencies, 99))
    worst_p99 = percentile(worst.latencies, 99)
    everyone_answered = all(b.unanswered == 0 and b.public == burst_size for b in results)
    measured = (f"p99 {ms(worst_p99)} (worst of {len(results)} bursts; its p50 {ms(percentile(worst.latencies, 50))}"
                f", max {ms(max(worst.latencies))}); {sum(b.public for b in results)}/{len(results) * burst_size} "
                f"public, {sum(b.refused for b in results)} refused")
    return Figure(f"`/video` acknowledgement, {burst_size} commands in one burst ({label})", "p99 under 100 ms",
                  measured, verdict(worst_p99 < TARGET_P99 and everyone_answered))


async def run(burst_size: int = BURST, bursts: int = BURSTS, diagnose: bool = False) -> list[Figure]:
    log_file = setup_logging("ack_latency")
    print(f"/video acknowledgement: {bursts} bursts of {burst_size} commands from {burst_size} different members "
          f"(after {WARM_UP} single warm-up commands)")
    print("  the built-in sandbox provider (nothing completes during the run), the real poll schedule;")
    print("  latency = INTERACTION_CREATE queued by the fake -> the bot's callback request arriving at the fake")
    print(f"  bot log: {log_file}")
    figures = []
    for label, runner in (("fake Discord in the bot's process", run_in_process),
                          ("fake Discord in its own process", run_split)):
        print(f"\n  {label}:")
        with ExitStack() as stack:
            probe = stack.enter_context(LockProbe()) if diagnose else None
            results, queued = await runner(burst_size, bursts, probe)
        for index, burst in enumerate(results, 1):
            print(f"    burst {index}: {burst.line()}")
        print(f"    jobs still queued at the end: {queued} (the sandbox holds every provider slot for an hour)")
        figures.append(figure(label, results, burst_size))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary-json", type=Path, help="also write the figures here (used by python -m bench)")
    parser.add_argument("--diagnose", action="store_true", help="time the bot's database lock during each burst")
    args = parser.parse_args()
    report(asyncio.run(run(diagnose=args.diagnose)), args.summary_json)


if __name__ == "__main__":
    main()
