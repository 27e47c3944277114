"""HTTP spoken by hand over a real socket, for what a polite client never does: a body split across
segments, a body that stalls, bytes no URL library would send."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from yarl import URL


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


class RawConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, base_url: str) -> RawConnection:
        url = URL(base_url)
        assert url.host is not None and url.port is not None
        reader, writer = await asyncio.wait_for(asyncio.open_connection(url.host, url.port), timeout=5)
        return cls(reader, writer, f"{url.host}:{url.port}")

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_head(self, method: str, target: bytes | str, headers: dict[str, str] | None = None) -> None:
        raw_target = target.encode() if isinstance(target, str) else target
        lines = [method.encode() + b" " + raw_target + b" HTTP/1.1", f"Host: {self.host}".encode()]
        lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
        await self.send(b"\r\n".join(lines) + b"\r\n\r\n")

    async def answer(self, timeout: float = 5.0) -> RawAnswer:
        """The next response (bounded in time); IncompleteReadError if the server closed instead."""
        async with asyncio.timeout(timeout):
            head = await self.reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            body = await self.reader.readexactly(length)
        return RawAnswer(int(status_line.split(" ", 2)[1]), headers, body)

    async def closed_by_server(self, timeout: float = 5.0) -> bool:
        """True once the server closes the connection (reads nothing more), within `timeout`."""
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(1) == b""
        except TimeoutError:
            return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), timeout=2)


async def request(base_url: str, method: str, target: bytes | str, *, headers: dict[str, str] | None = None,
                  body: bytes = b"") -> RawAnswer:
    """One whole request on a fresh connection."""
    connection = await RawConnection.open(base_url)
    try:
        all_headers = {"Content-Length": str(len(body)), **(headers or {})}
        await connection.send_head(method, target, all_headers)
        if body:
            await connection.send(body)
        return await connection.answer()
    finally:
        await connection.close()
