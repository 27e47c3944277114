"""A fake cometapi server: Kling's task API relayed under `/kling` (seeds/cometapi-kling-text2video.txt,
PROVIDERS.md "cometapi"), behind a plain bearer key, with the gateway's own error envelope
`{"error": {"message", "type", "param", "code"}}` and v3's 5 and 10 second durations."""

from __future__ import annotations

import uuid

from aiohttp import web

from tests.fakes.kling import KlingTaskServer
from tests.fakes.provider_base import json_response


class FakeCometapi(KlingTaskServer):
    """Callbacks on every status change, unsigned; polling stays the source of truth."""

    prefix = "/kling"
    durations = frozenset({"5", "10"})

    def authorize(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return gateway_error(401, f"Invalid token (request id: {uuid.uuid4().hex[:16]})", "invalid_api_key")
        return None

    def error(self, status: int, code: int, message: str) -> web.Response:
        codes = {400: "invalid_request", 404: "task_not_exist"}
        return gateway_error(status, message, codes.get(status, str(code)))


def gateway_error(status: int, message: str, code: str, *, type_: str = "comet_api_error") -> web.Response:
    return json_response({"error": {"message": message, "type": type_, "param": "", "code": code}}, status)
