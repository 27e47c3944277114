"""The fake Discord's CDN is honest about signed attachment links: they carry `ex`, `is` and `hm`, answer 404
once expired or tampered with, and `POST /attachments/refresh-urls` signs them afresh. Plain HTTP, as the
bot's discord.py client would send it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.discord import FakeDiscord

pytestmark = pytest.mark.timeout(30)

TOKEN = "fake-bot-token"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    discord = FakeDiscord(token=TOKEN)
    await discord.start()
    discord.add_guild(1)
    discord.add_channel(1, 10)
    discord.add_member(1, 42, "alice")
    try:
        yield discord
    finally:
        await discord.close()


async def get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


async def refresh(fake: FakeDiscord, urls: list[str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(
        f"{fake.base_url}/attachments/refresh-urls", json={"attachment_urls": urls},
        headers={"Authorization": f"Bot {TOKEN}"},
    ) as response:
        return response.status, await response.json(content_type=None)


async def test_signed_links_work_until_they_expire_and_refresh_gives_working_ones(fake: FakeDiscord) -> None:
    upload = fake.add_attachment(PNG, "cat.png", "image/png")
    posted = fake.post_member_message(10, 42, files=[(PNG, "dog.png", "image/png")])["attachments"][0]
    for url in (upload["url"], posted["url"]):
        assert "?ex=" in url and "&is=" in url and "&hm=" in url
        assert await get(url) == (200, PNG)
        assert (await get(url.partition("?")[0]))[0] == 404  # unsigned
        assert (await get(url.replace("hm=", "hm=0")))[0] == 404  # tampered
    fake.expire_attachments()
    assert (await get(upload["url"]))[0] == 404
    status, answer = await refresh(fake, [upload["url"], posted["url"], "https://example.org/x.png"])
    assert status == 200
    renewed = {entry["original"]: entry["refreshed"] for entry in answer["refreshed_urls"]}
    assert set(renewed) == {upload["url"], posted["url"]}  # a link that is not the CDN's is left out
    for url in renewed.values():
        assert await get(url) == (200, PNG)
    assert fake.refreshed_urls == [upload["url"], posted["url"], "https://example.org/x.png"]


async def test_refresh_leaves_out_deleted_files_and_refuses_a_bad_body(fake: FakeDiscord) -> None:
    upload = fake.add_attachment(PNG, "cat.png", "image/png")
    del fake.attachment_data[int(upload["id"])]
    assert await refresh(fake, [upload["url"]]) == (200, {"refreshed_urls": []})
    status, answer = await refresh(fake, [])
    assert status == 400 and answer["code"] == 50035


async def test_a_message_command_needs_a_synced_message_command(fake: FakeDiscord) -> None:
    message = fake.post_member_message(10, 42, "hello")
    with pytest.raises(ValueError, match="no message command"):
        await fake.send_message_command(guild_id=1, channel_id=10, user_id=42, name="Animate",
                                        target_message=message)
