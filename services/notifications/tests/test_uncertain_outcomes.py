"""Telling "not sent" from "outcome unknown" at Kannel, and reading its delivery reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from pydantic import SecretStr

from retour_notifications.adapters.http_get import AnswerLostError, http_get
from retour_notifications.adapters.kannel import KannelSms
from retour_notifications.domain.delivery import (
    Claimed,
    DeliveryRetryPolicy,
    GatewayUnavailable,
    OutcomeUnknown,
    OutgoingMessage,
    Status,
)
from retour_notifications.domain.delivery_reports import (
    REQUESTED_REPORTS,
    ReportedDelivery,
    ReportSignature,
    UnknownReport,
    reported_delivery,
)
from retour_notifications.domain.rules import Channel
from retour_notifications.usecases.send import deliver


def message() -> OutgoingMessage:
    return OutgoingMessage(uuid4(), Channel.SMS, "+22365012345", None, "Bonjour", "gsm7")


@pytest.fixture
async def answering() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server that reads the request, then answers with the next canned bytes (b"": never)."""
    answers: list[bytes] = []
    never = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        answer = answers.pop(0)
        if not answer:
            await never.wait()
        writer.write(answer)
        await writer.drain()
        writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        async with listening:
            yield f"http://127.0.0.1:{port}/cgi-bin/sendsms", answers
    finally:
        never.set()


def kannel(url: str) -> KannelSms:
    return KannelSms(url, username="u", password=SecretStr("p"), timeout_seconds=0.5)


async def test_a_request_that_got_no_answer_may_have_arrived(
    answering: tuple[str, list[bytes]],
) -> None:
    url, answers = answering
    answers.append(b"")
    with pytest.raises(AnswerLostError, match=r"no answer \(TimeoutError\)"):
        await http_get(url, time_limit=0.3)


async def test_a_refused_connection_sent_nothing() -> None:
    listening = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()
    with pytest.raises(GatewayUnavailable, match="kannel unreachable"):
        await kannel(f"http://127.0.0.1:{port}/").send(message())


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"", OutcomeUnknown),  # a timeout after the request was written
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", OutcomeUnknown),
        (b"HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\n\r\n", OutcomeUnknown),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", OutcomeUnknown),
        (
            b"HTTP/1.1 503 Unavailable\r\nContent-Length: 15\r\n\r\nSending failed.",
            GatewayUnavailable,
        ),
    ],
    ids=["timeout", "500", "504", "garbled", "503"],
)
async def test_what_kannel_answers_says_whether_it_may_have_sent(
    answering: tuple[str, list[bytes]], answer: bytes, error: type[Exception]
) -> None:
    url, answers = answering
    answers.append(answer)
    with pytest.raises(error):
        await kannel(url).send(message())


async def test_an_unknown_outcome_is_recorded_uncertain_never_retried() -> None:
    class Silent:
        async def send(self, message: OutgoingMessage) -> None:
            raise OutcomeUnknown("kannel took the request, then no answer (TimeoutError)")

    work = Claimed(message=message(), returnee_id=uuid4(), attempt=1)
    outcome = await deliver(work, Silent(), DeliveryRetryPolicy())
    assert (outcome.status, outcome.retry_after, outcome.reason) == (
        Status.UNCERTAIN,
        None,
        "uncertain",
    )


def test_reports_settle_as_sent_unless_the_network_refused() -> None:
    assert int(REQUESTED_REPORTS) == 27
    assert {t: reported_delivery(t).settles_as for t in (1, 2, 4, 8, 16)} == {
        1: Status.SENT,
        2: Status.FAILED,
        4: Status.SENT,
        8: Status.SENT,
        16: Status.FAILED,
    }
    assert reported_delivery(1) is ReportedDelivery.DELIVERED
    with pytest.raises(UnknownReport):
        reported_delivery(3)


def test_a_signature_is_good_for_its_notification_alone() -> None:
    signature, other = ReportSignature(b"s" * 32), ReportSignature(b"t" * 32)
    nid = uuid4()
    assert signature.verifies(nid, signature.sign(nid))
    assert not signature.verifies(uuid4(), signature.sign(nid))
    assert not signature.verifies(nid, other.sign(nid))
