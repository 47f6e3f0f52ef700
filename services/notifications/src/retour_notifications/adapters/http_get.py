"""One HTTP request per connection, on asyncio streams.

Kannel's sendsms interface needs nothing more, and the service then depends on no HTTP client
library: none is a runtime dependency of this package, and the usual ones log each request's
full URL, which for sendsms holds a phone number and the message text.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 4 * 1024


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str


class AnswerLostError(Exception):
    """The connection was open and the request (at least partly) written, then no readable
    answer came: a timeout, a reset, an answer cut short or unreadable. The server may have
    acted on the request."""


class MalformedAnswerError(AnswerLostError, ValueError):
    pass


async def http_get(url: str, *, time_limit: float) -> HttpAnswer:
    """GETs ``url`` and returns the status and (the start of) the body.

    Raises ``OSError``/``TimeoutError`` when the server cannot be reached (nothing was
    sent), ``AnswerLostError`` once the request may have reached it and no answer could be
    read (too slow, the connection lost, the answer cut short or unreadable).
    """
    return await http_request("GET", url, time_limit=time_limit)


async def http_request(
    method: str,
    url: str,
    *,
    time_limit: float,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    max_body_bytes: int = MAX_BODY_BYTES,
) -> HttpAnswer:
    """One request on its own connection; raises as ``http_get`` does."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        "User-Agent: retour-notifications",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    if body or method != "GET":
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    connected = False
    try:
        async with asyncio.timeout(time_limit):
            reader, writer = await asyncio.open_connection(
                parts.hostname,
                parts.port or (443 if secure else 80),
                ssl=ssl.create_default_context() if secure else None,
                limit=MAX_HEAD_BYTES,
            )
            # From here on the server may get the request, whatever happens next.
            connected = True
            try:
                writer.write(request)
                await writer.drain()
                return await _read_answer(reader, max_body_bytes)
            finally:
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()
    except (OSError, TimeoutError, EOFError, asyncio.IncompleteReadError) as error:
        if not connected:
            raise
        raise AnswerLostError(f"no answer ({type(error).__name__})") from error


async def _read_answer(reader: asyncio.StreamReader, max_body_bytes: int) -> HttpAnswer:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise MalformedAnswerError("response headers too long") from None
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise MalformedAnswerError("not an HTTP response")
    headers = dict(_header(line) for line in header_lines if ":" in line)
    length = headers.get("content-length")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        # A proxy in front of a service (intake's key store behind an ingress) may chunk it.
        body = await _read_chunks(reader, max_body_bytes)
    elif length is not None and length.isdigit():
        body = await reader.readexactly(min(int(length), max_body_bytes))
    else:
        body = await reader.read(max_body_bytes)
    return HttpAnswer(int(fields[1]), body.decode("utf-8", "replace"))


async def _read_chunks(reader: asyncio.StreamReader, max_body_bytes: int) -> bytes:
    body = b""
    while len(body) < max_body_bytes:
        size_line = (await reader.readuntil(b"\r\n")).split(b";")[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise MalformedAnswerError("bad chunk size") from None
        if size == 0:
            break
        body += await reader.readexactly(size)
        await reader.readexactly(2)  # the CRLF after each chunk
    return body[:max_body_bytes]


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()
