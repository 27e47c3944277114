"""Prometheus text exposition of the bot's metrics."""

from __future__ import annotations

from bot.core.metrics import LATENCY_BUCKETS, Metrics
from bot.core.models import JobStatus


def _labels(**labels: str) -> str:
    inner = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return "{" + inner + "}"


def render_metrics(metrics: Metrics, jobs: dict[JobStatus, int], queue_depth: int, tracked: int) -> str:
    lines = ["# HELP kling_jobs Jobs by status.", "# TYPE kling_jobs gauge"]
    lines += [f"kling_jobs{_labels(status=status.value)} {count}" for status, count in jobs.items()]
    lines += ["# HELP kling_queue_depth Jobs waiting for a provider slot.", "# TYPE kling_queue_depth gauge",
              f"kling_queue_depth {queue_depth}",
              "# HELP kling_jobs_tracked Jobs at the provider being tracked.", "# TYPE kling_jobs_tracked gauge",
              f"kling_jobs_tracked {tracked}"]
    lines += ["# HELP kling_provider_calls_total Provider API calls.", "# TYPE kling_provider_calls_total counter"]
    for (provider, call, outcome), count in sorted(metrics.provider_calls.items()):
        lines.append(f"kling_provider_calls_total{_labels(provider=provider, call=call, outcome=outcome)} {count}")
    lines += ["# HELP kling_provider_call_seconds Provider API call latency.",
              "# TYPE kling_provider_call_seconds histogram"]
    for (provider, call), histogram in sorted(metrics.provider_latency.items()):
        cumulative = 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), histogram.counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            labels = _labels(provider=provider, call=call, le=le)
            lines.append(f"kling_provider_call_seconds_bucket{labels} {cumulative}")
        lines.append(f"kling_provider_call_seconds_sum{_labels(provider=provider, call=call)} {histogram.total:.6f}")
        lines.append(f"kling_provider_call_seconds_count{_labels(provider=provider, call=call)} {histogram.n}")
    lines += ["# HELP kling_callbacks_total Provider callbacks by outcome.", "# TYPE kling_callbacks_total counter"]
    lines += [f"kling_callbacks_total{_labels(outcome=k)} {v}" for k, v in sorted(metrics.callbacks.items())]
    lines += ["# HELP kling_deliveries_total Finished videos by delivery outcome.",
              "# TYPE kling_deliveries_total counter"]
    lines += [f"kling_deliveries_total{_labels(outcome=k)} {v}" for k, v in sorted(metrics.deliveries.items())]
    return "\n".join(lines) + "\n"
