"""A job's creative options survive the database (a restart, Re-roll, Remix, Details and /show read them back),
and migration 0008 turns the second image of the providers that took it as a last frame into the end image."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from bot.core.models import CameraMove, Job, JobStatus, Shot, VideoRequest
from storage.database import Database, migrations
from storage.jobs import JobStore

VERSION = 8  # storage/migrations/0008_creative_options.sql
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def job(job_id: str, request: VideoRequest, provider: str = "kling") -> Job:
    return Job(id=job_id, guild_id=1, channel_id=2, user_id=3, request=request, provider=provider,
               status=JobStatus.QUEUED, created_at=NOW, updated_at=NOW, cost=10)


async def test_every_creative_option_is_read_back_as_it_was_stored(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "bot.sqlite3")
    store = JobStore(database)
    framed = VideoRequest("a fox", 5, "16:9", "std", audio=True, image_urls=("https://cdn.example/a.png",),
                          end_image_url="https://cdn.example/z.png", camera=CameraMove("zoom_in", 7))
    combined = VideoRequest("a fox", 5, "9:16", "pro", camera=CameraMove("down_back"))
    shots = (Shot("a cat jumps — «onto» the table", 5), Shot("close-up", 5))
    storyboard = VideoRequest("5: a cat jumps — «onto» the table\n5: close-up", 10, "1:1", "std", shots=shots)
    for number, request in enumerate((framed, combined, storyboard, VideoRequest("plain", 5, "16:9", "std"))):
        await store.insert(job(f"{number:016x}", request))
        loaded = await store.get(f"{number:016x}")
        assert loaded is not None and loaded.request == request
    await database.close()


async def test_migration_0008_moves_a_last_frame_into_the_end_image(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    for version, _, sql in migrations():
        if version < VERSION:
            connection.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    rows = [("a" * 16, "kling", '["https://x/first.png", "https://x/last.png"]'),
            ("b" * 16, "segmind", '["https://x/first.png", "https://x/last.png"]'),
            ("c" * 16, "runblob", '["https://x/one.png", "https://x/two.png"]'),  # reference images: kept
            ("d" * 16, "runbase", '["https://x/first.png"]')]
    for job_id, provider, images in rows:
        connection.execute(
            """INSERT INTO jobs (id, guild_id, channel_id, user_id, provider, prompt, duration, aspect, mode,
                   image_urls, status, created_at, updated_at)
               VALUES (?, 1, 2, 3, ?, 'a fox', 5, '16:9', 'std', ?, 'delivered', ?, ?)""",
            (job_id, provider, images, NOW.isoformat(), NOW.isoformat()))
    connection.close()

    database = await Database.open(path)
    store = JobStore(database)
    loaded = {job_id: await store.get(job_id) for job_id, _, _ in rows}
    await database.close()

    requests = {job_id: found.request for job_id, found in loaded.items() if found is not None}
    assert requests["a" * 16].image_urls == ("https://x/first.png",)
    assert requests["a" * 16].end_image_url == "https://x/last.png"
    assert requests["b" * 16].end_image_url == "https://x/last.png"
    assert requests["c" * 16].image_urls == ("https://x/one.png", "https://x/two.png")
    assert requests["c" * 16].end_image_url is None
    assert requests["d" * 16] == VideoRequest("a fox", 5, "16:9", "std", image_urls=("https://x/first.png",))
    assert all(request.camera is None and request.shots == () for request in requests.values())
