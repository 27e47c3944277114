"""runblob's reported cost: `price` in the create answer (money, a decimal string), and wherever a status or
webhook carries it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from bot.providers.base import ProviderState, ReportedCost
from bot.providers.runblob import RunblobProvider, price_of
from tests.fakes.runblob import FakeRunblob
from tests.providers import TEST_TIMEOUT, video_request


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunblob]:
    server = FakeRunblob()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def provider(session: aiohttp.ClientSession, fake: FakeRunblob) -> RunblobProvider:
    return RunblobProvider(session, fake.api_key, fake.base_url, timeout=TEST_TIMEOUT)


async def test_the_create_answers_price_is_the_jobs_cost_in_money(provider: RunblobProvider) -> None:
    result = await provider.submit(video_request(), callback_url=None)
    assert result.reported_cost == ReportedCost(Decimal("0.50"))  # the fake answers as the docs: "price": "0.50"


async def test_a_status_without_a_price_reports_none(provider: RunblobProvider, fake: FakeRunblob) -> None:
    result = await provider.submit(video_request(), callback_url=None)
    fake.set_state(result.provider_job_id, "processing")
    update = await provider.status(result.provider_job_id)
    assert update.state is ProviderState.PROCESSING and update.reported_cost is None


def test_a_webhook_with_a_price_carries_it(provider: RunblobProvider) -> None:
    body = json.dumps({"generation_id": "g-1", "status": "completed", "video_url": "https://cdn.example/v.mp4",
                       "price": "1.25"}).encode()
    assert provider.parse_callback(body).reported_cost == ReportedCost(Decimal("1.25"))


@pytest.mark.parametrize(("price", "expected"), [
    ("0.50", Decimal("0.50")), (0.5, Decimal("0.5")), (" 2 ", Decimal("2")), (None, None), ("", None),
    ("free", None), ("-1", None), ("NaN", None), (True, None),
])
def test_price_is_read_defensively(price: object, expected: Decimal | None) -> None:
    cost = price_of(price)  # type: ignore[arg-type]
    assert (cost.amount if cost else None) == expected
    assert cost is None or not cost.units
