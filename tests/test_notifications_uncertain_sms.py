"""Issue 17: an SMS whose outcome is unknown is never sent twice.

The service runs in-process behind a real HTTP server (Kannel calls its delivery-report route
back), reads registrations from private topics, and sends through either the local Kannel or
a test double of Kannel's sendsms that records every request it gets: one that answers, one
that takes the request and never answers, one that is not there yet.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

import asyncpg
import httpx
import pytest
import uvicorn
from test_notifications_delivery import (
    Harness,
    migrated_database,
    only_one,
    private_harness,
    record,
    registration,
    rows_of,
)
from test_notifications_gateways import FakeSmsCentre, free_port, new_phone

from retour_kit.auth import issue_dev_token
from retour_kit.db import Database
from retour_notifications.adapters.pg_queue import NO_REPORT
from retour_notifications.main import build_app
from retour_notifications.settings import Settings
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 24\r\n\r\n0: Accepted for delivery"
# Delivered, undelivered, SMS centre accepted, SMS centre rejected (domain/delivery_reports.py).
REQUESTED_REPORTS = "27"


@dataclass(frozen=True)
class GatewayRequest:
    arrived: float
    """time.monotonic() when the request's head was read."""
    path: str
    query: dict[str, str]


class SendSmsDouble:
    """Kannel's sendsms as a test needs it: records each request, then answers 202, or never
    answers (``answering=False``), or first calls the delivery-report URL it was given with
    ``report_first`` (Kannel reporting before its answer got through) and then never answers.
    """

    def __init__(self, *, answering: bool = True, report_first: int | None = None) -> None:
        self.answering = answering
        self.report_first = report_first
        self.requests: list[GatewayRequest] = []
        self._release = asyncio.Event()

    @asynccontextmanager
    async def running(self, port: int = 0) -> AsyncIterator[str]:
        """Listens on ``port`` (any free one by default); yields the sendsms URL."""
        server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        bound = server.sockets[0].getsockname()[1]
        try:
            async with server:
                yield f"http://127.0.0.1:{bound}/cgi-bin/sendsms"
        finally:
            self._release.set()  # connections held open are let go

    def to(self, phone: str) -> list[GatewayRequest]:
        return [r for r in self.requests if r.query.get("to") == phone]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode()
            path, _, query = target.partition("?")
            request = GatewayRequest(time.monotonic(), path, dict(parse_qsl(query)))
            self.requests.append(request)
            if self.report_first is not None:
                await report(request, self.report_first)
            if self.answering and self.report_first is None:
                writer.write(ACCEPTED)
                await writer.drain()
            else:
                await self._release.wait()  # took the request; the answer never comes
        finally:
            writer.close()


async def report(request: GatewayRequest, kannel_type: int) -> httpx.Response:
    """What Kannel's smsbox does with a report: GET the message's dlr-url, %d filled in."""
    url = request.query["dlr-url"].replace("%d", str(kannel_type))
    async with httpx.AsyncClient() as http:
        return await http.get(url)


@dataclass(frozen=True)
class Served:
    url: str
    http: httpx.AsyncClient
    """With a case worker's token."""

    async def listed(self, returnee_id: UUID) -> list[dict[str, Any]]:
        answer = await self.http.get("/notifications", params={"returnee_id": str(returnee_id)})
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    async def metric(self, line_start: str) -> float:
        for line in (await self.http.get("/metrics")).text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@asynccontextmanager
async def served(harness: Harness, **changes: Any) -> AsyncIterator[Served]:
    """The service, consumer and senders running, on a port of its own: its delivery-report
    route is where SMS_DELIVERY_REPORT_URL says, signed with a secret of this run."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = harness.settings(
        http_port=port,
        sms_delivery_report_url=f"{url}/sms/delivery-reports",
        sms_delivery_report_secret=secrets.token_hex(32),
        **changes,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(Settings(**settings)),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve())
    token = issue_dev_token(harness.infra.jwt_secret, "case_worker")
    try:
        await eventually(lambda: server.started, what="the notifications server started")
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            yield Served(url, http)
    finally:
        server.should_exit = True
        await serving


@pytest.fixture(scope="module")
async def harness(infra: Infra) -> AsyncIterator[Harness]:
    async with private_harness(infra, "uncertain_sms") as harness:
        yield harness


@pytest.fixture(scope="module")
async def database(harness: Harness) -> AsyncIterator[Database]:
    async with migrated_database(harness) as database:
        yield database


async def registered(harness: Harness) -> tuple[UUID, str]:
    """A registration published for a new phone; its welcome SMS is the one SMS it calls for."""
    phone = new_phone()
    returnee = registration(phone)
    await harness.publish([record(returnee)])
    return returnee.returnee_id, phone


async def sms_row(
    database: Database,
    returnee_id: UUID,
    until: Callable[[asyncpg.Record], bool],
    *,
    within: float = 30,
) -> asyncpg.Record:
    """The registration's one SMS row, once ``until`` holds for it."""

    async def probe() -> asyncpg.Record | None:
        rows = [r for r in await rows_of(database, [returnee_id]) if r["channel"] == "sms"]
        assert len(rows) <= 1, "one welcome SMS per registration"
        return rows[0] if rows else None

    row = await eventually(probe, until=lambda row: row is not None and until(row), within=within)
    assert row is not None
    return row


def in_status(*statuses: str) -> Callable[[asyncpg.Record], bool]:
    return lambda row: row["status"] in statuses


async def test_a_gateway_that_never_answers_gets_the_sms_once_and_it_ends_ambiguous(
    harness: Harness, database: Database
) -> None:
    gateway = SendSmsDouble(answering=False)
    async with (
        gateway.running() as sendsms,
        served(harness, kannel_sendsms_url=sendsms, sms_delivery_report_wait_seconds=2.0) as app,
    ):
        returnee_id, phone = await registered(harness)

        row = await sms_row(database, returnee_id, in_status("uncertain"))
        assert (row["address"], row["body"]) == (None, None)  # nothing kept to send it again
        assert row["last_error"] == "kannel took the request, then no answer (TimeoutError)"

        # Retries come 0.2 to 1 s apart (harness settings): well within the 2 s wait, so a
        # blind resend would have reached the gateway again before the row turns ambiguous.
        row = await sms_row(database, returnee_id, in_status("ambiguous"), within=15)
        [listed] = await app.listed(returnee_id)
        assert (listed["status"], listed["last_error"]) == ("ambiguous", NO_REPORT)
        # At least: rows other tests left queued in the shared test database count too.
        assert await app.metric('notifications_uncertain_total{channel="sms"}') >= 1.0
        assert await app.metric('notifications_ambiguous_total{channel="sms"}') >= 1.0

    [request] = gateway.to(phone)
    assert request.query["dlr-mask"] == REQUESTED_REPORTS
    assert request.query["dlr-url"].startswith(
        f"{app.url}/sms/delivery-reports?n={row['notification_id']}&s="
    )
    assert request.query["dlr-url"].endswith("&type=%d")
    assert phone not in request.query["dlr-url"]


@pytest.mark.parametrize(
    ("kannel_type", "status", "delivery_report"),
    [(1, "sent", "delivered"), (8, "sent", "smsc_accepted"), (2, "failed", "undelivered")],
)
async def test_a_delivery_report_settles_an_uncertain_sms(
    harness: Harness, database: Database, kannel_type: int, status: str, delivery_report: str
) -> None:
    gateway = SendSmsDouble(answering=False)
    async with (
        gateway.running() as sendsms,
        served(harness, kannel_sendsms_url=sendsms, sms_delivery_report_wait_seconds=120) as app,
    ):
        returnee_id, phone = await registered(harness)
        await sms_row(database, returnee_id, in_status("uncertain"))
        [request] = gateway.to(phone)

        forged = request.query["dlr-url"].replace("&s=", "&s=0")
        assert (await report(GatewayRequest(0, "", {"dlr-url": forged}), 1)).status_code == 403
        assert (await report(request, kannel_type)).status_code == 204

        [listed] = await app.listed(returnee_id)
        assert (listed["status"], listed["delivery_report"]) == (status, delivery_report)
        if status == "failed":
            assert listed["last_error"] == f"delivery report: {delivery_report}"
        settled = (
            f'notifications_delivery_reports_total{{effect="settled",report="{delivery_report}"}}'
        )
        assert await app.metric(settled) == 1.0
    assert len(gateway.to(phone)) == 1


async def test_a_report_that_comes_before_the_timeout_settles_the_sms_at_once(
    harness: Harness, database: Database
) -> None:
    # Kannel reports the SMS centre's acceptance while the sender still waits for the answer:
    # the row is `sending` when the report comes, and the timeout that follows finds it.
    gateway = SendSmsDouble(report_first=8)
    async with (
        gateway.running() as sendsms,
        served(harness, kannel_sendsms_url=sendsms, sms_delivery_report_wait_seconds=120),
    ):
        returnee_id, phone = await registered(harness)
        row = await sms_row(database, returnee_id, in_status("sent", "failed"))

    assert (row["status"], row["delivery_report"]) == ("sent", "smsc_accepted")
    assert len(gateway.to(phone)) == 1


async def test_kannel_reports_the_delivery_of_what_it_sent(
    harness: Harness, database: Database
) -> None:
    # The local Kannel's fake SMS centre: bearerbox reports the SMS centre's acceptance (8)
    # and, right after, the phone's delivery (1), to the dlr-url of the message.
    centre = FakeSmsCentre()
    async with served(harness):
        returnee_id, phone = await registered(harness)
        row = await sms_row(
            database, returnee_id, lambda row: row["delivery_report"] == "delivered", within=20
        )
    assert row["status"] == "sent"
    await only_one(centre, phone)


async def test_a_gateway_that_refuses_connections_gets_the_sms_once_it_is_back(
    harness: Harness, database: Database
) -> None:
    port = free_port()
    gateway = SendSmsDouble()
    sendsms = f"http://127.0.0.1:{port}/cgi-bin/sendsms"
    async with served(harness, kannel_sendsms_url=sendsms):
        returnee_id, phone = await registered(harness)
        row = await sms_row(database, returnee_id, lambda row: row["attempts"] >= 2)
        # Refused before anything was written: not sent, so safe to send again.
        assert row["status"] in ("queued", "sending")
        assert row["last_error"] == "kannel unreachable (ConnectionRefusedError)"

        async with gateway.running(port):
            row = await sms_row(database, returnee_id, in_status("sent"))

    assert row["attempts"] >= 3
    assert len(gateway.to(phone)) == 1
