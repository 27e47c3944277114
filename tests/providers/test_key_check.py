"""`check_key` (for `kling-bot check`): every adapter against its fake, over real HTTP. A good key is
accepted, a wrong one refused, through one status lookup that creates nothing; the key is never echoed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import pytest

from bot.providers.base import Provider
from bot.providers.cometapi import CometapiProvider
from bot.providers.kling import KlingProvider
from bot.providers.runbase import RunbaseProvider
from bot.providers.runblob import RunblobProvider
from bot.providers.sandbox import SandboxProvider
from bot.providers.segmind import SegmindProvider
from tests.fakes.cometapi import FakeCometapi
from tests.fakes.kling import FakeKling
from tests.fakes.provider_base import FakeProviderServer
from tests.fakes.runbase import FakeRunbase
from tests.fakes.runblob import FakeRunblob
from tests.fakes.segmind import FakeSegmind
from tests.providers import TEST_TIMEOUT, closed_base_url

WRONG = "wrong-key-0123456789"


@dataclass
class Case:
    name: str
    fake_class: type[FakeProviderServer]
    adapter: Callable[[aiohttp.ClientSession, str, bool], Provider]  # (session, base URL, right key?)


def _key(fake_class: type[FakeProviderServer], right: bool) -> str:
    return fake_class.api_key if right else WRONG


CASES = [
    Case("runblob", FakeRunblob,
         lambda s, url, right: RunblobProvider(s, _key(FakeRunblob, right), url, timeout=TEST_TIMEOUT)),
    Case("segmind", FakeSegmind,
         lambda s, url, right: SegmindProvider(s, _key(FakeSegmind, right), url, timeout=TEST_TIMEOUT)),
    Case("cometapi", FakeCometapi,
         lambda s, url, right: CometapiProvider(s, _key(FakeCometapi, right), url, timeout=TEST_TIMEOUT)),
    Case("runbase", FakeRunbase,
         lambda s, url, right: RunbaseProvider(s, _key(FakeRunbase, right), url, timeout=TEST_TIMEOUT)),
    Case("kling", FakeKling,
         lambda s, url, right: KlingProvider(s, FakeKling.access_key, FakeKling.secret_key if right else WRONG, url,
                                             timeout=TEST_TIMEOUT)),
]


@pytest.fixture(params=CASES, ids=lambda case: case.name)
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Case, FakeProviderServer]]:
    case: Case = request.param
    fake = case.fake_class()
    await fake.start()
    try:
        yield case, fake
    finally:
        await fake.close()


async def test_a_good_key_is_accepted_by_one_lookup_that_creates_nothing(
    served: tuple[Case, FakeProviderServer], session: aiohttp.ClientSession
) -> None:
    case, fake = served
    result = await case.adapter(session, fake.base_url, True).check_key()
    assert result.ok, result.message
    assert result.message == "key accepted"
    assert len(fake.requests) == 1 and fake.requests[0].method == "GET"
    assert fake.submit_calls == 0 and not fake.jobs


async def test_a_wrong_key_is_refused_without_showing_it(
    served: tuple[Case, FakeProviderServer], session: aiohttp.ClientSession
) -> None:
    case, fake = served
    result = await case.adapter(session, fake.base_url, False).check_key()
    assert not result.ok
    assert result.message.startswith("key refused")
    assert WRONG not in result.message


async def test_a_provider_that_cannot_be_reached_is_not_taken_for_a_good_key(session: aiohttp.ClientSession) -> None:
    result = await RunblobProvider(session, "any-key-123456", closed_base_url(), timeout=TEST_TIMEOUT).check_key()
    assert not result.ok
    assert result.message.startswith("could not reach the provider")


async def test_an_empty_account_is_reported(runblob: FakeRunblob, session: aiohttp.ClientSession) -> None:
    runblob.fail_next("status", 402, {"detail": "INSUFFICIENT_CREDITS"})
    result = await RunblobProvider(session, runblob.api_key, runblob.base_url, timeout=TEST_TIMEOUT).check_key()
    assert not result.ok
    assert "no credits left" in result.message


async def test_the_sandbox_needs_no_key(session: aiohttp.ClientSession) -> None:
    sandbox = SandboxProvider(session, closed_base_url(), api_key="k" * 20, pending=1, processing=1)
    result = await sandbox.check_key()
    assert result.ok and result.message == "built in, no key"
