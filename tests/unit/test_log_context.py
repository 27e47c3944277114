"""A job's binding stays with that job: work started during one job that goes on to serve others (the alert
sender, the queue-position refresher) never names it on its later lines."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator

import pytest

from bot.config import load_settings
from bot.core.alerts import Alerts
from bot.core.clock import SystemClock
from bot.core.log_context import JobFields, bind_job, bound_fields
from bot.logs import setup_logging

JOB = JobFields("0a1b2c3d4e5f6a7b", guild_id=810000000000000001, user_id=810000000000000010, provider="sandbox")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def json_logging() -> None:
    """JSON lines to stdout; called inside the test, so the handler writes to the stdout capsys reads."""
    setup_logging(load_settings(discord_token="fake-bot-token", log_json=True))


class RefusingSink:
    """An alert destination that is down."""

    def __init__(self) -> None:
        self.attempts = 0

    async def send(self, text: str) -> None:
        self.attempts += 1
        raise ConnectionError("the webhook is down")

    async def close(self) -> None:
        pass


async def test_the_alert_sender_started_during_a_job_does_not_name_it(capsys: pytest.CaptureFixture[str]) -> None:
    json_logging()
    sink = RefusingSink()
    alerts = Alerts([sink], SystemClock())
    with bind_job(JOB):  # a job's failure is what first raises an incident, starting the sender
        alerts.notify("the provider is refusing submits")
    alerts.notify("the provider is answering again")
    deadline = time.monotonic() + 5
    while sink.attempts < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await alerts.close(grace=1)

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [raised] = [r for r in records if r["message"] == "alert: the provider is refusing submits"]
    assert raised["job_id"] == JOB.job_id  # logged while handling the job
    failures = [r for r in records if r["message"].startswith("could not send an alert")]
    assert len(failures) == 2 and all("job_id" not in r for r in failures)


async def test_nothing_is_bound_outside_a_job() -> None:
    with bind_job(JOB):
        assert bound_fields() == {"job_id": JOB.job_id, "guild_id": JOB.guild_id, "user_id": JOB.user_id,
                                  "provider": "sandbox"}
        with bind_job(JobFields("ffffffffffffffff")):  # a nested binding names the inner job alone
            assert bound_fields() == {"job_id": "ffffffffffffffff"}
        assert bound_fields()["job_id"] == JOB.job_id
    assert bound_fields() == {}
