"""`/video` acknowledgement under a burst: 200 commands dispatched at once by the fake Discord, for our bot
and, in the same run, for a minimal discord.py bot.

Measured: FakeInteraction.response_latency, the time from the fake writing INTERACTION_CREATE to the bot's
websocket to the bot's interaction callback request arriving at the fake (building a burst's interactions
comes before the first is written, and is the fake's time, not the bot's). The fake Discord runs in a
process of its own, so that its own CPU work (building and parsing 200 interactions, answering the
callbacks and edits) is off the bot's loop as the real Discord would be.

Our bot runs on the built-in sandbox with timings so long that nothing completes during the run; each
command comes from a different member, and quotas are set generously, so that every command can be
accepted. The minimal bot is a plain `discord.Client` with an `app_commands.CommandTree` and one
`/video` command that only answers with a short message: no database, no queue, none of our cogs. Both
connect to the same fake Discord, one after the other, and get the same warm-up, the same 5 bursts and
the same 40 single commands. Each figure is the median of the 5 bursts, with their min and max.

Then the floor, informational: the same commands answered by bench/_raw_answerer.py, which does no work and
uses no library on the answer's way (requests written by hand, pipelined). Its latency is the fake's own time and
the machine's, which every bot's figure includes.

Last, as an extra (informational) row, our bot again with the fake Discord in the bot's own process and
event loop, as the tests run it.

    python -m bench.ack_latency [--loop uvloop|asyncio] [--diagnose]

--loop: the event loop of this process (our bot's and the minimal bot's); default: EVENT_LOOP's default.
--diagnose also counts the bot's database work during each burst.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import discord
from discord import app_commands

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
from bench._raw_answerer import RawAnswerer
from bot.core.schedule import poll_delay
from bot.event_loop import EVENT_LOOPS, default_event_loop, run_on
from bot.gc_tuning import tune_for_serving
from tests.fakes.discord import FakeDiscord
from tests.harness import BotHarness

BURST = 200
BURSTS = 5
WARM_UP = 5
SINGLES = 40  # commands sent one at a time, each after the previous one's answer
TARGET_P99 = 0.050
TARGET_RATIO = 0.3
TARGET_SINGLE_P50 = 0.002
RESPONSE_TIMEOUT = 15.0
READY_TIMEOUT = 30.0
SETTINGS: dict[str, Any] = {"sandbox_pending_seconds": 3600.0, "sandbox_processing_seconds": 3600.0}

# One answer as the fake saw it: (latency in s or None, message flags or None if unanswered, had errors).
Answer = tuple[float | None, int | None, bool]
Fire = Callable[[list[int], str], Awaitable["Burst"]]


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


@dataclass
class Spread:
    """The median of some measurements, with their min and max."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if not values:
            return cls(float("nan"), float("nan"), float("nan"))
        return cls(statistics.median(values), min(values), max(values))

    def __str__(self) -> str:
        return f"{self.median * 1000:.1f} ms ({self.low * 1000:.1f}–{self.high * 1000:.1f})"


@dataclass
class Run:
    """One bot's bursts and single commands."""

    bursts: list[Burst]
    singles: list[float]  # latencies of the commands sent one at a time
    queued: int | None = None  # our bot only: jobs still queued at the end

    def p99(self) -> Spread:
        return Spread.of([percentile(b.latencies, 99) for b in self.bursts])

    def p50(self) -> Spread:
        return Spread.of([percentile(b.latencies, 50) for b in self.bursts])

    def single_p50(self) -> float:
        return percentile(self.singles, 50)

    def everyone_answered(self, burst_size: int) -> bool:
        return all(b.unanswered == 0 and b.public == burst_size for b in self.bursts)

    def counts(self, burst_size: int) -> str:
        return (f"{sum(b.public for b in self.bursts)}/{len(self.bursts) * burst_size} public, "
                f"{sum(b.refused for b in self.bursts)} refused")

    def print(self, indent: str = "    ") -> None:
        for index, burst in enumerate(self.bursts, 1):
            print(f"{indent}burst {index}: {burst.line()}")
        print(f"{indent}median of {len(self.bursts)} bursts (min–max): p50 {self.p50()}, p99 {self.p99()}")
        print(f"{indent}{len(self.singles)} single commands: p50 {ms(self.single_p50())}, "
              f"p99 {ms(percentile(self.singles, 99))}")
        if self.queued is not None:
            print(f"{indent}jobs still queued at the end: {self.queued} (the sandbox holds every provider slot "
                  f"for an hour)")


# -- the minimal bot ----------------------------------------------------------------------------------
class MinimalBot(discord.Client):
    """The smallest discord.py bot that answers `/video`: what any bot pays before doing its own work."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="video", description="Acknowledge a video request")
        async def video(interaction: discord.Interaction, prompt: str, duration: int = 5,
                        aspect: str = "16:9") -> None:
            await interaction.response.send_message("Queued.")


async def run_minimal(child: Child, users: list[int], bursts: int) -> Run:
    bot = MinimalBot()
    task = asyncio.create_task(bot.start("fake-bot-token"))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), READY_TIMEOUT)
        return await measure(fire_through(child), users, bursts, settle=None, probe=None)
    finally:
        await bot.close()
        await asyncio.wait_for(task, READY_TIMEOUT)


async def run_floor(child: Child, urls: dict[str, str], users: list[int], bursts: int) -> Run:
    """The same commands answered by RawAnswerer: the floor, the fake's and the machine's own time."""
    async with RawAnswerer(urls["base_url"], urls["gateway_url"], "fake-bot-token") as answerer:
        run = await measure(fire_through(child), users, bursts, settle=None, probe=None)
    if answerer.refused:
        print(f"    the raw answerer was refused {len(answerer.refused)} times: {answerer.refused[0]!r}")
    return run


# -- measuring ----------------------------------------------------------------------------------------
def fire_through(child: Child) -> Fire:
    """Commands dispatched by the fake Discord in its own process."""
    async def fire(group: list[int], label: str) -> Burst:
        answer = await child.ask("burst", timeout=RESPONSE_TIMEOUT + 30, users=group, label=label,
                                 timeout_each=RESPONSE_TIMEOUT)
        answers: list[Answer] = [(lat, flags, err) for lat, flags, err in answer["answers"]]
        return Burst.of(answers, answer["wall"])

    return fire


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


async def measure(fire: Fire, users: list[int], bursts: int, settle: Callable[[], Awaitable[Any]] | None,
                  probe: LockProbe | None) -> Run:
    async def settled() -> None:
        if settle is not None:
            await settle()  # our bot: the queue-position edits of what was just sent

    # A few single commands first, so that one-off costs (first connections, caches) are not measured.
    for n in range(WARM_UP):
        await fire(users[n : n + 1], f"warm-up {n}")
    await settled()
    results = []
    for index in range(bursts):
        if probe is not None:
            probe.reset()
        cpu = time.process_time()
        burst = await fire(users, f"burst {index + 1}")
        burst.cpu = time.process_time() - cpu
        results.append(burst)
        if probe is not None:
            for line in probe.describe(burst.wall):
                print(f"    burst {index + 1} database lock: {line}")
        await settled()
        await asyncio.sleep(0.5)
    # One at a time, each member's second job (the quotas allow it), after the edits of the bursts.
    singles: list[float] = []
    for n in range(min(SINGLES, len(users))):
        single = await fire(users[n : n + 1], f"single {n}")
        singles.extend(single.latencies)
    await settled()
    return Run(results, singles)


def our_bot(tmp: str) -> BotHarness:
    # With the fake Discord in another process the harness only starts and stops the bot.
    harness = BotHarness(cast(FakeDiscord, None), Path(tmp), **SETTINGS, **generous_limits())
    harness.poll_schedule = poll_delay
    return harness


async def run_ours(child: Child, users: list[int], bursts: int, probe: LockProbe | None) -> Run:
    with tempfile.TemporaryDirectory(prefix="bench-ack-") as tmp:
        harness = our_bot(tmp)
        await harness.start()
        tune_for_serving()  # as Application.run_forever does once started (bot/gc_tuning.py)
        try:
            result = await measure(fire_through(child), users, bursts, harness.running.publisher.wait_for_edits,
                                   probe)
            result.queued = len(harness.running.dispatcher.queue)
            return result
        finally:
            await harness.stop()


async def run_in_process(burst_size: int, bursts: int, probe: LockProbe | None) -> Run:
    users = members(burst_size)
    with tempfile.TemporaryDirectory(prefix="bench-ack-") as tmp:
        async with fake_discord(burst_size) as discord_fake:
            harness = BotHarness(discord_fake, Path(tmp), **SETTINGS, **generous_limits())
            harness.poll_schedule = poll_delay
            await harness.start()
            tune_for_serving()  # as Application.run_forever does once started (bot/gc_tuning.py)
            try:
                async def fire(group: list[int], label: str) -> Burst:
                    return await in_process_burst(harness, group, label)

                result = await measure(fire, users, bursts, harness.running.publisher.wait_for_edits, probe)
                result.queued = len(harness.running.dispatcher.queue)
                return result
            finally:
                await harness.stop()


async def run_split(burst_size: int, bursts: int, probe: LockProbe | None) -> tuple[Run, Run, Run]:
    """Our bot, then the minimal bot, then the raw answerer, against one fake Discord in a child process."""
    users = members(burst_size)
    child = Child(discord_child, 0, burst_size)
    try:
        urls = await child.start()
        with discord_py_pointed_at(urls["base_url"], urls["gateway_url"]):
            ours = await run_ours(child, users, bursts, probe)
            minimal = await run_minimal(child, users, bursts)
        floor = await run_floor(child, urls, users, bursts)
        return ours, minimal, floor
    finally:
        await child.close()


# -- figures ------------------------------------------------------------------------------------------
def figures(ours: Run, minimal: Run, burst_size: int, loop_name: str) -> list[Figure]:
    p99, minimal_p99 = ours.p99(), minimal.p99()
    ratio = p99.median / minimal_p99.median if minimal_p99.median > 0 else float("nan")
    burst = Figure(
        f"`/video` acknowledgement, {burst_size} commands in one burst (fake Discord in its own process; {loop_name})",
        f"p99 under {TARGET_P99 * 1000:.0f} ms",
        f"p99 {p99} (median of {len(ours.bursts)} bursts, min–max); p50 {ours.p50()}; {ours.counts(burst_size)}",
        verdict(p99.median < TARGET_P99 and ours.everyone_answered(burst_size)))
    versus = Figure(
        f"`/video` burst p99, ours ÷ a minimal discord.py bot's (same fake Discord, same burst; {loop_name})",
        f"under {TARGET_RATIO}",
        f"{ratio:.2f} (ours {ms(p99.median)}; the minimal bot's p99 {minimal_p99}, p50 {minimal.p50()}; "
        f"{minimal.counts(burst_size)})",
        verdict(ratio < TARGET_RATIO and minimal.everyone_answered(burst_size)))
    single = Figure(
        f"`/video` acknowledgement, one command at a time ({len(ours.singles)} commands; {loop_name})",
        f"p50 under {TARGET_SINGLE_P50 * 1000:.0f} ms",
        f"p50 {ms(ours.single_p50())} (the minimal bot's {ms(minimal.single_p50())})",
        verdict(ours.single_p50() < TARGET_SINGLE_P50 and len(ours.singles) == min(SINGLES, burst_size)))
    return [burst, versus, single]


def floor_figure(floor: Run, minimal: Run, burst_size: int, loop_name: str) -> Figure:
    p99 = floor.p99()
    ratio = p99.median / minimal.p99().median if minimal.p99().median > 0 else float("nan")
    return Figure(f"the floor: a raw answerer's burst of {burst_size} (no library, no work; same fake Discord; "
                  f"{loop_name})", "informational",
                  f"p99 {p99} (median of {len(floor.bursts)} bursts, min–max), {ratio:.2f} of the minimal bot's; "
                  f"p50 {floor.p50()}; single p50 {ms(floor.single_p50())}; {floor.counts(burst_size)}", "n/a")


def in_process_figure(result: Run, burst_size: int, loop_name: str) -> Figure:
    p99 = result.p99()
    return Figure(f"`/video` acknowledgement, {burst_size} commands in one burst (fake Discord in the bot's process; "
                  f"{loop_name})", "informational",
                  f"p99 {p99} (median of {len(result.bursts)} bursts, min–max); p50 {result.p50()}; "
                  f"{result.counts(burst_size)}", "n/a")


async def run(loop_name: str, burst_size: int = BURST, bursts: int = BURSTS, diagnose: bool = False
              ) -> list[Figure]:
    log_file = setup_logging("ack_latency")
    print(f"/video acknowledgement on {loop_name}: {bursts} bursts of {burst_size} commands from {burst_size} "
          f"different members, then {SINGLES} single commands (after {WARM_UP} single warm-up commands)")
    print("  our bot: the built-in sandbox provider (nothing completes during the run), the real poll schedule;")
    print("  the minimal bot: discord.Client + app_commands.CommandTree, one /video that only answers;")
    print("  latency = INTERACTION_CREATE written to the bot's websocket -> the bot's callback request arriving at "
          "the fake")
    print(f"  bot log: {log_file}")
    with ExitStack() as stack:
        probe = stack.enter_context(LockProbe()) if diagnose else None
        ours, minimal, floor = await run_split(burst_size, bursts, probe)
    print("\n  our bot, fake Discord in its own process:")
    ours.print()
    print("\n  the minimal discord.py bot, the same fake Discord:")
    minimal.print()
    print("\n  the floor: a raw answerer (bench/_raw_answerer.py: no library, no work, pipelined requests), the same "
          "fake Discord:")
    floor.print()
    result = [*figures(ours, minimal, burst_size, loop_name), floor_figure(floor, minimal, burst_size, loop_name)]
    print("\n  our bot, fake Discord in the bot's process (extra):")
    with ExitStack() as stack:
        probe = stack.enter_context(LockProbe()) if diagnose else None
        together = await run_in_process(burst_size, bursts, probe)
    together.print()
    result.append(in_process_figure(together, burst_size, loop_name))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary-json", type=Path, help="also write the figures here (used by python -m bench)")
    parser.add_argument("--loop", choices=EVENT_LOOPS, default=None,
                        help="the event loop to run on (default: EVENT_LOOP's default on this machine)")
    parser.add_argument("--diagnose", action="store_true", help="count the bot's database work during each burst")
    args = parser.parse_args()
    loop_name = args.loop or default_event_loop()
    report(run_on(loop_name, run(loop_name, diagnose=args.diagnose)), args.summary_json)


if __name__ == "__main__":
    main()
