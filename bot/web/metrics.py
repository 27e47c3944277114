"""The bot's metrics with prometheus-client, served by the listener at GET /metrics (bot/web/server.py).

Each `PrometheusMetrics` has its own registry, so several bots in one process (the tests) never share or
clash. The core reports through the `bot.core.metrics.Metrics` methods; the gauges that describe the bot's
state (jobs by status, queue depth, jobs tracked, gateway up) are read at scrape time instead.

Exported families (deploy/grafana-dashboard.json and deploy/prometheus-alerts.yml read these names):

- kling_jobs{status}, kling_queue_depth, kling_jobs_tracked, kling_gateway_up: state, read at scrape time
- kling_leader: 1 while this process leads (dispatches, polls, delivers: bot/core/leadership.py), else 0
- kling_provider_calls_total{provider,call,outcome}, kling_provider_call_seconds{provider,call}
- kling_callbacks_total{outcome}, kling_deliveries_total{outcome}
- kling_job_duration_seconds{provider,outcome}: accepted to delivered or failed
- kling_queue_wait_seconds: accepted to submitted
- kling_credits_total{kind}: credits reserved, refunded and granted
- kling_provider_balance{provider}: only once an adapter reports a balance
- kling_build_info{version,python,provider}
- process_* and python_info: prometheus-client's process and platform collectors
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from bot.core.metrics import REFUSED, CreditKind, JobOutcome, Metrics
from bot.core.models import DeliveryOutcome, JobStatus

# The exposition format generate_latest writes, under the name every Prometheus version reads (it is what
# prometheus-client's own handler answers a scraper that asks for no particular format).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# A `<name>_created` series beside every counter and histogram doubles what Prometheus stores and nothing
# here reads it. (A process-wide switch of prometheus-client; nothing else in the bot uses the library.)
disable_created_metrics()

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)  # one provider HTTP call
# A Kling video takes from about a minute to JOB_TIMEOUT_SECONDS (900 s by default) and a little beyond.
JOB_DURATION_BUCKETS = (15.0, 30.0, 60.0, 90.0, 120.0, 180.0, 240.0, 300.0, 450.0, 600.0, 900.0, 1200.0, 1800.0)
# Under a second while provider slots are free; minutes when the fair queue is long.
QUEUE_WAIT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)


@dataclass(frozen=True, slots=True)
class StateSources:
    """Where the state gauges are read from at scrape time."""

    queue_depth: Callable[[], int]
    tracked: Callable[[], int]
    gateway_up: Callable[[], bool]


class StateCollector:
    """Gauges read from the running bot when scraped, rather than kept up to date by every change.

    Job counts come from the database, which a synchronous collector cannot await: the listener reads them
    (cached for a few seconds, bot/web/job_counts.py) and hands them over just before rendering."""

    def __init__(self) -> None:
        self.sources: StateSources | None = None
        self.job_counts: Mapping[JobStatus, int] = {}

    def describe(self) -> Iterator[Metric]:
        """The names this collector owns, so the registry refuses a second owner of any of them."""
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        if self.sources is None:
            return  # no listener wired yet: nothing to say about the state
        yield from self._families(self.sources)

    def _families(self, sources: StateSources | None = None) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("kling_jobs", "Jobs by status.", labels=["status"])
        queue = GaugeMetricFamily("kling_queue_depth", "Jobs waiting for a provider slot.")
        tracked = GaugeMetricFamily("kling_jobs_tracked", "Jobs at the provider being tracked.")
        gateway = GaugeMetricFamily("kling_gateway_up", "1 while the Discord gateway is connected, else 0.")
        if sources is not None:
            for status in JobStatus:
                jobs.add_metric([status.value], self.job_counts.get(status, 0))
            queue.add_metric([], sources.queue_depth())
            tracked.add_metric([], sources.tracked())
            gateway.add_metric([], 1 if sources.gateway_up() else 0)
        yield from (jobs, queue, tracked, gateway)


def package_version() -> str:
    try:
        return metadata.version("kling-bot")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class PrometheusMetrics(Metrics):
    """`bot.core.metrics.Metrics` in a registry of its own, rendered by `exposition`."""

    def __init__(self, *, provider: str) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self.state = StateCollector()
        registry.register(self.state)
        Info("kling_build", "The running bot: its version, Python's and the configured provider.",
             registry=registry).info({"version": package_version(), "python": platform.python_version(),
                                      "provider": provider})
        self._provider_calls = Counter("kling_provider_calls", "Provider API calls.",
                                       ["provider", "call", "outcome"], registry=registry)
        self._provider_seconds = Histogram("kling_provider_call_seconds", "Provider API call latency.",
                                           ["provider", "call"], buckets=LATENCY_BUCKETS, registry=registry)
        self._callbacks = Counter("kling_callbacks", "Provider callbacks by outcome.", ["outcome"],
                                  registry=registry)
        self._deliveries = Counter("kling_deliveries", "Finished videos by delivery outcome.", ["outcome"],
                                   registry=registry)
        self._job_duration = Histogram(
            "kling_job_duration_seconds", "Time from a job's acceptance to its delivery or failure.",
            ["provider", "outcome"], buckets=JOB_DURATION_BUCKETS, registry=registry)
        self._queue_wait = Histogram("kling_queue_wait_seconds", "Time from a job's acceptance to its submission.",
                                     buckets=QUEUE_WAIT_BUCKETS, registry=registry)
        self._credits = Counter("kling_credits", "Credits through the ledger: reserved, refunded, granted.",
                                ["kind"], registry=registry)
        self._balance = Gauge("kling_provider_balance", "The account balance a provider reported, in its unit.",
                              ["provider"], registry=registry)
        self._leader = Gauge("kling_leader", "1 while this process is the leader (dispatches, polls, delivers), "
                             "else 0.", registry=registry)
        # Series that exist from the start at 0, so rate() and "nothing happened" alerts work before the first
        # event. Callback outcomes and provider call errors appear when they first happen.
        for outcome in (*DeliveryOutcome, REFUSED):
            self._deliveries.labels(outcome)
        for kind in CreditKind:
            self._credits.labels(kind.value)
        for finished in JobOutcome:
            self._job_duration.labels(provider, finished.value)

    def read_state_from(self, sources: StateSources) -> None:
        """Where the state gauges come from (the listener sets this; setting it again replaces it)."""
        self.state.sources = sources

    def exposition(self, job_counts: Mapping[JobStatus, int]) -> bytes:
        """One scrape's Prometheus text, with the job counts the listener has just read."""
        self.state.job_counts = dict(job_counts)
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """One series' current value, 0 when it does not exist (yet)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    # -- bot.core.metrics.Metrics ----------------------------------------------------------------------
    def provider_call(self, provider: str, call: str, outcome: str, seconds: float) -> None:
        self._provider_calls.labels(provider, call, outcome).inc()
        self._provider_seconds.labels(provider, call).observe(max(0.0, seconds))

    def callback(self, outcome: str) -> None:
        self._callbacks.labels(outcome).inc()

    def delivery(self, outcome: str) -> None:
        self._deliveries.labels(outcome).inc()

    def job_finished(self, provider: str, outcome: JobOutcome, seconds: float) -> None:
        self._job_duration.labels(provider, outcome.value).observe(max(0.0, seconds))

    def queue_wait(self, seconds: float) -> None:
        self._queue_wait.observe(max(0.0, seconds))

    def credits(self, kind: CreditKind, amount: int) -> None:
        if amount > 0:  # a free job moves nothing, and a counter only goes up
            self._credits.labels(kind.value).inc(amount)

    def provider_balance(self, provider: str, amount: float) -> None:
        self._balance.labels(provider).set(amount)

    def leader(self, leading: bool) -> None:
        self._leader.set(1 if leading else 0)
