"""Notifications applies returnee.updated: the next SMS goes to the new phone, in the new
language, whatever the order the topics are read in, and never to an erased person.

People are registered by the running intake (its sealed record is captured and produced to
this module's private topics, as in test_notifications_delivery); their update is produced as
intake would publish it, the new personal block sealed under the person's data key, which the
test obtains from intake's key store exactly as notifications does. SMS are read back from
Kannel's fake SMS centre. (The stack's own notifications service reads intake's real records
too and welcomes each person on their first phone: only this module's service ever learns of
the second one.)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from pydantic import SecretStr
from test_end_to_end import running_services
from test_notifications_delivery import (
    Harness,
    Record,
    database,
    erase_in_intake,
    private_harness,
    record,
    registered_by_intake,
    rows_of,
    service,
    unique_person,
    until_finished,
)
from test_notifications_gateways import FakeSmsCentre, ReceivedSms, SmtpSink, new_phone

from retour_contracts import (
    RETURNEE_UPDATED_V1,
    FactChanges,
    PersonalData,
    ReturneeUpdated,
    build_envelope,
)
from retour_contracts.examples import (
    example_aid_granted,
    example_consent_changed,
    example_returnee_erased,
)
from retour_contracts.sealing import UPDATED, seal_personal
from retour_kit.db import Database
from retour_notifications.adapters.intake_keys import IntakeDataKeys, self_signed_bearer
from retour_notifications.adapters.pg_contacts import PgContacts, forget_contacts
from retour_notifications.adapters.pg_ledger import PHONE_REMOVED, PgLedger
from retour_notifications.adapters.pg_protection import PgProtection
from retour_notifications.domain.contacts import Contact
from retour_notifications.domain.corrections import Corrections, Versioned
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.rules import Channel
from retour_test_infra import Infra, eventually, read_topic

pytestmark = pytest.mark.integration

# The delivery tests' fixture: the isolated notifications database, migrated.
__all__ = ["database"]


@pytest.fixture(scope="module")
async def harness(infra: Infra) -> AsyncIterator[Harness]:
    """Private copies of every topic notifications reads, returnee.updated included."""
    async with private_harness(infra, "corrections") as harness:
        yield harness


def settings(harness: Harness) -> dict[str, Any]:
    return harness.settings(intake_url=running_services().intake)


class Person:
    """A person registered by the running intake, and what intake would publish about them."""

    def __init__(self, registration: Record, names: dict[str, str], key: bytes) -> None:
        self.registration = registration
        self.names = names
        self.key = key
        self.id = UUID(registration.envelope.key.decode())

    @classmethod
    async def register(cls, infra: Infra, phone: str, **changes: Any) -> Person:
        body = {**unique_person(phone), **changes}
        sealed = await registered_by_intake(infra, body)
        assert phone.encode() not in sealed.envelope.value
        returnee_id = UUID(sealed.envelope.key.decode())
        # The key notifications obtains: the same account, the same key store.
        store = IntakeDataKeys(
            running_services().intake,
            self_signed_bearer(SecretStr(infra.jwt_secret)),
            timeout_seconds=10,
            max_cache_seconds=0,
        )
        key = (await store.keys_of([returnee_id]))[returnee_id]
        assert isinstance(key, bytes), key
        names = {part: body["personal"][part] for part in ("given_name", "family_name")}
        return cls(sealed, names, key)

    def updated(
        self,
        version: int,
        *,
        phone: str | None = None,
        language: str | None = None,
        centre: str | None = None,
        updated_at: datetime | None = None,
    ) -> Record:
        """returnee.updated as intake publishes it: a new phone sealed with the whole personal
        block after the change, under the person's key, for this event's id."""
        event_id = str(uuid.uuid4())
        changed = [
            name
            for name, value in (
                ("preferred_language", language),
                ("reception_centre", centre),
                ("personal.phone", phone),
            )
            if value is not None
        ]
        sealed = None
        if phone is not None:
            personal = PersonalData(**self.names, phone=phone)
            sealed = seal_personal(personal, self.key, event_id=event_id, event_name=UPDATED)
        event = ReturneeUpdated.model_validate(
            {
                "returnee_id": self.id,
                "version": version,
                "updated_at": updated_at or datetime.now(UTC),
                "updated_by": "agent.kayes.007",
                "reason": "new_information",
                "changed": changed,
                "facts": FactChanges.model_validate(
                    {"preferred_language": language, "reception_centre": centre}
                ),
                "sealed_personal": sealed,
            }
        )
        envelope = build_envelope(RETURNEE_UPDATED_V1, event, source="/intake", event_id=event_id)
        return Record(RETURNEE_UPDATED_V1.topic, envelope)

    def aid(self) -> Record:
        return record(
            example_aid_granted(
                aid_id=uuid.uuid4(), returnee_id=self.id, granted_at=datetime.now(UTC)
            )
        )


async def contact_of(database: Database, returnee_id: UUID) -> dict[str, Any] | None:
    row = await database.pool.fetchrow(
        "SELECT reception_centre, language, sms_consent, phone, language_version,"
        " centre_version, phone_version FROM contacts WHERE returnee_id = $1",
        returnee_id,
    )
    return None if row is None else dict(row)


async def waiting_for(database: Database, returnee_id: UUID) -> dict[str, Any] | None:
    row = await database.pool.fetchrow(
        "SELECT * FROM pending_corrections WHERE returnee_id = $1", returnee_id
    )
    return None if row is None else dict(row)


async def texts_to(centre: FakeSmsCentre, phone: str, count: int) -> list[str]:
    received: list[ReceivedSms] = await eventually(
        lambda: centre.to(phone),
        until=lambda got: len(got) >= count,
        within=15,
        what=f"{count} SMS to {phone}",
    )
    return [sms.text("gsm7") for sms in received]


async def test_after_a_correction_the_next_sms_goes_to_the_new_phone_in_french(
    harness: Harness, database: Database
) -> None:
    centre = FakeSmsCentre()
    phone_a, phone_b = new_phone(), new_phone()
    person = await Person.register(harness.infra, phone_a, preferred_language="bm")
    config = settings(harness)

    async with service(harness, config):
        await harness.publish([person.registration])
        await until_finished(database, [person.id], rows=1)  # welcome, to phone A
        await harness.publish([person.updated(2, phone=phone_b, language="fr")])
        await eventually(
            lambda: contact_of(database, person.id),
            until=lambda contact: contact is not None and contact["phone"] == phone_b,
            what="the corrected phone",
        )
        await harness.publish([person.aid()])
        await until_finished(database, [person.id], rows=2)

    rows = await rows_of(database, [person.id])
    assert [(r["rule"], r["status"]) for r in rows] == [
        ("welcome_sms", "sent"),
        ("aid_granted_sms", "sent"),
    ]  # the correction itself sent nothing
    assert rows[1]["language"] == "fr"
    [aid_text] = await texts_to(centre, phone_b, 1)
    assert "subvention pour créer votre activité de 350 000 FCFA" in aid_text
    assert all("350 000 FCFA" not in text for text in await texts_to(centre, phone_a, 1))
    assert await contact_of(database, person.id) == {
        "reception_centre": "kayes",
        "language": "fr",
        "sms_consent": True,
        "phone": phone_b,
        "language_version": 2,
        "centre_version": 1,
        "phone_version": 2,
    }


async def test_updates_read_before_the_registration_wait_for_it_and_apply_latest_first(
    harness: Harness, database: Database
) -> None:
    centre, sink = FakeSmsCentre(), SmtpSink()
    phone_a, phone_b = new_phone(), new_phone()
    person = await Person.register(
        harness.infra, phone_a, preferred_language="en", vulnerabilities=["elderly"]
    )
    config = settings(harness)

    async with service(harness, config):
        # Version 3 (French, transferred to Gao) is read before version 2 (a new phone, and
        # English again): version 2's language is older and must not win.
        await harness.publish(
            [
                person.updated(3, language="fr", centre="gao"),
                person.updated(2, phone=phone_b, language="en"),
                person.aid(),
            ]
        )
        waiting = await eventually(
            lambda: waiting_for(database, person.id),
            until=lambda row: row is not None and row["phone_version"] == 2,
            what="both corrections waiting for the registration",
        )
        assert waiting is not None
        assert (waiting["language"], waiting["reception_centre"], waiting["phone"]) == (
            "fr",
            "gao",
            phone_b,
        )
        assert await contact_of(database, person.id) is None
        await harness.publish([person.registration])
        await until_finished(database, [person.id], rows=3)

    rows = {r["rule"]: r for r in await rows_of(database, [person.id])}
    assert {rule: r["status"] for rule, r in rows.items()} == {
        "aid_granted_sms": "sent",  # held until the registration, then released
        "welcome_sms": "sent",
        "vulnerable_arrival_email": "sent",
    }
    assert {rows["aid_granted_sms"]["language"], rows["welcome_sms"]["language"]} == {"fr"}
    texts = await texts_to(centre, phone_b, 2)
    assert len(texts) == 2 and any("Bienvenue au Mali." in t for t in texts), texts
    assert any("350 000 FCFA" in t for t in texts), texts
    # The team that holds the case now is told, not the centre that registered the person.
    email = rows["vulnerable_arrival_email"]
    assert email["recipient"] == "centre_team:gao"
    [mail] = sink.kept({f"<{email['notification_id']}@notifications.retour>"})
    assert mail["To"] == "equipe.gao@centres.retour.local"
    assert await waiting_for(database, person.id) is None
    assert await contact_of(database, person.id) == {
        "reception_centre": "gao",
        "language": "fr",
        "sms_consent": True,
        "phone": phone_b,
        "language_version": 3,
        "centre_version": 3,
        "phone_version": 2,
    }


async def test_an_update_after_the_erasure_does_not_bring_the_person_back(
    harness: Harness, database: Database
) -> None:
    centre = FakeSmsCentre()
    phone_a, phone_b, phone_c = new_phone(), new_phone(), new_phone()
    person = await Person.register(harness.infra, phone_a)
    # Sealed while intake still had the key: an update that was on its way when the person
    # was erased.
    new_phone_update = person.updated(2, phone=phone_b, language="fr")
    # Another one's correction is read before their registration, then they are erased.
    other = await Person.register(harness.infra, new_phone())
    config = settings(harness)

    async with service(harness, config):
        await harness.publish([person.registration, other.updated(2, phone=phone_c)])
        await until_finished(database, [person.id], rows=1)
        await eventually(lambda: waiting_for(database, other.id), what="a correction waiting")
        now = datetime.now(UTC)
        for erased in (person, other):
            await erase_in_intake(harness.infra, erased.id)
        await harness.publish(
            [
                record(example_returnee_erased(returnee_id=p.id, erased_at=now))
                for p in (person, other)
            ]
        )
        await eventually(
            lambda: contact_of(database, person.id),
            until=lambda contact: contact is None,
            what="the contact forgotten",
        )
        # The phone's key is refused as erased; the language alone needs no key, and the
        # person is known to be forgotten.
        await harness.publish(
            [new_phone_update, person.updated(3, language="en"), person.aid(), other.registration]
        )
        await eventually(lambda: harness.caught_up(config["consumer_group"]), what="all read")

    for forgotten in (person, other):
        assert await contact_of(database, forgotten.id) is None
        assert await waiting_for(database, forgotten.id) is None
    rows = await rows_of(database, [person.id, other.id])
    assert [(r["rule"], r["status"]) for r in rows] == [("welcome_sms", "sent")]
    assert centre.to(phone_b) == [] and centre.to(phone_c) == []
    dead = await read_topic(
        harness.infra.kafka_bootstrap, f"{harness.topics['returnee.updated']}.dlq", 0, within=1
    )
    assert [r for r in dead if r.key == str(person.id).encode()] == []


async def test_the_adapters_forget_a_waiting_phone_and_readdress_waiting_sms(
    database: Database,
) -> None:
    """What erasures, withdrawals, retention and corrections do to the new rows, in SQL."""
    withdrawn, erased, old, kept, corrected = (uuid.uuid4() for _ in range(5))
    phone = new_phone()
    row = notification(returnee_id=corrected)
    async with database.pool.acquire() as conn, conn.transaction():
        contacts = PgContacts(conn)
        await contacts.keep_waiting(
            [
                Corrections(rid, phone=Versioned(phone, 2), language=Versioned("fr", 3))
                for rid in (withdrawn, erased, old, kept)
            ]
        )
        # Kept past the retention period: its registration is older still.
        await conn.execute(
            "UPDATE pending_corrections SET recorded_at = now() - interval '500 days'"
            " WHERE returnee_id = $1",
            old,
        )
        await PgLedger(conn).add([row])
        protection = PgProtection(conn)
        await protection.change_sms_consent(withdrawn, False, datetime.now(UTC))
        await protection.forget(erased, datetime.now(UTC))
    assert await forget_contacts(database.pool, datetime.now(UTC) - timedelta(days=400)) >= 1

    async with database.pool.acquire() as conn:
        contacts = PgContacts(conn)
        waiting = await contacts.corrections_waiting([withdrawn, erased, old, kept])
        # The phone goes, its version stays: an older phone read later cannot come back.
        without_phone = {
            rid: Corrections(rid, phone=Versioned(None, 2), language=Versioned("fr", 3))
            for rid in (withdrawn, old)
        }
        assert waiting == {
            **without_phone,
            kept: Corrections(kept, phone=Versioned(phone, 2), language=Versioned("fr", 3)),
        }
        await contacts.drop_waiting([withdrawn, old, kept])
        assert await contacts.corrections_waiting([withdrawn, old, kept]) == {}

        ledger = PgLedger(conn)
        new_number = new_phone()
        assert await ledger.readdress_sms(corrected, new_number) == 1
        address = await conn.fetchval(
            "SELECT address FROM deliveries WHERE notification_id = $1", row.notification_id
        )
        assert address == new_number
        assert await ledger.readdress_sms(corrected, None) == 1
        cancelled = await conn.fetchrow(
            "SELECT status, last_error, address, body FROM deliveries WHERE notification_id = $1",
            row.notification_id,
        )
        assert cancelled is not None
        assert dict(cancelled) == {
            "status": "failed",
            "last_error": PHONE_REMOVED,
            "address": None,
            "body": None,
        }


def sms_consent(returnee_id: UUID, given: bool, at: datetime) -> Record:
    return record(
        example_consent_changed(returnee_id=returnee_id, changed_at=at, sms_contact=given)
    )


async def test_a_phone_set_before_a_withdrawal_stays_out_after_the_consent_is_given_back(
    harness: Harness, database: Database
) -> None:
    """The phone is corrected (t1), then SMS consent withdrawn (t2: intake deletes the number)
    and given back (t3: no number comes back); both consent changes are read first."""
    centre = FakeSmsCentre()
    phone_a, phone_b = new_phone(), new_phone()
    person = await Person.register(harness.infra, phone_a)
    t1 = datetime.now(UTC)
    t2, t3 = t1 + timedelta(seconds=1), t1 + timedelta(seconds=2)
    config = settings(harness)

    async with service(harness, config):
        await harness.publish([person.registration])
        await until_finished(database, [person.id], rows=1)  # welcome, to phone A
        await harness.publish([sms_consent(person.id, False, t2), sms_consent(person.id, True, t3)])
        await eventually(
            lambda: contact_of(database, person.id),
            until=lambda c: c is not None and c["sms_consent"] and c["phone"] is None,
            what="consent given back, without a phone",
        )
        await harness.publish([person.updated(2, phone=phone_b, updated_at=t1), person.aid()])
        await eventually(lambda: harness.caught_up(config["consumer_group"]), what="all read")

    assert await contact_of(database, person.id) == {
        "reception_centre": "kayes",
        "language": "bm",
        "sms_consent": True,
        "phone": None,
        "language_version": 1,
        "centre_version": 1,
        "phone_version": 2,  # the correction is known, its phone not kept
    }
    rows = await rows_of(database, [person.id])
    assert [(r["rule"], r["status"]) for r in rows] == [("welcome_sms", "sent")]
    assert centre.to(phone_b) == []


async def test_the_adapters_drop_a_phone_set_before_a_withdrawal_read_late(
    database: Database,
) -> None:
    """A withdrawal older than the give-back already recorded no longer decides the consent,
    but drops the phones set before it (and the SMS addressed to them), waiting or not."""
    early, late, waiting_early, waiting_late = (uuid.uuid4() for _ in range(4))
    t0 = datetime.now(UTC) - timedelta(hours=1)
    t1, t2, t3, t4 = (t0 + timedelta(minutes=minutes) for minutes in (1, 2, 3, 4))
    phone = new_phone()
    row = notification(returnee_id=early)
    async with database.pool.acquire() as conn, conn.transaction():
        contacts = PgContacts(conn)
        await contacts.save_all(
            [
                Contact(rid, "kayes", "fr", True, phone, t0, phone_version=2, phone_set_at=at)
                for rid, at in ((early, t1), (late, t4))
            ]
        )
        await contacts.keep_waiting(
            [
                Corrections(rid, phone=Versioned(phone, 2, at))
                for rid, at in ((waiting_early, t1), (waiting_late, t4))
            ]
        )
        await PgLedger(conn).add([row])
        protection = PgProtection(conn)
        everyone = [early, late, waiting_early, waiting_late]
        for rid in everyone:
            assert await protection.change_sms_consent(rid, True, t3) == 0
        assert await protection.change_sms_consent(early, False, t2) == 1  # its SMS
        for rid in everyone[1:]:
            assert await protection.change_sms_consent(rid, False, t2) == 0
        assert await protection.change_sms_consent(early, False, t2) == 0  # redelivered
        refusals = await protection.refusals(everyone)

    assert refusals.sms_changes == {rid: (True, t3) for rid in everyone}
    assert {rid: refusals.withdrawn_at(rid) for rid in everyone} == dict.fromkeys(everyone, t2)
    async with database.pool.acquire() as conn:
        contacts = PgContacts(conn)
        found = await contacts.find([early, late])
        assert {rid: (c.sms_consent, c.phone, c.phone_set_at) for rid, c in found.items()} == {
            early: (True, None, t1),
            late: (True, phone, t4),
        }
        assert await contacts.corrections_waiting([waiting_early, waiting_late]) == {
            waiting_early: Corrections(waiting_early, phone=Versioned(None, 2, t1)),
            waiting_late: Corrections(waiting_late, phone=Versioned(phone, 2, t4)),
        }
        cancelled = await conn.fetchrow(
            "SELECT status, last_error, address FROM deliveries WHERE notification_id = $1",
            row.notification_id,
        )
        assert cancelled is not None
        assert dict(cancelled) == {
            "status": "failed",
            "last_error": "sms consent withdrawn",
            "address": None,
        }


def notification(returnee_id: UUID) -> Notification:
    return Notification(
        notification_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        event_type="aid.granted",
        rule="aid_granted_sms",
        channel=Channel.SMS,
        recipient=f"returnee:{returnee_id}",
        returnee_id=returnee_id,
        template="aid_granted",
        status=Status.QUEUED,
        language="fr",
        address="+22370000001",
        body="Bonjour",
        segments=1,
        encoding="gsm7",
    )
