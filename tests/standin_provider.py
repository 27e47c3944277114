"""A provider for tests of the core's own parts (dispatcher, engine roles): it takes every submit at once and
remembers the order, and is never polled or called back (those paths have their fakes over HTTP)."""

from __future__ import annotations

from bot.core.models import VideoRequest
from bot.core.ports.provider import Capabilities, ProviderUpdate, RateLimit, SubmitResult


class StandInProvider:
    name = "standin"
    rate_key = "standin:key"

    def __init__(self, *, calls_per_minute: int = 60) -> None:
        self.capabilities = Capabilities(durations=(5,), modes=("std",), push=False,
                                         rate_limit=RateLimit(calls_per_minute, 60))
        self.submitted: list[str] = []

    async def submit(self, request: VideoRequest, *, callback_url: str | None) -> SubmitResult:
        self.submitted.append(request.prompt)
        return SubmitResult(f"p-{len(self.submitted)}")

    async def status(self, provider_job_id: str) -> ProviderUpdate:
        raise AssertionError("no poll is due in these tests")

    def parse_callback(self, body: bytes) -> ProviderUpdate:
        raise AssertionError("no callback comes in these tests")

    def expected_seconds(self, request: VideoRequest) -> float:
        return 60.0
