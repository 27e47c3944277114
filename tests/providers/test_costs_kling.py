"""Kling's costs: `final_unit_deduction` (units of the account's resource packs, not money) in the query
answer's `data` and in callbacks, relayed by cometapi too; and `GET /account/costs`, the resource packs with
what remains of each, behind the same JWT and with Kling's error envelope."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from bot.providers.base import AccountBalance, ErrorKind, ProviderError, ProviderState, ReportedCost
from bot.providers.cometapi import CometapiProvider
from bot.providers.kling import KlingProvider, units_of
from tests.fakes.cometapi import FakeCometapi
from tests.fakes.kling import FakeKling, resource_pack
from tests.providers import TEST_TIMEOUT, video_request

ACCESS, SECRET = "AK-costs-1a2b3c", "SK-costs-4d5e6f"


@pytest.fixture
async def fake() -> AsyncIterator[FakeKling]:
    server = FakeKling()
    server.access_key, server.secret_key = ACCESS, SECRET
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def provider(session: aiohttp.ClientSession, fake: FakeKling) -> KlingProvider:
    return KlingProvider(session, ACCESS, SECRET, fake.base_url, timeout=TEST_TIMEOUT)


async def test_a_finished_task_reports_its_units(provider: KlingProvider, fake: FakeKling) -> None:
    fake.unit_deduction = "2.5"
    result = await provider.submit(video_request(), callback_url=None)
    assert result.reported_cost is None  # the create answer says nothing of cost
    await fake.finish(result.provider_job_id)
    update = await provider.status(result.provider_job_id)
    assert update.state is ProviderState.COMPLETED
    assert update.reported_cost == ReportedCost(Decimal("2.5"), units=True)


async def test_a_callback_carries_the_units(provider: KlingProvider) -> None:
    body = json.dumps({"task_id": "881", "task_status": "succeed", "final_unit_deduction": "1",
                       "task_info": {"external_task_id": "text2video-x"},
                       "task_result": {"videos": [{"id": "v", "url": "https://cdn.example/v.mp4", "duration": "5"}]}})
    assert provider.parse_callback(body.encode()).reported_cost == ReportedCost(Decimal("1"), units=True)


async def test_cometapi_relays_the_same_units(session: aiohttp.ClientSession) -> None:
    fake = FakeCometapi()
    await fake.start()
    try:
        provider = CometapiProvider(session, fake.api_key, fake.base_url, timeout=TEST_TIMEOUT)
        result = await provider.submit(video_request(), callback_url=None)
        await fake.finish(result.provider_job_id)
        update = await provider.status(result.provider_job_id)
        assert update.reported_cost == ReportedCost(Decimal("1"), units=True)
        assert not hasattr(provider, "balance")  # the relay has no account inquiry of Kling's
    finally:
        await fake.close()


@pytest.mark.parametrize(("deduction", "expected"), [
    ("3", Decimal("3")), ("0.75", Decimal("0.75")), ("", None), (None, None), ("x", None), ("-2", None)])
def test_units_are_read_defensively(deduction: str | None, expected: Decimal | None) -> None:
    cost = units_of(deduction)
    assert (cost.amount if cost else None) == expected


async def test_balance_sums_the_online_packs(provider: KlingProvider, fake: FakeKling) -> None:
    fake.resource_packs = [
        resource_pack("video 1000", total=1000, remaining=640.5),
        resource_pack("video 500", total=500, remaining=100),
        resource_pack("used up", total=100, remaining=0, status="runOut"),
        resource_pack("old", total=300, remaining=300, status="expired"),
        resource_pack("next month", total=200, remaining=200, status="toBeOnline"),
    ]
    assert await provider.balance() == AccountBalance(Decimal("740.5"), units=True)
    sent = fake.requests[-1]
    assert sent.method == "GET" and sent.path == "/account/costs"
    assert sent.headers["Authorization"].startswith("Bearer ey")  # the same JWT as every Kling call
    assert fake.balance_calls == 1


async def test_balance_asks_for_a_year_of_packs(provider: KlingProvider, fake: FakeKling) -> None:
    fake.resource_packs = [resource_pack("recent", total=10, remaining=10, bought_days_ago=300),
                           resource_pack("ancient", total=10, remaining=10, bought_days_ago=400)]
    assert (await provider.balance()).amount == Decimal(10)


async def test_balance_errors_use_kling_codes(provider: KlingProvider, fake: FakeKling) -> None:
    fake.fail_next("balance", 429, {"code": 1302, "message": "too fast", "request_id": "r"})
    with pytest.raises(ProviderError) as raised:
        await provider.balance()
    assert raised.value.kind is ErrorKind.RATE_LIMITED
    fake.fail_next("balance", 200, {"code": 1100, "message": "account abnormal", "request_id": "r"})
    with pytest.raises(ProviderError) as raised:
        await provider.balance()
    assert raised.value.kind is ErrorKind.MISCONFIGURED


async def test_balance_with_a_wrong_secret_is_refused(session: aiohttp.ClientSession, fake: FakeKling) -> None:
    provider = KlingProvider(session, ACCESS, "not-the-secret", fake.base_url, timeout=TEST_TIMEOUT)
    with pytest.raises(ProviderError) as raised:
        await provider.balance()
    assert raised.value.kind is ErrorKind.MISCONFIGURED and raised.value.status == 401
    assert "not-the-secret" not in str(raised.value)


async def test_the_fake_wants_the_time_window(fake: FakeKling, session: aiohttp.ClientSession,
                                              provider: KlingProvider) -> None:
    """As documented: start_time and end_time are required (the adapter always sends them)."""
    await provider.balance()
    token = fake.requests[-1].headers["Authorization"]
    async with session.get(f"{fake.base_url}/account/costs", headers={"Authorization": token}) as answer:
        body = await answer.json()
    assert answer.status == 400 and body["code"] == 1201
