"""GET /metrics from the running bot's listener, parsed with prometheus-client's own parser."""

from __future__ import annotations

import aiohttp
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import BotHarness


class Scrape:
    """One scrape: its families by name (a counter's family drops `_total`, as the parser names it)."""

    def __init__(self, text: str, content_type: str) -> None:
        self.text = text
        self.content_type = content_type
        self.families: dict[str, Metric] = {f.name: f for f in text_string_to_metric_families(text)}

    def types(self) -> dict[str, str]:
        return {name: family.type for name, family in self.families.items()}

    def value(self, sample_name: str, **labels: str) -> float | None:
        """The value of the one sample with this name and exactly these labels; None when there is none."""
        for family in self.families.values():
            for sample in family.samples:
                if sample.name == sample_name and sample.labels == labels:
                    return sample.value
        return None

    def labels_of(self, sample_name: str) -> list[dict[str, str]]:
        return [sample.labels for family in self.families.values() for sample in family.samples
                if sample.name == sample_name]


async def scrape(harness: BotHarness, token: str | None = None) -> Scrape:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, \
            session.get(f"{harness.running.listener_url}/metrics", headers=headers) as response:
        assert response.status == 200, await response.text()
        return Scrape(await response.text(), response.headers["Content-Type"])
