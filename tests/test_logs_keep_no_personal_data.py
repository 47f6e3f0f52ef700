"""Issue 13, item 1: no personal data in logs or dead-letter reasons, whatever fails.

One canary person, with values invented for this run, is driven through the failure paths that
used to quote personal data: a 500 while Postgres is unreachable and a value Postgres refuses
(intake), an SMS gateway that answers 503 and quotes the number, and an event the consumer
dead-letters after a constraint violation (notifications). Each service runs in-process and
logs, debug included, to a buffer exactly as it writes to stdout; none of the canary's values
may show up in any line, nor in the dead letter's reason. Each test also checks that the canary
really went through its failure path, and that the lines about that failure were captured, so
a clean log proves something.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import string
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from test_notifications_delivery import (
    Harness,
    database,
    harness,
    record,
    registration,
    rows_of,
)
from test_notifications_gateways import free_port, new_phone

from retour_contracts import ReturneeRegistered
from retour_contracts.dlq import DLQ_CODE, DLQ_HEADER_DESCRIPTIONS, DLQ_REASON, HANDLER_ERROR
from retour_intake.domain.commands import EXAMPLE
from retour_intake.main import build_app as build_intake
from retour_intake.settings import Settings as IntakeSettings
from retour_kit.auth import issue_dev_token
from retour_kit.db import Database
from retour_kit.logging import configure_logging
from retour_notifications.main import build_app as build_notifications
from retour_notifications.settings import Settings as NotificationsSettings
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra, TopicProbe, eventually

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("isolated_logging")]

# The fixtures of the delivery tests: private topics and an isolated notifications database.
__all__ = ["database", "harness"]

JSON_HANDLER = "retour-json"  # the root handler retour_kit.logging installs


@dataclass(frozen=True)
class Canary:
    """A person whose every identifying value is new in this run, so any sighting is a leak."""

    given_name: str
    family_name: str
    phone: str
    national_id: str
    date_of_birth: date

    @classmethod
    def new(cls) -> Canary:
        def word() -> str:
            # Letters beyond a-f: no uuid or hex digest in a log line can contain it.
            return "".join(random.choices("ghjkmnpqrstvwxyz", k=11)).capitalize()

        alphanumeric = string.ascii_uppercase + string.digits
        return cls(
            given_name=word(),
            family_name=word(),
            phone=new_phone(random.choice(["+2236", "+2237"])),
            national_id="N" + "".join(random.choices(alphanumeric, k=14)),
            date_of_birth=date(1970, 1, 1) + timedelta(days=random.randrange(35 * 365)),
        )

    def values(self) -> dict[str, str]:
        """What must never be logged, in the forms it could be logged in."""
        return {
            "given name": self.given_name,
            "family name": self.family_name,
            "phone": self.phone,
            "phone without +": self.phone.removeprefix("+"),
            "national id": self.national_id,
            "date of birth": self.date_of_birth.isoformat(),
            # As a repr shows it: in a rendered local variable, say.
            "date of birth (repr)": repr(self.date_of_birth).removeprefix("datetime."),
        }

    def personal(self, **changes: Any) -> dict[str, Any]:
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "date_of_birth": self.date_of_birth.isoformat(),
            "phone": self.phone,
            "national_id": self.national_id,
            **changes,
        }


CANARY = Canary.new()


def sightings(lines: list[str], canary: Canary) -> dict[int, list[str]]:
    """Which canary values show in which line (numbered from 1), ignoring case (names are
    also logged normalised, e.g. in duplicate-detection keys) and JSON escapes."""
    found: dict[int, list[str]] = {}
    for number, line in enumerate(lines, 1):
        forms = [line.casefold()]
        with contextlib.suppress(ValueError):
            forms.append(json.dumps(json.loads(line), ensure_ascii=False).casefold())
        for what, value in canary.values().items():
            if any(value.casefold() in form for form in forms):
                found.setdefault(number, []).append(what)
    return found


def leaks_in(lines: list[str]) -> str:
    """An empty string, or each line holding canary values, for the failure message."""
    return "\n".join(
        f"line {number} ({', '.join(values)}): {lines[number - 1]}"
        for number, values in sightings(lines, CANARY).items()
    )


class CapturedLogs:
    """Every line the service logs from now on, as it would write it to stdout.

    Made after ``build_app`` (which configures logging to stdout at the configured level):
    this replaces that handler by one writing to a buffer, at debug level.
    """

    def __init__(self, service: str) -> None:
        self._stream = io.StringIO()
        self._kept: str | None = None
        configure_logging(service, "DEBUG", stream=self._stream)

    def stop(self) -> None:
        """Keeps what was logged until now: once the service stopped, what the test itself
        does next (reading a topic, say) is not the service's doing."""
        self._kept = self._stream.getvalue()

    def lines(self) -> list[str]:
        text = self._stream.getvalue() if self._kept is None else self._kept
        return [line for line in text.splitlines() if line.strip()]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def named(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.events() if line.get("event") == event]

    def assert_clean(self) -> None:
        lines = self.lines()
        assert lines, "nothing was logged: the capture is broken"
        for line in lines:
            parsed = json.loads(line)  # every line is a JSON object with an event
            assert isinstance(parsed, dict) and "event" in parsed, line
        leaks = leaks_in(lines)
        assert not leaks, f"personal data in the logs:\n{leaks}"


def test_a_canary_value_in_a_log_line_is_found_in_any_case_and_escaping() -> None:
    # The search below must be able to fail: each value, however a line renders it, is seen.
    for what, value in CANARY.values().items():
        for line in (
            json.dumps({"event": "x", "detail": f"Key (v)=({value}) exists"}),
            json.dumps({"event": "x", "key": value.upper()}, ensure_ascii=True),
            json.dumps({"event": "x", "name": f"\x00{value.lower()}"}),
        ):
            assert what in sightings([line], CANARY)[1], line
    assert sightings([json.dumps({"event": "x", "id": str(uuid.uuid4())})], CANARY) == {}


# --- intake: a 500 while Postgres is unreachable, and a value Postgres refuses ---------------


class PostgresProxy:
    """Forwards TCP connections to Postgres until ``cut()``: then every forwarded connection
    is reset and new ones are refused, as when the database host goes away."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.WriteTransport] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _forward(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            server, to_server = await asyncio.open_connection(*self._upstream)
            self._transports |= {to_client.transport, to_server.transport}
            await asyncio.gather(_pipe(client, to_server), _pipe(server, to_client))
        except OSError:
            to_client.transport.abort()
        finally:
            self._tasks.discard(task)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()  # nothing listens on the port any more: refused
            await self._server.wait_closed()
        for transport in self._transports:
            transport.abort()  # reset, without a goodbye to either side

    async def close(self) -> None:
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    sink.transport.abort()


def through_proxy(dsn: str, port: int) -> str:
    parts = urlsplit(dsn)
    credentials = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{port}"))


def canary_registration(**personal: Any) -> dict[str, Any]:
    # Every later registration repeats the canary, a strong duplicate: confirmed (by a
    # supervisor, with a reason), so each goes all the way to the database.
    return {
        **EXAMPLE,
        "personal": CANARY.personal(**personal),
        "confirm_not_duplicate": True,
        "override_reason": "documents_checked",
    }


@asynccontextmanager
async def refusing_the_canary(infra: Infra) -> AsyncIterator[None]:
    """For a moment, intake's table refuses rows with the canary's phone (NOT VALID: the rows
    already there stay); nobody else's registrations are affected."""
    name = f"log_canary_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        await admin.execute(
            f"ALTER TABLE intake.returnees ADD CONSTRAINT {name}"
            f" CHECK (phone IS DISTINCT FROM '{CANARY.phone}') NOT VALID"
        )
        yield
    finally:
        await admin.execute(f"ALTER TABLE intake.returnees DROP CONSTRAINT IF EXISTS {name}")
        await admin.close()


async def test_intake_logs_no_canary_value_through_a_database_outage_or_a_refused_value(
    infra: Infra,
) -> None:
    upstream = urlsplit(infra.dsn("intake"))
    proxy = PostgresProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432)
    port = await proxy.start()
    token = issue_dev_token(infra.jwt_secret, "supervisor", subject="supervisor.log-privacy")
    try:
        settings = IntakeSettings(
            database_url=through_proxy(infra.dsn("intake"), port),
            auth_jwt_secret=infra.jwt_secret,
            master_key=infra.master_key,
            # Nothing listens there. The stack's own intake relay is the leader and publishes
            # the canary's registration; were it down, this one's publishing would race the
            # test. Intake serves without Kafka (the outbox), and Kafka is not this test's path.
            kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        )
        app = build_intake(settings)
        logs = CapturedLogs(settings.service_name)
        async with (
            app.router.lifespan_context(app),  # migrations, through the proxy
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://intake",
                headers={"Authorization": f"Bearer {token}"},
                event_hooks=FRESH_IDEMPOTENCY_KEYS,
            ) as api,
        ):
            registered = await api.post("/returnees", json=canary_registration())
            assert registered.status_code == 201, registered.text
            # A NUL (which Postgres refuses in jsonb) is refused before it gets there.
            nul = await api.post(
                "/returnees",
                json=canary_registration(given_name=f"{CANARY.given_name}\x00"),
            )
            # A row Postgres refuses: its error's DETAIL quotes the whole failing row.
            async with refusing_the_canary(infra):
                refused = await api.post("/returnees", json=canary_registration())
            await proxy.cut()
            during_outage = await api.post("/returnees", json=canary_registration())
        logs.stop()
    finally:
        await proxy.close()

    assert nul.status_code == 422, nul.text
    assert refused.status_code == 500, refused.text
    assert during_outage.status_code == 503, during_outage.text
    returnee_id = registered.json()["returnee_id"]
    assert [line["returnee_id"] for line in logs.named("returnee registered")] == [returnee_id]
    [unhandled] = logs.named("unhandled error while serving request")
    assert unhandled["level"] == "error"
    assert unhandled["exception"][0]["exc_type"] == "CheckViolationError"
    assert unhandled["exception"][0]["frames"], unhandled
    assert logs.named("request failed, a dependency is unavailable")
    logs.assert_clean()
    for answer in (nul, refused, during_outage):  # nor are they echoed to the client
        assert not leaks_in([answer.text]), answer.text


# --- notifications: a gateway error, a dead-lettered event -----------------------------------


def canary_event() -> ReturneeRegistered:
    """The canary's registration as intake publishes it, with SMS consent and a phone."""
    arrival = datetime.now(UTC).date()
    born = CANARY.date_of_birth
    age = arrival.year - born.year - ((arrival.month, arrival.day) < (born.month, born.day))
    return registration(CANARY.phone, personal=CANARY.personal(), age_years=age)


@asynccontextmanager
async def notifications(settings: dict[str, Any]) -> AsyncIterator[CapturedLogs]:
    """The service in-process, its consumer and senders running, its logs captured from
    before it starts until after it stopped."""
    app = build_notifications(NotificationsSettings(**settings))
    logs = CapturedLogs(NotificationsSettings.model_fields["service_name"].default)
    try:
        async with app.router.lifespan_context(app):
            yield logs
    finally:
        logs.stop()


class FailingSmsGateway:
    """An SMS gateway that answers every sendsms with 503 and, as real ones do, quotes the
    number it could not reach in its answer."""

    def __init__(self) -> None:
        self.recipients: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/cgi-bin/sendsms"

    async def __aenter__(self) -> FailingSmsGateway:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode("ascii")
            to = parse_qs(urlsplit(target).query).get("to", [""])[0]
            self.recipients.append(to)
            body = f"Temporary failure: no route to {to} ({to.lstrip('+')}), retry later\n"
            writer.write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode()
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def test_a_gateway_error_leaves_no_canary_value_in_the_logs(
    harness: Harness, database: Database
) -> None:
    event = canary_event()
    # Published before the service starts (its new group reads from the beginning): the logs
    # captured are then the service's alone, not this test's producer's.
    await harness.publish([record(event)])
    async with FailingSmsGateway() as gateway:
        settings = harness.settings(kannel_sendsms_url=gateway.url, retry_max_attempts=3)
        async with notifications(settings) as logs:
            [row] = await eventually(
                lambda: rows_of(database, [event.returnee_id]),
                until=lambda rows: len(rows) == 1 and rows[0]["status"] == "failed",
                within=20,
                what="the canary's SMS failed after its retries",
            )

    assert row["attempts"] == 3
    assert row["last_error"].startswith("gave up after 3 attempts: kannel answered 503")
    assert not leaks_in([row["last_error"]]), row["last_error"]
    # Earlier tests' rows may reach this gateway too; the canary's number did, each attempt.
    assert gateway.recipients.count(CANARY.phone) >= 3
    canary_id = str(event.returnee_id)
    retried = [
        r for r in logs.named("notification will be retried") if r["returnee_id"] == canary_id
    ]
    assert [r["attempt"] for r in retried] == [1, 2]
    assert all(r["error"].startswith("kannel answered 503") for r in retried), retried
    [failed] = [r for r in logs.named("notification failed") if r["returnee_id"] == canary_id]
    assert failed["reason"] == "gave_up"
    logs.assert_clean()


async def test_a_dead_lettered_canary_event_leaves_no_canary_value_in_its_reason_or_the_logs(
    harness: Harness, database: Database
) -> None:
    event = canary_event()
    sent = record(event)
    event_id = dict(sent.envelope.headers)["ce_id"].decode()
    topic = harness.topics["returnee.registered"]
    # Refuses the canary's contact, and nobody else's: Postgres's error then carries a DETAIL
    # quoting the whole failing row, phone included. NOT VALID: earlier canary rows stay.
    constraint = f"log_privacy_{uuid.uuid4().hex[:12]}"
    await database.pool.execute(
        f"ALTER TABLE contacts ADD CONSTRAINT {constraint}"
        f" CHECK (phone IS DISTINCT FROM '{CANARY.phone}') NOT VALID"
    )
    try:
        async with TopicProbe(harness.infra.kafka_bootstrap, f"{topic}.dlq") as dlq:
            await harness.publish([sent])  # before the service starts, as above
            async with notifications(harness.settings()) as logs:

                def dead_lettered() -> list[dict[str, Any]]:
                    lines = logs.named("record dead-lettered")
                    return [line for line in lines if line.get("event_id") == event_id]

                [line] = await eventually(
                    dead_lettered, within=20, what="the canary's event dead-lettered"
                )
            # Read once the service stopped: this probe's own fetches are not the service's.
            records = await dlq.collect(
                lambda got: any(r.key == sent.envelope.key for r in got), within=10
            )
    finally:
        await database.pool.execute(f"ALTER TABLE contacts DROP CONSTRAINT IF EXISTS {constraint}")

    [dead] = [r for r in records if r.key == sent.envelope.key]
    assert dead.value == sent.envelope.value  # the original, canary included, byte for byte
    assert CANARY.given_name.encode() in dead.value
    added = {
        name: value.decode() for name, value in dead.headers if name in DLQ_HEADER_DESCRIPTIONS
    }
    assert not leaks_in(list(added.values())), added  # the reason says what failed...
    reason = added[DLQ_REASON]
    assert reason.startswith("CheckViolationError: SQLSTATE 23514"), reason
    assert constraint in reason  # ...but not with which values
    assert added[DLQ_CODE] == HANDLER_ERROR
    assert (line["code"], line["reason"]) == (HANDLER_ERROR, reason)
    assert await rows_of(database, [event.returnee_id]) == []  # nothing of it was applied
    logs.assert_clean()
