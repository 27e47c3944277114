"""The media archive's bounds on a real folder: age, total size (oldest first), partial files, and
files that are not the archive's own."""

from __future__ import annotations

import os
from pathlib import Path

from bot.core.media_archive import MediaArchive

NOW = 1_900_000_000.0
DAY = 86400


def archive(folder: Path, *, retention_days: int = 30, max_bytes: int = 0) -> MediaArchive:
    return MediaArchive(folder, url_for=lambda name: f"https://bot.example/media/{name}",
                        retention_days=retention_days, max_bytes=max_bytes, now=lambda: NOW)


def video(folder: Path, job_id: str, size: int, age_days: float) -> Path:
    path = folder / f"{job_id}.mp4"
    path.write_bytes(b"\x00" * size)
    os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))
    return path


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_videos_past_the_retention_go(tmp_path: Path) -> None:
    video(tmp_path, "a" * 16, 10, age_days=31)
    video(tmp_path, "b" * 16, 10, age_days=29)
    assert archive(tmp_path).prune() == ["a" * 16 + ".mp4"]
    assert names(tmp_path) == ["b" * 16 + ".mp4"]


def test_retention_zero_keeps_them_for_ever(tmp_path: Path) -> None:
    video(tmp_path, "a" * 16, 10, age_days=3000)
    assert archive(tmp_path, retention_days=0).prune() == []


def test_the_size_bound_removes_the_oldest_first(tmp_path: Path) -> None:
    video(tmp_path, "c" * 16, 100, age_days=1)
    video(tmp_path, "a" * 16, 100, age_days=3)
    video(tmp_path, "b" * 16, 100, age_days=2)
    assert archive(tmp_path, max_bytes=150).prune() == ["a" * 16 + ".mp4", "b" * 16 + ".mp4"]
    assert names(tmp_path) == ["c" * 16 + ".mp4"]
    assert archive(tmp_path, max_bytes=0).prune() == []


def test_only_the_archives_own_files_are_touched(tmp_path: Path) -> None:
    for name in ("notes.txt", "ABCDEF0123456789.mp4", "backup.sqlite3"):
        (tmp_path / name).write_bytes(b"x" * 1000)
        os.utime(tmp_path / name, (NOW - 400 * DAY, NOW - 400 * DAY))
    assert archive(tmp_path, max_bytes=1).prune() == []
    assert len(names(tmp_path)) == 3


def test_partials_are_hidden_renamed_when_kept_and_swept(tmp_path: Path) -> None:
    media = archive(tmp_path / "media")
    partial = media.partial_path("0123456789abcdef.mp4")
    assert partial.parent == tmp_path / "media" and partial.name.startswith(".")
    partial.write_bytes(b"video")
    assert media.keep(partial, "0123456789abcdef.mp4") == "https://bot.example/media/0123456789abcdef.mp4"
    assert names(tmp_path / "media") == ["0123456789abcdef.mp4"]

    left_over = media.partial_path("fedcba9876543210.mp4")
    left_over.write_bytes(b"half")
    os.utime(left_over, (NOW - 3600, NOW - 3600))  # untouched for an hour: a crash's leftover
    being_written = media.partial_path("0011223344556677.mp4")  # by another process sharing MEDIA_DIR
    being_written.write_bytes(b"half")
    os.utime(being_written, (NOW - 5, NOW - 5))
    assert media.sweep_partials() == 1
    assert names(tmp_path / "media") == sorted(["0123456789abcdef.mp4", being_written.name])
    assert not left_over.exists()


def test_the_download_limit_never_exceeds_the_size_bound(tmp_path: Path) -> None:
    assert archive(tmp_path, max_bytes=1000).download_limit == 1000
    assert archive(tmp_path, max_bytes=0).download_limit == 2 * 1024**3


def test_a_missing_folder_is_empty(tmp_path: Path) -> None:
    media = archive(tmp_path / "not-yet")
    assert media.prune() == [] and media.sweep_partials() == 0
