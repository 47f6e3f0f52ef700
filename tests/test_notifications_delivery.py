"""Issue 5 acceptance: events become SMS and emails through the real gateways, never twice.

Events are produced, as intake and reintegration would, to private copies of the three topics
(the service reads them through its *_TOPIC settings, under a group of its own); SMS are read
back from Kannel's fake SMS centre and emails from the SMTP sink, both started by `make up`.
Every test invents its own phone numbers, so it only looks at its own messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from test_end_to_end import running_services
from test_notifications_gateways import (
    FakeSmsCentre,
    ReceivedSms,
    SmtpSink,
    free_port,
    new_phone,
)
from test_notifications_ledger import isolated_notifications_dsn

from retour_contracts import (
    RETURNEE_REGISTERED_V2,
    DataProtectionEvent,
    Envelope,
    Event,
    EventSpec,
    ReceptionCentre,
    ReturneeRegistered,
    build_envelope,
    new_data_key,
    seal_registration,
    spec_for_model,
)
from retour_contracts.examples import (
    example_activity_launched,
    example_aid_granted,
    example_consent_changed,
    example_returnee_erased,
    example_returnee_registered,
    returnee_registered_data,
)
from retour_kit.auth import issue_dev_token
from retour_kit.db import Database
from retour_kit.migrations import migrate
from retour_notifications.adapters.pg_queue import INTERRUPTED
from retour_notifications.main import MIGRATIONS_PACKAGE, SCHEMA, build_app
from retour_notifications.main import SERVICE as NOTIFICATIONS
from retour_notifications.settings import Settings
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra, TopicProbe, eventually, read_topic
from retour_test_inprocess import private_topics

pytestmark = pytest.mark.integration

KANNEL_SCRIPT = Path(__file__).resolve().parent.parent / "deploy" / "local" / "kannel.sh"
SERVICE_COMMAND = str(Path(sys.executable).with_name("retour-notifications"))
SPECS: dict[str, EventSpec[Any]] = {spec.topic: spec for spec in NOTIFICATIONS.consumes}


@dataclass(frozen=True)
class Harness:
    """Where a service under test reads and writes: private copies of the three topics, by
    event name, and a database of its own (see ``isolated_notifications_dsn``)."""

    infra: Infra
    topics: dict[str, str]
    dsn: str

    def settings(self, **changes: Any) -> dict[str, Any]:
        """A service of its own group, with short timers."""
        return {
            "database_url": self.dsn,
            "auth_jwt_secret": self.infra.jwt_secret,
            "kafka_bootstrap_servers": self.infra.kafka_bootstrap,
            "consumer_group": f"test-notifications-{uuid.uuid4().hex[:8]}",
            **{f"{event.replace('.', '_')}_topic": name for event, name in self.topics.items()},
            "sender_poll_seconds": 0.05,
            "gateway_timeout_seconds": 1.0,
            "sending_lease_seconds": 3.0,
            "retry_backoff_seconds": 0.2,
            "retry_backoff_cap_seconds": 1.0,
            "upkeep_interval_seconds": 0.2,
            "log_level": "WARNING",
            **changes,
        }

    async def publish(self, records: Sequence[Record]) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.infra.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for sent in records:
                topic, envelope = self.topics[sent.event_name], sent.envelope
                await producer.send_and_wait(
                    topic, envelope.value, key=envelope.key, headers=envelope.headers
                )
        finally:
            await producer.stop()

    async def caught_up(self, group: str) -> bool:
        """``group`` has committed every record of the test topics."""
        bootstrap = self.infra.kafka_bootstrap
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await admin.start()
        await probe.start()
        try:
            committed = await admin.list_consumer_group_offsets(group)
            partitions = [TopicPartition(t, p) for t in self.topics.values() for p in (0, 1)]
            ends = await probe.end_offsets(partitions)
        finally:
            await probe.stop()
            await admin.close()
        done = {tp: meta.offset for tp, meta in committed.items()}
        return all(done.get(tp, 0) == end for tp, end in ends.items())


@dataclass(frozen=True)
class Record:
    event_name: str
    envelope: Envelope


def record(event: Event | DataProtectionEvent) -> Record:
    """The Kafka record a producing service would write for ``event``."""
    spec = spec_for_model(type(event))  # version 1 registrations too: still read
    return Record(spec.topic, build_envelope(spec, event, source="/test"))


@asynccontextmanager
async def private_harness(infra: Infra, name: str) -> AsyncIterator[Harness]:
    """A harness of a module's own: private copies of every topic notifications reads (under
    ``test.<name>.``), and the isolated database."""
    async with private_topics(infra, name, SPECS, partitions=2) as topics:
        yield Harness(infra, topics, await isolated_notifications_dsn(infra))


@pytest.fixture(scope="module")
async def harness(infra: Infra) -> AsyncIterator[Harness]:
    async with private_harness(infra, "notifications") as harness:
        yield harness


@asynccontextmanager
async def migrated_database(harness: Harness) -> AsyncIterator[Database]:
    """The harness's notifications schema, migrated, and a pool on it."""
    await migrate(harness.dsn, schema=SCHEMA, package=MIGRATIONS_PACKAGE)
    database = Database(harness.dsn, schema=SCHEMA)
    await database.open(min_size=1, max_size=4)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture(scope="module")
async def database(harness: Harness) -> AsyncIterator[Database]:
    async with migrated_database(harness) as database:
        yield database


@asynccontextmanager
async def service(harness: Harness, settings: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The service in-process with its lifespan (consumer and senders) running, and an HTTP
    client holding a case worker's token."""
    app = build_app(Settings(**settings))
    token = issue_dev_token(harness.infra.jwt_secret, "case_worker")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://notifications",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            yield client


def registration(phone: str | None, language: str = "fr", **changes: Any) -> ReturneeRegistered:
    now = datetime.now(UTC)
    return example_returnee_registered(
        **{
            "returnee_id": uuid.uuid4(),
            # Registered today: contacts of registrations older than the retention period
            # (CONTACT_RETENTION_DAYS) lose their phone number at once.
            "registered_at": now,
            "arrival_date": now.date(),
            "preferred_language": language,
            "vulnerabilities": [],
            "consents": {"sms_contact": phone is not None},
            "personal": {"phone": phone, "date_of_birth": None},
            **changes,
        }
    )


async def rows_of(database: Database, returnee_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return list(
        await database.pool.fetch(
            "SELECT * FROM deliveries WHERE returnee_id = ANY($1::uuid[]) ORDER BY created_at",
            list(returnee_ids),
        )
    )


async def until_finished(database: Database, returnee_ids: Sequence[UUID], rows: int) -> None:
    def finished(found: list[asyncpg.Record]) -> bool:
        return len(found) == rows and all(r["status"] in ("sent", "failed") for r in found)

    await eventually(
        lambda: rows_of(database, returnee_ids),
        until=finished,
        within=20,
        what=f"{rows} notifications sent or failed",
    )


async def only_one(centre: FakeSmsCentre, phone: str) -> ReceivedSms:
    """The one SMS the fake SMS centre received for ``phone``; Kannel hands a message to it
    after its sendsms answer, so a notification can be `sent` before the SMS is there."""
    received = await eventually(lambda: centre.to(phone), within=15, what=f"an SMS to {phone}")
    assert len(received) == 1, f"{len(received)} SMS for one notification"
    return received[0]


async def test_registrations_get_one_sms_each_in_their_language(
    harness: Harness, database: Database
) -> None:
    centre = FakeSmsCentre()
    phones = {language: new_phone() for language in ("fr", "en", "bm")}
    consented = [registration(phone, language) for language, phone in phones.items()]
    refused = registration(None)
    everyone = [*consented, refused]
    ids = [r.returnee_id for r in everyone]

    async with service(harness, harness.settings()) as api:
        await harness.publish([record(r) for r in everyone])
        await until_finished(database, ids, rows=3)
        listed = (await api.get("/notifications", params={"returnee_id": str(ids[1])})).json()
        elsewhere = next(c for c in ReceptionCentre if c != everyone[1].reception_centre)
        token = issue_dev_token(harness.infra.jwt_secret, "case_worker", centres=[elsewhere])
        from_elsewhere = await api.get(
            "/notifications",
            params={"returnee_id": str(ids[1])},
            headers={"Authorization": f"Bearer {token}"},
        )

    # Another centre's worker learns nothing, not even that there is something to hide.
    assert from_elsewhere.status_code == 200 and from_elsewhere.json()["items"] == []
    rows = {r["returnee_id"]: r for r in await rows_of(database, ids)}
    assert refused.returnee_id not in rows  # no consent, no row, no SMS
    for returnee, (language, phone) in zip(consented, phones.items(), strict=True):
        row = rows[returnee.returnee_id]
        assert (row["status"], row["attempts"], row["rule"]) == ("sent", 1, "welcome_sms")
        assert (row["address"], row["body"]) == (None, None)  # gone once sent
        text = (await only_one(centre, phone)).text(row["encoding"])
        greeting = "Welcome to Mali." if language == "en" else "Bienvenue au Mali."
        assert text.startswith(greeting), text  # Bambara has no templates yet: French
        assert row["language"] == ("en" if language == "en" else "fr")
        assert row["segments"] <= Settings.model_fields["sms_max_segments"].default
    [item] = listed["items"]
    assert (item["status"], item["language"], item["channel"]) == ("sent", "en", "sms")
    assert "address" not in item and "body" not in item


async def test_a_vulnerable_arrival_sends_exactly_one_email_to_its_centre_team(
    harness: Harness, database: Database
) -> None:
    arrival = registration(None, reception_centre="gao", vulnerabilities=["unaccompanied_child"])
    team = "equipe.gao@example.org"
    addresses = {c: f"equipe.{c}@example.org" for c in ("bamako", "kayes", "mopti", "tombouctou")}
    settings = harness.settings(centre_team_emails={**addresses, "gao": team})
    sink = SmtpSink()

    async with service(harness, settings):
        await harness.publish([record(arrival)])
        await until_finished(database, [arrival.returnee_id], rows=1)

    [row] = await rows_of(database, [arrival.returnee_id])
    assert (row["status"], row["channel"], row["recipient"]) == ("sent", "email", "centre_team:gao")
    [mail] = sink.kept({f"<{row['notification_id']}@notifications.retour>"})
    assert mail["To"] == team
    assert mail["Subject"].startswith("[retour] Personne vulnérable arrivée à Gao")
    body = mail.get_content()
    assert "enfant non accompagné" in body and str(arrival.returnee_id) in body
    assert arrival.personal.given_name not in body


async def test_aid_and_activities_reach_returnees_even_before_their_registration_is_read(
    harness: Harness, database: Database
) -> None:
    centre = FakeSmsCentre()
    first, second = registration(new_phone()), registration(new_phone(), "en")
    aid = example_aid_granted(aid_id=uuid.uuid4(), returnee_id=first.returnee_id)
    ids = [first.returnee_id, second.returnee_id]
    activity = example_activity_launched(
        activity_id=uuid.uuid4(),
        returnee_ids=[str(i) for i in ids],
        level="collective",
        shares=[{"returnee_id": str(second.returnee_id), "amount": {"amount": "125000"}}],
    )

    async with service(harness, harness.settings()):
        await harness.publish([record(aid)])  # overtakes the registration

        async def held() -> bool:
            return [r["status"] for r in await rows_of(database, ids)] == ["held"]

        await eventually(held)
        await harness.publish([record(first), record(second), record(activity)])
        await until_finished(database, ids, rows=5)

    rows = await rows_of(database, ids)
    assert {r["status"] for r in rows} == {"sent"}
    first_sms = await eventually(
        lambda: centre.to(first.personal.phone or ""),
        until=lambda received: len(received) >= 3,
        within=15,
        what="three SMS to the first returnee",
    )
    second_sms = await eventually(
        lambda: centre.to(second.personal.phone or ""),
        until=lambda received: len(received) >= 2,
        within=15,
        what="two SMS to the second returnee",
    )
    texts = sorted(sms.text("gsm7") for sms in first_sms)
    assert len(texts) == 3  # welcome, aid, activity
    assert any("subvention pour créer votre activité de 350 000 FCFA" in t for t in texts)
    [share] = [s for s in second_sms if b"share" in s.payload]
    assert "Your share of the funding: 125 000 FCFA." in share.text("gsm7")


async def test_an_erased_or_withdrawn_returnee_is_never_contacted_again(
    harness: Harness, database: Database
) -> None:
    centre = FakeSmsCentre()
    erased_early, erased_late, withdrawn = (registration(new_phone()) for _ in range(3))
    now = datetime.now(UTC)
    aid_for = {
        r.returnee_id: example_aid_granted(aid_id=uuid.uuid4(), returnee_id=r.returnee_id)
        for r in (erased_early, erased_late, withdrawn)
    }
    ids = list(aid_for)
    settings = harness.settings()

    async with service(harness, settings):
        # The aid overtakes the registrations and waits; one erasure overtakes its
        # registration too (topics are read independently).
        await harness.publish([record(aid) for aid in aid_for.values()])
        await eventually(
            lambda: rows_of(database, ids),
            until=lambda rows: [r["status"] for r in rows] == ["held"] * 3,
            what="three aid SMS waiting for their registrations",
        )
        await harness.publish(
            [record(example_returnee_erased(returnee_id=erased_early.returnee_id, erased_at=now))]
        )
        await eventually(
            lambda: rows_of(database, ids),
            until=lambda rows: sorted(r["status"] for r in rows) == ["failed", "held", "held"],
            what="the early erasure cancels what waited for that person",
        )
        await harness.publish(
            [
                record(example_returnee_erased(returnee_id=erased_late.returnee_id, erased_at=now)),
                record(
                    example_consent_changed(
                        returnee_id=withdrawn.returnee_id,
                        changed_at=now + timedelta(seconds=1),
                        sms_contact=False,
                    )
                ),
            ]
        )
        await eventually(
            lambda: rows_of(database, ids),
            until=lambda rows: sorted(r["status"] for r in rows) == ["failed"] * 3,
            what="every waiting message cancelled",
        )
        # The registrations arrive last: they must not bring the people back.
        await harness.publish([record(r) for r in (erased_early, erased_late, withdrawn)])
        await eventually(
            lambda: harness.caught_up(settings["consumer_group"]), what="all events read"
        )
        await asyncio.sleep(1)  # give any wrongly queued SMS the time to leave

    rows = await rows_of(database, ids)
    assert len(rows) == 3 and {r["last_error"] for r in rows} == {
        "returnee erased",
        "sms consent withdrawn",
    }
    assert all(r["address"] is None and r["body"] is None for r in rows)
    for person in (erased_early, erased_late, withdrawn):
        assert centre.to(person.personal.phone or "") == []
    contacts = await database.pool.fetch(
        "SELECT returnee_id, sms_consent, phone FROM contacts WHERE returnee_id = ANY($1::uuid[])",
        ids,
    )
    assert [(c["returnee_id"], c["sms_consent"], c["phone"]) for c in contacts] == [
        (withdrawn.returnee_id, False, None)
    ]  # the erased have no contact row at all; the withdrawn one keeps no number


async def test_redelivered_and_replayed_events_send_nothing_twice(
    harness: Harness, database: Database
) -> None:
    centre, sink = FakeSmsCentre(), SmtpSink()
    returnee = registration(new_phone(), vulnerabilities=["elderly"])
    phone = returnee.personal.phone or ""
    same = record(returnee)

    async with service(harness, harness.settings()):
        await harness.publish([same, same])  # a producer retry: the same ce_id twice
        await until_finished(database, [returnee.returnee_id], rows=2)
    first_rows = await rows_of(database, [returnee.returnee_id])

    # A new group reads the test topics from the start (this module's earlier events too), and
    # the event comes once more while it does.
    replay = harness.settings()
    async with service(harness, replay):
        await harness.publish([same])

        async def replayed() -> bool:
            return await harness.caught_up(replay["consumer_group"])

        await eventually(replayed)
        await asyncio.sleep(1.0)  # what a duplicate would need to reach the gateways

    assert await rows_of(database, [returnee.returnee_id]) == first_rows
    await only_one(centre, phone)
    message_ids = {f"<{row['notification_id']}@notifications.retour>" for row in first_rows}
    assert len(sink.kept(message_ids)) == 1


async def test_sms_wait_for_kannel_to_come_back_while_events_keep_being_recorded(
    harness: Harness, database: Database
) -> None:
    centre = FakeSmsCentre()
    returnees = [registration(new_phone()) for _ in range(3)]
    ids = [r.returnee_id for r in returnees]

    async with service(harness, harness.settings()):
        await kannel("stop")
        try:
            await harness.publish([record(r) for r in returnees])

            async def retrying() -> bool:
                rows = await rows_of(database, ids)
                return len(rows) == 3 and all(r["attempts"] >= 2 for r in rows)

            await eventually(retrying)
            for row in await rows_of(database, ids):
                assert row["status"] in ("queued", "sending")
                assert row["last_error"].startswith("kannel unreachable")
        finally:
            await kannel("start")
        await until_finished(database, ids, rows=3)

    assert {r["status"] for r in await rows_of(database, ids)} == {"sent"}
    for returnee in returnees:
        await only_one(centre, returnee.personal.phone or "")


async def kannel(action: str) -> None:
    """Stops or starts the stack's Kannel (bearerbox, smsbox and the fake SMS centre)."""
    script = await asyncio.create_subprocess_exec("bash", str(KANNEL_SCRIPT), action)
    async with asyncio.timeout(60):
        assert await script.wait() == 0


async def test_a_number_the_gateway_refuses_is_failed_once_and_not_retried(
    harness: Harness, database: Database
) -> None:
    # Came back from Côte d'Ivoire with an Ivorian SIM; the gateway serves Malian numbers only.
    centre = FakeSmsCentre()
    returnee = registration(new_phone("+22507", 8))

    counted = 'notifications_failed_total{channel="sms",reason="rejected"} 1.0'

    async with service(harness, harness.settings()) as api:

        async def metrics() -> str:
            return (await api.get("/metrics")).text

        await harness.publish([record(returnee)])
        await until_finished(database, [returnee.returnee_id], rows=1)
        # Counted once the outcome is recorded (just after the row is seen finished).
        await eventually(metrics, until=lambda text: counted in text, what=counted)
        await asyncio.sleep(0.5)  # long enough for a retry, were there one
        text = await metrics()

    [row] = await rows_of(database, [returnee.returnee_id])
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("kannel answered 400: Number(s) has/have been denied")
    assert (row["address"], row["body"]) == (None, None)
    assert centre.to(returnee.personal.phone or "") == []
    assert counted in text


async def test_a_service_killed_mid_stream_sends_every_sms_at_most_once(
    harness: Harness, database: Database
) -> None:
    centre = FakeSmsCentre()
    returnees = [registration(new_phone()) for _ in range(100)]
    ids = [r.returnee_id for r in returnees]
    # 40 SMS a second (an operator's throughput limit) spreads the 100 over 2.5 s.
    # Paced: a message may wait up to a second for its send slot while it holds its row, so
    # the lease covers that second too (the settings refuse a shorter one).
    settings = harness.settings(
        sms_max_per_second=40, consumer_session_timeout_ms=6000, sending_lease_seconds=4.0
    )
    environment = {name.upper(): str(value) for name, value in settings.items()}
    process = await asyncio.create_subprocess_exec(
        SERVICE_COMMAND,
        "serve",
        env={**os.environ, **environment, "HTTP_PORT": str(free_port())},
    )
    try:
        await harness.publish([record(r) for r in returnees])

        async def midway() -> bool:
            statuses = [row["status"] for row in await rows_of(database, ids)]
            return statuses.count("sent") >= 25

        await eventually(midway, within=30)
        process.send_signal(signal.SIGKILL)
        async with asyncio.timeout(10):
            await process.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
    sent_before = sum(r["status"] == "sent" for r in await rows_of(database, ids))
    assert sent_before < 100, "killed too late to interrupt the stream"

    async with service(harness, settings):  # restarted, same group
        await until_finished(database, ids, rows=100)

    rows = {r["returnee_id"]: r for r in await rows_of(database, ids)}
    sent_to = {r.personal.phone for r in returnees if rows[r.returnee_id]["status"] == "sent"}
    received = await eventually(
        centre.received,
        until=lambda received: sent_to <= {phone for phone, sms in received.items() if sms},
        within=15,
        what=f"an SMS to each of the {len(sent_to)} returnees whose notification is sent",
    )
    interrupted = [r for r in rows.values() if r["status"] == "failed"]
    for returnee in returnees:
        phone, row = returnee.personal.phone or "", rows[returnee.returnee_id]
        assert len(received.get(phone, [])) <= 1, "an SMS was sent twice"
        if row["status"] == "sent":
            assert len(received.get(phone, [])) == 1
        else:
            # Cut off mid-send by the kill: maybe delivered, certainly not sent again.
            assert row["last_error"] == INTERRUPTED
    assert len(interrupted) <= Settings.model_fields["sender_workers"].default


def unique_person(phone: str) -> dict[str, Any]:
    """A registration request intake takes as a new person (random names, this test's phone)."""
    names = {part: "Sel" + uuid.uuid4().hex[:10] for part in ("given_name", "family_name")}
    data = returnee_registered_data(
        arrival_date=datetime.now(UTC).date().isoformat(),
        reception_centre="kayes",
        vulnerabilities=[],
        consents={"sms_contact": True},
        personal={**names, "phone": phone, "date_of_birth": None},
        age_estimate=30,
    )
    for generated in (
        "returnee_id",
        "registered_at",
        "age_years",
        "age_is_estimated",
        "possible_duplicate_of",
        "duplicate_confirmed_by",
    ):
        data.pop(generated, None)
    return data


async def registered_by_intake(infra: Infra, person: dict[str, Any]) -> Record:
    """``person`` registered by the running intake, and the record it published (version 2,
    the personal block sealed under a key only intake's key store hands out)."""
    intake = running_services().intake
    token = issue_dev_token(infra.jwt_secret, "registrar", centres=["kayes"])
    async with TopicProbe(infra.kafka_bootstrap, RETURNEE_REGISTERED_V2.topic) as probe:
        async with httpx.AsyncClient(timeout=30, event_hooks=FRESH_IDEMPOTENCY_KEYS) as http:
            created = await http.post(
                f"{intake}/returnees", json=person, headers={"Authorization": f"Bearer {token}"}
            )
        assert created.status_code == 201, created.text
        returnee_id = created.json()["returnee_id"].encode()
        seen = await probe.collect(lambda got: any(r.key == returnee_id for r in got), within=60)
        [published] = [r for r in seen if r.key == returnee_id]
    envelope = Envelope(published.topic, published.key, published.value, list(published.headers))
    return Record(RETURNEE_REGISTERED_V2.topic, envelope)


async def test_sealed_registrations_are_opened_with_the_keys_intake_releases(
    harness: Harness, database: Database
) -> None:
    phone = new_phone()
    sealed = await registered_by_intake(harness.infra, unique_person(phone))
    assert phone.encode() not in sealed.envelope.value
    returnee_id = UUID(sealed.envelope.key.decode())
    # A person erased since: intake refuses their key, so they are not contacted, and their
    # registration is no poison event either.
    gone = await registered_by_intake(harness.infra, unique_person(new_phone()))
    gone_id = UUID(gone.envelope.key.decode())
    await erase_in_intake(harness.infra, gone_id)
    # A sealed registration intake knows nothing of (another intake's, say): not the person's
    # choice, so not dropped in silence: dead-lettered, with the reason, for an operator.
    stranger = registration(new_phone())
    unknown = Record(
        RETURNEE_REGISTERED_V2.topic,
        build_envelope(
            RETURNEE_REGISTERED_V2,
            seal_registration(stranger, new_data_key(), event_id=str(uuid.uuid4())),
            source="/test",
        ),
    )
    settings = harness.settings(intake_url=running_services().intake)

    async with service(harness, settings):
        await harness.publish([unknown, gone, sealed])
        await until_finished(database, [returnee_id], rows=1)
        dead = await read_topic(
            harness.infra.kafka_bootstrap, f"{harness.topics['returnee.registered']}.dlq", 1
        )
        await eventually(lambda: harness.caught_up(settings["consumer_group"]))

    [row] = await rows_of(database, [returnee_id])
    assert (row["rule"], row["status"]) == ("welcome_sms", "sent")
    # The number came out of the sealed block. (The stack's own notifications service reads
    # intake's real record too and texts the person as well: the SMS centre cannot tell
    # this service's message apart, the contact kept here can.)
    kept = await database.pool.fetchval(
        "SELECT phone FROM contacts WHERE returnee_id = $1", returnee_id
    )
    assert kept == phone
    assert await rows_of(database, [stranger.returnee_id, gone_id]) == []
    [letter] = dead
    assert letter.key == str(stranger.returnee_id).encode()
    reason = dict(letter.headers)["dlq_reason"].decode()
    assert f"{stranger.returnee_id}: unknown" in reason
    assert stranger.personal.family_name not in reason


async def erase_in_intake(infra: Infra, returnee_id: UUID) -> None:
    token = issue_dev_token(infra.jwt_secret, "data_protection_officer")
    async with httpx.AsyncClient(timeout=30, event_hooks=FRESH_IDEMPOTENCY_KEYS) as http:
        erased = await http.post(
            f"{running_services().intake}/returnees/{returnee_id}/erasure",
            json={"reason": "data_subject_request"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert erased.status_code == 200, erased.text


async def test_an_unreachable_key_store_holds_sealed_registrations_back_without_losing_them(
    harness: Harness, database: Database
) -> None:
    """Intake down: the batch waits (TransientError) instead of being dead-lettered, and
    is recorded once the key store answers again."""
    phone = new_phone()
    sealed = await registered_by_intake(harness.infra, unique_person(phone))
    returnee_id = UUID(sealed.envelope.key.decode())
    nowhere = harness.settings(intake_url=f"http://127.0.0.1:{free_port()}")

    async with service(harness, nowhere):
        await harness.publish([sealed])
        await asyncio.sleep(3)  # several attempts, each refused a connection
        assert await rows_of(database, [returnee_id]) == []
    dead = await read_topic(
        harness.infra.kafka_bootstrap, f"{harness.topics['returnee.registered']}.dlq", 0, within=1
    )  # the module's topics: other tests' dead letters are there too
    assert [r for r in dead if r.key == sealed.envelope.key] == []

    # The same group, the key store back: the held event is recorded.
    back = {**nowhere, "intake_url": running_services().intake}
    async with service(harness, back):
        await until_finished(database, [returnee_id], rows=1)
    [row] = await rows_of(database, [returnee_id])
    assert (row["rule"], row["status"]) == ("welcome_sms", "sent")
