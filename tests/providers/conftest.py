"""Fixtures every contract test uses: one client session, and a receiver for provider callbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.providers import CallbackSink


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def sink() -> AsyncIterator[CallbackSink]:
    receiver = CallbackSink()
    await receiver.start()
    yield receiver
    await receiver.close()
