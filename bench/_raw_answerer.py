"""The floor under `ack_latency`'s figures: an answerer with no bot and no library between the socket and the answer.

It reads INTERACTION_CREATE from the fake Discord's gateway (aiohttp's websocket client, orjson) and answers each
at once with a request written by hand onto one keep-alive HTTP/1.1 connection, pipelined behind the ones before
it: no discord.py, no aiohttp client request, no decision. What remains of its latency is the fake's own time
(writing the burst, reading the answers) and the machine's, so no bot answers faster through this fake on this
machine. Written by hand because it measures the floor; it is not a way to talk to Discord (no TLS, rate limits,
retries or checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
import orjson
import yarl

ANSWER = orjson.dumps({"type": 4, "data": {"content": "Queued."}})
READY_TIMEOUT = 30.0


class RawAnswerer:
    def __init__(self, base_url: str, gateway_url: str, token: str) -> None:
        self.base = yarl.URL(base_url)
        self.gateway_url = gateway_url
        self.token = token
        self.refused: list[bytes] = []  # the status line of any answer but a 204 (the fake's count is the figure)
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawAnswerer:
        self._session = aiohttp.ClientSession()
        ws = await self._session.ws_connect(f"{self.gateway_url}?v=10&encoding=json")
        hello = orjson.loads((await ws.receive()).data)
        await ws.send_str(json.dumps({"op": 2, "d": {  # the fake, as Discord, takes text frames only
            "token": self.token, "intents": 1, "properties": {"os": "linux", "browser": "raw", "device": "raw"}}}))
        reader, self._writer = await asyncio.open_connection(self.base.host, self.base.port)
        self._tasks = [asyncio.create_task(self._read_gateway(ws)), asyncio.create_task(self._read_answers(reader)),
                       asyncio.create_task(self._heartbeat(ws, hello["d"]["heartbeat_interval"] / 1000))]
        await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT)
        return self

    async def __aexit__(self, *_: Any) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._writer is not None:
            self._writer.close()
        if self._session is not None:
            await self._session.close()

    async def _read_gateway(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            event = orjson.loads(message.data)
            if event.get("t") == "INTERACTION_CREATE":
                self._answer(event["d"])
            elif event.get("t") == "READY":
                self._ready.set()

    def _answer(self, interaction: dict[str, Any]) -> None:
        assert self._writer is not None
        path = f"{self.base.path}/interactions/{interaction['id']}/{interaction['token']}/callback"
        self._writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.base.host}:{self.base.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(ANSWER)}\r\n\r\n".encode() + ANSWER)

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        """Reads the answers off the connection, keeping any that is not a 204 (no body: no `with_response`)."""
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            status_line = head.split(b"\r\n", 1)[0]
            if status_line.startswith(b"HTTP/1.1 204"):
                continue
            self.refused.append(status_line)
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await ws.send_str('{"op": 1, "d": null}')
