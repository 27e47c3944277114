"""What the core counts, as methods: the core tells what happened, the edge decides how it is exposed.

`Metrics` itself records nothing; it is what unit tests and tools without a listener use. The running bot
hands the core `bot.web.metrics.PrometheusMetrics`, which overrides every method and serves the result at
GET /metrics. The core never imports a metrics library.
"""

from __future__ import annotations

import enum

# The delivery outcome counted when a video's link was refused (the others are DeliveryOutcome values).
REFUSED = "refused"


class CreditKind(enum.StrEnum):
    """Which ledger movement `Metrics.credits` counts."""

    RESERVE = "reserve"  # a job's charge, taken when it is accepted
    REFUND = "refund"  # a failed job's charge given back
    GRANT = "grant"  # extra credits a moderator gave a member


class JobOutcome(enum.StrEnum):
    """How a job ended, for `Metrics.job_finished`."""

    DELIVERED = "delivered"
    FAILED = "failed"


class Metrics:
    """The core's metrics interface. Every method is cheap and does no I/O: it is called on the job's path."""

    def provider_call(self, provider: str, call: str, outcome: str, seconds: float) -> None:
        """One provider API call (`call`: submit or status; `outcome`: ok or the error kind) and its latency."""

    def callback(self, outcome: str) -> None:
        """One provider callback answered by the listener, by outcome (applied, duplicate, forbidden, ...)."""

    def delivery(self, outcome: str) -> None:
        """One finished video handed over (a DeliveryOutcome value), or REFUSED (its link was refused)."""

    def job_finished(self, provider: str, outcome: JobOutcome, seconds: float) -> None:
        """A job reached DELIVERED or FAILED, `seconds` after it was accepted."""

    def queue_wait(self, seconds: float) -> None:
        """A job was accepted by the provider (QUEUED -> SUBMITTED), `seconds` after the bot accepted it."""

    def credits(self, kind: CreditKind, amount: int) -> None:
        """Credits that moved through the ledger: a job's charge, a refund or a moderator's grant."""

    def leader(self, leading: bool) -> None:
        """Whether this process now leads: runs the dispatcher, the poll loop and delivery (bot/core/leadership.py)."""

    def provider_balance(self, provider: str, amount: float) -> None:
        """The account balance a provider reported (in its own unit). No adapter reports one yet: an adapter
        that learns its balance calls this, and until then the bot exports no balance series at all."""
