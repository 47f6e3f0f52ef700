"""The one-request HTTP client, against a local socket that answers as a proxy might."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from retour_notifications.adapters.http_get import MalformedAnswerError, http_request

Responder = list[bytes]


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[bytes], Responder]]:
    """A server that records each request and answers with the next canned response."""
    received: list[bytes] = []
    answers: Responder = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        received.append(head + await reader.readexactly(length))
        writer.write(answers.pop(0))
        await writer.drain()
        writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield f"http://127.0.0.1:{port}/data-keys", received, answers


async def test_a_post_sends_its_headers_and_body_and_reads_a_chunked_answer(
    server: tuple[str, list[bytes], Responder],
) -> None:
    url, received, answers = server
    answers.append(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'7\r\n{"keys"\r\n6;ext=1\r\n: []}\n\r\n0\r\n\r\n'
    )
    answer = await http_request(
        "POST", url, time_limit=5, headers={"Authorization": "Bearer t"}, body=b'{"a": 1}'
    )
    assert (answer.status, answer.body) == (200, '{"keys": []}\n')
    [request] = received
    assert request.startswith(b"POST /data-keys HTTP/1.1\r\n")
    assert b"Authorization: Bearer t\r\n" in request and b"Content-Length: 8\r\n" in request
    assert request.endswith(b'\r\n\r\n{"a": 1}')


async def test_a_content_length_answer_and_a_broken_chunk(
    server: tuple[str, list[bytes], Responder],
) -> None:
    url, _, answers = server
    answers.append(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
    answers.append(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert (await http_request("GET", url, time_limit=5)).status == 403
    with pytest.raises(MalformedAnswerError):
        await http_request("GET", url, time_limit=5)
