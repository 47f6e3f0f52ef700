"""A minimal HTTP/1.1 keep-alive client for the open-loop load.

httpx spends about a millisecond of CPU per request; at 200 requests a second on a 2-core
machine that is CPU taken from the service under test. This client only writes a request,
reads the status line, the headers and a Content-Length body: all intake ever answers.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

# uvicorn closes a connection idle for 5 s (timeout_keep_alive); a request written just as it
# closes would be lost, so connections idle for longer than this are not reused.
MAX_IDLE_SECONDS = 2.0

_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HttpConnections:
    """Keep-alive connections to one host, opened as needed, one request at a time on each."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self._host = host
        self._port = port
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._idle: list[tuple[float, _Connection]] = []

    async def post_json(self, path: str, body: Any) -> tuple[int, Any]:
        payload = json.dumps(body).encode()
        # A new Idempotency-Key per request, as every client sends (each is a new person).
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\n{self._headers}"
            f"Idempotency-Key: {uuid.uuid4()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        reader, writer = await self._connection()
        writer.write(head + payload)
        status, answer = await _read_response(reader)
        self._idle.append((time.monotonic(), (reader, writer)))
        return status, answer

    async def _connection(self) -> _Connection:
        while self._idle:
            idle_since, connection = self._idle.pop()
            if time.monotonic() - idle_since < MAX_IDLE_SECONDS:
                return connection
            connection[1].close()
        return await asyncio.open_connection(self._host, self._port)

    async def close(self) -> None:
        for _, (_, writer) in self._idle:
            writer.close()
        self._idle.clear()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, Any]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection without answering")
    status = int(status_line.split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length)
    return status, json.loads(body) if body else None
