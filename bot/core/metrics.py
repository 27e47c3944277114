"""Counters and latency sums, rendered as Prometheus text by the HTTP listener."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        self.total += seconds
        self.n += 1
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.counts[index] += 1
                return
        self.counts[-1] += 1


class Metrics:
    """What the bot counts. Labels are plain tuples; rendering happens in `bot.web.metrics_text`."""

    def __init__(self) -> None:
        self.provider_calls: Counter[tuple[str, str, str]] = Counter()  # (provider, call, outcome)
        self.provider_latency: dict[tuple[str, str], Histogram] = {}  # (provider, call)
        self.callbacks: Counter[str] = Counter()  # outcome
        self.deliveries: Counter[str] = Counter()  # outcome

    def provider_call(self, provider: str, call: str, outcome: str, seconds: float) -> None:
        self.provider_calls[(provider, call, outcome)] += 1
        self.provider_latency.setdefault((provider, call), Histogram()).observe(seconds)
