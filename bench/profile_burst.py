"""Where the bot's CPU goes while it acknowledges bursts of `/video`: py-spy (bench/_pyspy.py) samples the
bot's process during the bursts only (not start-up, not the warm-up), and this prints the top functions by
their own time on the event loop's thread, that time by package, and the same for all threads (the
database thread's SQLite work included).

The set-up is bench/ack_latency.py's: the fake Discord in a child process, our bot on the sandbox with
generous limits, 200 members, on the loop EVENT_LOOP would choose. Each burst's queue-position edits
are waited for before the next, as ack_latency does, so they are in the profile too.

    python -m bench.profile_burst [--bursts 20] [--rate 1000] [--top 10] [--raw FILE] [--loop uvloop]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench._common import members, setup_logging
from bench._processes import Child, discord_child, discord_py_pointed_at
from bench._pyspy import Sampler, summarise
from bench.ack_latency import BURST, WARM_UP, Burst, fire_through, our_bot
from bot.event_loop import EVENT_LOOPS, default_event_loop, run_on
from bot.gc_tuning import tune_for_serving


async def profile(bursts: int, rate: int, raw: Path) -> list[Burst]:
    users = members(BURST)
    child = Child(discord_child, 0, BURST)
    results: list[Burst] = []
    try:
        urls = await child.start()
        with discord_py_pointed_at(urls["base_url"], urls["gateway_url"]), \
                tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
            harness = our_bot(tmp)
            await harness.start()
            tune_for_serving()  # as Application.run_forever does once started (bot/gc_tuning.py)
            try:
                fire = fire_through(child)
                for n in range(WARM_UP):
                    await fire(users[n : n + 1], f"warm-up {n}")
                await harness.running.publisher.wait_for_edits()
                async with Sampler(raw, rate):
                    for index in range(bursts):
                        results.append(await fire(users, f"burst {index + 1}"))
                        await harness.running.publisher.wait_for_edits()
            finally:
                await harness.stop()
    finally:
        await child.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bursts", type=int, default=20, help="bursts of 200 /video to sample (default 20)")
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples a second (default 1000)")
    parser.add_argument("--top", type=int, default=10, help="rows in each table (default 10)")
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks in this file")
    parser.add_argument("--loop", choices=EVENT_LOOPS, default=None,
                        help="the event loop to run on (default: EVENT_LOOP's default on this machine)")
    args = parser.parse_args()
    loop_name = args.loop or default_event_loop()
    log_file = setup_logging("profile_burst")
    with tempfile.TemporaryDirectory(prefix="bench-pyspy-") as folder:
        raw = args.raw or Path(folder) / "burst.txt"
        results = run_on(loop_name, profile(args.bursts, args.rate, raw))
        walls = [b.wall * 1000 for b in results]
        print(f"/video bursts profiled on {loop_name}: {len(results)} bursts of {BURST} (each answered in "
              f"{min(walls):.0f}–{max(walls):.0f} ms while sampled; {sum(b.public for b in results)} public, "
              f"{sum(b.refused for b in results)} refused, {sum(b.unanswered for b in results)} unanswered); "
              f"bot log: {log_file}\n")
        print(summarise(raw, args.top))
        print("\nAll threads:\n")
        print(summarise(raw, args.top, main_thread_only=False))


if __name__ == "__main__":
    main()
