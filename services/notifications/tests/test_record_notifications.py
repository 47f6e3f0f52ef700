"""What an event records in the ledger, with in-memory fakes of the ledger and contacts."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from retour_contracts import ReturneeRegistered
from retour_contracts.examples import (
    example_activity_launched,
    example_aid_granted,
    example_returnee_registered,
)
from retour_notifications.domain.contacts import Contact
from retour_notifications.domain.corrections import Corrections
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.planning import Event, notification_id
from retour_notifications.domain.rules import Channel
from retour_notifications.usecases.record import (
    IncomingEvent,
    Recorded,
    record_batch,
)
from retour_notifications_memory import MemoryLedger, packaged_recording

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TEAM = "equipe.bamako@example.org"


class FakeContacts:
    def __init__(self) -> None:
        self.saved: dict[UUID, Contact] = {}

    async def save_all(self, contacts: Sequence[Contact]) -> None:
        for contact in contacts:
            self.saved[contact.returnee_id] = contact

    async def find(self, returnee_ids: Collection[UUID]) -> dict[UUID, Contact]:
        return {rid: self.saved[rid] for rid in returnee_ids if rid in self.saved}

    async def corrections_waiting(self, returnee_ids: Collection[UUID]) -> dict[UUID, Corrections]:
        return {}

    async def keep_waiting(self, corrections: Sequence[Corrections]) -> None:
        raise AssertionError("recording keeps no correction")

    async def drop_waiting(self, returnee_ids: Collection[UUID]) -> None:
        pass


class Service:
    """The use case wired with fakes, one event at a time."""

    def __init__(self) -> None:
        self.ledger = MemoryLedger()
        self.contacts = FakeContacts()
        self.recording = packaged_recording({"bamako": TEAM})

    async def receive(
        self, event: Event, event_id: UUID | None = None, published_at: datetime = NOW
    ) -> Recorded:
        [recorded] = await record_batch(
            [IncomingEvent(event, event_id or uuid4(), published_at)],
            ledger=self.ledger,
            contacts=self.contacts,
            recording=self.recording,
            now=NOW,
        )
        return recorded

    def rows(self, **where: Any) -> list[Notification]:
        return [
            row
            for row in self.ledger.rows.values()
            if all(getattr(row, name) == value for name, value in where.items())
        ]


def registration(**changes: Any) -> ReturneeRegistered:
    return example_returnee_registered(**{"returnee_id": uuid4(), "vulnerabilities": [], **changes})


class TestRegistration:
    async def test_consent_and_phone_queue_a_welcome_sms_in_the_returnees_language(self) -> None:
        service = Service()
        event_id = uuid4()
        event = registration(preferred_language="en")

        await service.receive(event, event_id)

        [row] = service.rows()
        assert row.notification_id == notification_id(
            event_id, f"returnee:{event.returnee_id}", Channel.SMS
        )
        assert (row.status, row.rule, row.channel) == (Status.QUEUED, "welcome_sms", Channel.SMS)
        assert (row.address, row.language, row.segments) == ("+22365012345", "en", 1)
        assert row.body is not None and row.body.startswith("Welcome to Mali")
        assert row.context is None

    async def test_without_sms_consent_nothing_is_sent_and_no_phone_kept(self) -> None:
        service = Service()
        event = registration(
            consents={"sms_contact": False}, personal={"phone": None}, preferred_language="fr"
        )

        await service.receive(event)

        assert service.rows() == []
        assert service.contacts.saved[event.returnee_id].phone is None

    async def test_a_vulnerable_arrival_alerts_the_centre_team_by_email(self) -> None:
        service = Service()
        event = registration(
            vulnerabilities=["trafficking_victim"],
            consents={"sms_contact": False},
            personal={"phone": None},
        )

        await service.receive(event)

        [email] = service.rows()
        assert (email.channel, email.recipient, email.address) == (
            Channel.EMAIL,
            "centre_team:bamako",
            TEAM,
        )
        assert email.subject is not None and "dossier" in email.subject
        assert email.body is not None and "victime de traite" in email.body

    async def test_the_same_event_twice_records_its_notifications_once(self) -> None:
        service = Service()
        event, event_id = registration(vulnerabilities=["elderly"]), uuid4()

        await service.receive(event, event_id)
        first = dict(service.ledger.rows)
        await service.receive(event, event_id)

        assert service.ledger.rows == first and len(first) == 2

    async def test_a_stale_event_notifies_nobody_but_its_contact_is_kept(self) -> None:
        service = Service()
        event = registration()

        recorded = await service.receive(event, published_at=NOW - timedelta(days=8))

        assert recorded.stale and service.rows() == []
        assert event.returnee_id in service.contacts.saved


class TestLaterEvents:
    async def test_aid_is_announced_in_the_language_given_at_registration(self) -> None:
        service = Service()
        event = registration(preferred_language="en")
        await service.receive(event)

        await service.receive(example_aid_granted(returnee_id=event.returnee_id))

        [aid] = service.rows(rule="aid_granted_sms")
        assert aid.status is Status.QUEUED and aid.language == "en"
        assert aid.body is not None and "350 000 FCFA" in aid.body

    async def test_aid_for_a_returnee_without_consent_sends_nothing(self) -> None:
        service = Service()
        event = registration(consents={"sms_contact": False}, personal={"phone": None})
        await service.receive(event)

        await service.receive(example_aid_granted(returnee_id=event.returnee_id))

        assert service.rows() == []

    async def test_aid_that_overtakes_the_registration_is_held_then_sent(self) -> None:
        service = Service()
        event = registration()
        await service.receive(example_aid_granted(returnee_id=event.returnee_id))
        [held] = service.rows()
        assert (held.status, held.address, held.body) == (Status.HELD, None, None)
        assert held.context is not None and held.context["category"] == "business_start_up_grant"

        recorded = await service.receive(event)

        assert recorded.released == 1
        released = service.ledger.rows[held.notification_id]
        assert released.status is Status.QUEUED and released.context is None
        assert released.body is not None and "350 000 FCFA" in released.body
        assert len(service.rows(rule="welcome_sms")) == 1

    async def test_a_held_notification_is_dropped_when_the_registration_says_no_sms(self) -> None:
        service = Service()
        event = registration(consents={"sms_contact": False}, personal={"phone": None})
        await service.receive(example_aid_granted(returnee_id=event.returnee_id))

        await service.receive(event)

        assert service.rows() == []

    async def test_each_participant_of_an_activity_is_told(self) -> None:
        service = Service()
        participants = [registration(preferred_language=lang) for lang in ("fr", "en")]
        for event in participants:
            await service.receive(event)
        ids = [str(p.returnee_id) for p in participants]

        await service.receive(
            example_activity_launched(returnee_ids=ids, level="collective", shares=[])
        )

        rows = service.rows(rule="activity_launched_sms")
        assert sorted(str(r.returnee_id) for r in rows) == sorted(ids)
        assert {r.language for r in rows} == {"fr", "en"}

    async def test_a_template_that_fails_records_a_failed_row(self) -> None:
        service = Service()
        broken = replace(service.recording.rules.rules[2], template="missing")
        service.recording = replace(
            service.recording, rules=type(service.recording.rules)([broken])
        )
        event = registration()
        await service.receive(event)

        await service.receive(example_aid_granted(returnee_id=event.returnee_id))

        [row] = service.rows()
        assert row.status is Status.FAILED and row.body is None
        assert row.last_error is not None and "missing.sms.j2" in row.last_error


class TestBatches:
    """A batch records exactly what its events would record one by one, in the same order."""

    @staticmethod
    def events() -> list[Event]:
        consenting, refusing, vulnerable = (
            registration(preferred_language="en"),
            registration(consents={"sms_contact": False}, personal={"phone": None}),
            registration(vulnerabilities=["medical_need"]),
        )
        held_then_registered = registration()
        changed_mind = registration(consents={"sms_contact": False}, personal={"phone": None})
        return [
            example_aid_granted(returnee_id=held_then_registered.returnee_id),
            consenting,
            refusing,
            vulnerable,
            held_then_registered,
            example_aid_granted(returnee_id=consenting.returnee_id, aid_id=uuid4()),
            example_aid_granted(returnee_id=refusing.returnee_id, aid_id=uuid4()),
            # The same person again, now refusing SMS: later messages follow the later answer.
            replace_returnee(changed_mind, consenting.returnee_id),
            example_aid_granted(returnee_id=consenting.returnee_id, aid_id=uuid4()),
            example_activity_launched(
                returnee_ids=[str(vulnerable.returnee_id), str(consenting.returnee_id)],
                level="collective",
                shares=[],
            ),
        ]

    async def test_a_batch_records_the_rows_of_its_events_one_by_one(self) -> None:
        events = self.events()
        ids = [uuid4() for _ in events]
        one_by_one, batched = Service(), Service()
        for event, event_id in zip(events, ids, strict=True):
            await one_by_one.receive(event, event_id)

        results = await record_batch(
            [IncomingEvent(e, i, NOW) for e, i in zip(events, ids, strict=True)],
            ledger=batched.ledger,
            contacts=batched.contacts,
            recording=batched.recording,
            now=NOW,
        )

        assert batched.ledger.rows == one_by_one.ledger.rows
        assert batched.contacts.saved == one_by_one.contacts.saved
        assert len(results) == len(events)
        assert {r.status for r in batched.ledger.rows.values()} >= {Status.QUEUED}

    async def test_a_held_notification_is_released_by_a_registration_in_a_later_batch(
        self,
    ) -> None:
        service = Service()
        event = registration()
        await record_batch(
            [IncomingEvent(example_aid_granted(returnee_id=event.returnee_id), uuid4(), NOW)],
            ledger=service.ledger,
            contacts=service.contacts,
            recording=service.recording,
            now=NOW,
        )

        [recorded] = await record_batch(
            [IncomingEvent(event, uuid4(), NOW)],
            ledger=service.ledger,
            contacts=service.contacts,
            recording=service.recording,
            now=NOW,
        )

        assert recorded.released == 1
        assert {r.status for r in service.rows()} == {Status.QUEUED}


def replace_returnee(event: ReturneeRegistered, returnee_id: UUID) -> ReturneeRegistered:
    return event.model_copy(update={"returnee_id": returnee_id})
