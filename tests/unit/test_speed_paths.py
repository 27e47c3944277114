"""What the speed work (bench/PROFILE.md) took off the busy paths, checked where it happens: the day's spend is
summed only when there is a limit (a real SQLite file, its statements traced), callback tokens are the HMAC they
always were, and the garbage collector tuning (in a process of its own: it changes the whole process)."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.callback_tokens import CallbackSigner
from bot.core.models import Job, JobStatus, VideoRequest
from bot.core.spend import DailySpendCharge
from storage.database import Database
from storage.jobs import JobStore
from tests.clock import FakeClock

SUBPROCESS_TIMEOUT = 60


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "bot.sqlite3")
    yield db
    await db.close()


def job(index: int, clock: FakeClock) -> Job:
    return Job(id=f"{index:016x}", guild_id=1, channel_id=2, user_id=3, request=VideoRequest("a fox", 5, "16:9", "std"),
               provider="runblob", status=JobStatus.QUEUED, created_at=clock.now(), updated_at=clock.now())


async def statements_of_insert(database: Database, new: Job, spend: DailySpendCharge) -> list[str]:
    seen: list[str] = []
    await database.run(lambda connection: connection.set_trace_callback(seen.append))
    try:
        await JobStore(database).insert(new, spend=spend)
    finally:
        await database.run(lambda connection: connection.set_trace_callback(None))
    return seen


async def test_the_days_spend_is_summed_only_when_there_is_a_limit(database: Database) -> None:
    clock = FakeClock()
    no_limit = DailySpendCharge(Decimal("0.42"), "2026-11-20", None, timedelta(hours=3))
    limit = DailySpendCharge(Decimal("0.42"), "2026-11-20", Decimal("100"), timedelta(hours=3))
    assert not no_limit.limited and limit.limited
    unlimited = await statements_of_insert(database, job(1, clock), no_limit)
    limited = await statements_of_insert(database, job(2, clock), limit)
    assert not [s for s in unlimited if "SUM(" in s]
    assert [s for s in limited if "SUM(" in s and "spend_day" in s]
    rows = await database.run(
        lambda connection: connection.execute("SELECT id, estimated_cost, spend_day FROM jobs ORDER BY id").fetchall())
    assert [tuple(row) for row in rows] == [(f"{1:016x}", 420000, "2026-11-20"), (f"{2:016x}", 420000, "2026-11-20")]


def test_callback_tokens_are_the_hmac_of_the_job_id() -> None:
    signer = CallbackSigner("a callback secret")
    for job_id in ("0123456789abcdef", "", "\udcff not utf-8"):
        expected = hmac.new(b"a callback secret", job_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        assert signer.token(job_id) == expected[:40]
        assert signer.verify(job_id, expected[:40])
        assert not signer.verify(job_id, "0" * 40)


def test_the_collector_is_tuned_once_started() -> None:
    script = ("import gc; from bot.gc_tuning import THRESHOLDS, tune_for_serving; kept = [[] for _ in range(1000)]; "
              "tune_for_serving(); print(gc.get_threshold() == THRESHOLDS, gc.get_freeze_count() >= 1000)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
                          cwd=Path(__file__).resolve().parents[2], check=True)
    assert done.stdout.split() == ["True", "True"]
