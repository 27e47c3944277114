"""The garbage collector, tuned for a long-running event loop once the bot has started.

CPython's cyclic collector runs when allocations outnumber deallocations by 700 (the youngest generation),
and now and then walks every object the process holds (a full collection). Under a burst of `/video` the
bot allocates fast: measured with bench/profile_burst.py (bench/PROFILE.md), 40 to 90 young collections and
every other burst a full one, 60 to 120 ms of collecting in a burst answered in about 150 ms, nearly all of
it walking objects made at start-up (modules, discord.py's caches, the catalogue) that live as long as the
process. So after start-up those are frozen (`gc.freeze`: left out of every collection from then on), and
collections run less often: cycles are still collected, a little later.
"""

from __future__ import annotations

import gc

# Young collections after this many net allocations (CPython: 700); the older generations after this many
# collections of the one below (CPython: 10 and 10).
THRESHOLDS = (10_000, 20, 20)


def tune_for_serving() -> None:
    """Collect what start-up left behind, freeze the rest, and collect less often from now on. Call once,
    when the bot has started (the process's own objects are then those it keeps)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
