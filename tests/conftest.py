from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

import bot.i18n  # noqa: F401  (installs the English renderer behind str(message): bot/core/messages.py)
from tests import postgres
from tests.fakes.discord import FakeDiscord
from tests.fakes.media_host import FakeMediaHost
from tests.fakes.runblob import FakeRunblob
from tests.harness import ALICE, BOB, CHANNEL, GUILD, OTHER_CHANNEL, BotHarness, free_port
from tests.loop_choice import chosen_test_loop
from tests.stuck_tasks import pytest_runtest_protocol, tracked  # noqa: F401  (a hook: prints a stuck test's tasks)


def pytest_asyncio_loop_factories(config: pytest.Config,
                                  item: pytest.Item) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """pytest-asyncio's loop for every test: TEST_EVENT_LOOP=uvloop runs the suite on uvloop. One factory, so the
    tests keep their names (pytest-asyncio 1.4's hook, which replaces overriding `event_loop_policy`)."""
    if chosen_test_loop() == "uvloop":
        import uvloop

        return {"uvloop": tracked(uvloop.new_event_loop)}
    return {"asyncio": tracked(asyncio.new_event_loop)}


@pytest.fixture(autouse=True)
def _drop_postgres_databases() -> Iterator[None]:
    """A test's PostgreSQL databases (tests/postgres.py: none unless it used one) go when it ends."""
    yield
    postgres.drop_test_databases()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    postgres.stop_cluster()  # the throwaway PostgreSQL server, when a test started it


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly, at the end of the run, which database the tests ran on and what was skipped."""
    if postgres.server_binaries() is None:
        terminalreporter.write_line(f"{postgres.SKIP_REASON} (install PostgreSQL's server package to run them; "
                                    f"{postgres.REQUIRE_VARIABLE}=1 makes this a failure)", yellow=True)
    elif postgres.e2e_on_postgres():
        terminalreporter.write_line("bots under test used PostgreSQL (TEST_DATABASE=postgres)")


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token="fake-bot-token")
    await fake.start()
    fake.point_discord_py()
    fake.add_guild(GUILD, name="Video Club")
    fake.add_channel(GUILD, CHANNEL, "general")
    fake.add_channel(GUILD, OTHER_CHANNEL, "art")
    fake.add_member(GUILD, ALICE, "alice")
    fake.add_member(GUILD, BOB, "bob")
    try:
        yield fake
    finally:
        fake.restore_discord_py()
        await fake.close()


@pytest.fixture
async def runblob() -> AsyncIterator[FakeRunblob]:
    fake = FakeRunblob()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def sandbox_bot(discord_fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[BotHarness]:
    harness = BotHarness(discord_fake, tmp_path)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


def runblob_harness(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, **settings: object) -> BotHarness:
    return BotHarness(discord_fake, tmp_path, kling_provider="runblob", runblob_api_key=runblob.api_key,
                      runblob_base_url=runblob.base_url, **settings)


def pushed_harness(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path, **settings: object) -> BotHarness:
    """The bot on runblob with callbacks: PUBLIC_BASE_URL points at its own listener."""
    port = free_port()
    return runblob_harness(discord_fake, runblob, tmp_path, http_port=port, public_base_url=f"http://127.0.0.1:{port}",
                           **settings)


@pytest.fixture
async def pushed(discord_fake: FakeDiscord, runblob: FakeRunblob, tmp_path: Path) -> AsyncIterator[BotHarness]:
    harness = pushed_harness(discord_fake, runblob, tmp_path)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
async def cdn() -> AsyncIterator[FakeMediaHost]:
    """A media host on 127.0.0.1, inside the test allow list (DOWNLOAD_ALLOW_NETWORKS=127.0.0.1/32)."""
    host = FakeMediaHost("127.0.0.1")
    await host.start()
    try:
        yield host
    finally:
        await host.close()


@pytest.fixture
async def internal() -> AsyncIterator[FakeMediaHost]:
    """A media host on 127.0.0.2: loopback, not in the allow list (an internal service, as far as the bot knows)."""
    host = FakeMediaHost("127.0.0.2")
    await host.start()
    try:
        yield host
    finally:
        await host.close()
