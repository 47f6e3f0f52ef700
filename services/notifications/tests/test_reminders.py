"""Monitoring visits end to end in memory: the consumer keeps what case events say
(usecases/follow_ups.py), the follow-up worker queues reminders and overdue emails when their
time comes (usecases/remind.py), and a sender sends what is queued. Time is the test's.

The schema is tests/retour_notifications_memory.py's, which follows the Postgres adapters'
rules; tests/test_notifications_follow_ups.py runs the real ones through Kafka, Kannel and SMTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

from retour_contracts import (
    CaseAssigned,
    CaseClosed,
    CaseReopened,
    ConsentChanged,
    FollowUpScheduled,
    ReintegrationAssessed,
    ReturneeErased,
    ReturneeRegistered,
)
from retour_contracts.examples import (
    example_case_event,
    example_consent_changed,
    example_returnee_erased,
    example_returnee_registered,
)
from retour_notifications.domain.contacts import Refusals
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.follow_ups import (
    CASE_CLOSED,
    VISIT_RECORDED,
    FollowUpEvent,
    FollowUpTimes,
)
from retour_notifications.domain.planning import Event
from retour_notifications.usecases.forget import Consumed, record_events
from retour_notifications.usecases.remind import FollowUpSending, queue_overdue, queue_reminders
from retour_notifications_memory import MemorySchema, packaged_recording

TODAY = date(2025, 9, 1)
NOW = datetime.combine(TODAY, time(10, 0), tzinfo=UTC)
TEAMS = {c: f"equipe.{c}@example.org" for c in ("bamako", "kayes", "gao", "mopti", "tombouctou")}
STAFF = {"caseworker.bamako.3": "a.traore@example.org"}
Incoming = Event | ReturneeErased | ConsentChanged | FollowUpEvent
REMINDER, OVERDUE = "follow_up_reminder_sms", "follow_up_overdue_email"


@dataclass(frozen=True)
class Sent:
    address: str
    rule: str
    language: str | None
    subject: str | None
    body: str


class Memory(MemorySchema):
    """The schema in memory, with consent changes and refusals, the worker's transactions,
    and a sender."""

    def __init__(self) -> None:
        super().__init__()
        self.recording = packaged_recording(TEAMS)
        self.sending = FollowUpSending(
            recording=self.recording,
            times=FollowUpTimes(reminder_days=3, overdue_days=7),
            staff_addresses=STAFF,
        )
        self.sent: list[Sent] = []
        self.published = NOW  # reintegration's clock: each event a second after the last

    # Protection (pg_protection.py), as far as these tests need it
    async def change_sms_consent(
        self, returnee_id: UUID, sms_contact: bool, changed_at: datetime
    ) -> int:
        self.sms_changes[returnee_id] = (sms_contact, changed_at)
        contact = self.contacts.get(returnee_id)
        if contact is not None and not sms_contact:
            self.contacts[returnee_id] = replace(contact, sms_consent=False, phone=None)
        waiting = [
            r
            for r in self.rows.values()
            if r.returnee_id == returnee_id and r.status in (Status.QUEUED, Status.SENDING)
        ]
        for row in waiting if not sms_contact else []:
            self._cancel(row, "sms consent withdrawn")
        return len(waiting)

    async def refusals(self, returnee_ids: Collection[UUID]) -> Refusals:
        return Refusals(forgotten=frozenset(self.forgotten & set(returnee_ids)))

    async def merge(self, returnee_id: UUID, into: UUID, merged_at: datetime) -> list[Notification]:
        raise AssertionError("merges are tested in test_merges.py")

    # The unit of work the worker opens (adapters/unit_of_work.py: LedgerWork)
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Adapters]:
        yield Adapters(self)

    def reading(self) -> AbstractAsyncContextManager[Adapters]:
        return self.transaction()

    # The consumer, the worker, the senders
    async def consume(self, *events: Incoming) -> None:
        consumed = []
        for event in events:
            self.published += timedelta(seconds=1)
            consumed.append(Consumed(event, uuid4(), self.published))
        await record_events(
            consumed,
            ledger=self,
            contacts=self,
            forgetting=self,
            follow_ups=self,
            recording=self.recording,
            now=NOW,
        )

    async def work(self, now: datetime) -> list[Notification]:
        """One run of the follow-up worker at ``now``, then the senders."""
        queued = [
            *(await queue_reminders(self, self.sending, now)).queued,
            *(await queue_overdue(self, self.sending, now)).queued,
        ]
        for row in list(self.rows.values()):
            if row.status is Status.QUEUED and row.rule in (REMINDER, OVERDUE):
                assert row.address is not None and row.body is not None
                self.sent.append(Sent(row.address, row.rule, row.language, row.subject, row.body))
                self.rows[row.notification_id] = replace(
                    row, status=Status.SENT, address=None, subject=None, body=None
                )
        return queued

    def of_rule(self, rule: str) -> list[Notification]:
        return [r for r in self.rows.values() if r.rule == rule]


@dataclass(frozen=True)
class Adapters:
    """The adapters of one of the worker's transactions, all of them the memory."""

    memory: Memory

    @property
    def follow_ups(self) -> Memory:
        return self.memory

    @property
    def contacts(self) -> Memory:
        return self.memory

    @property
    def ledger(self) -> Memory:
        return self.memory

    @property
    def forgetting(self) -> Memory:
        return self.memory


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def registration(returnee_id: UUID, phone: str | None, language: str = "fr") -> ReturneeRegistered:
    return example_returnee_registered(
        returnee_id=returnee_id,
        registered_at=NOW - timedelta(days=90),
        preferred_language=language,
        vulnerabilities=[],
        consents={"sms_contact": phone is not None},
        personal={"phone": phone},
    )


def scheduled(returnee_id: UUID, visit: UUID, due_on: date, **changes: Any) -> FollowUpScheduled:
    return example_case_event(
        FollowUpScheduled,
        follow_up_id=str(visit),
        returnee_id=str(returnee_id),
        due_on=due_on.isoformat(),
        **changes,
    )


def assessed(returnee_id: UUID, visit: UUID) -> ReintegrationAssessed:
    return example_case_event(
        ReintegrationAssessed, follow_up_id=str(visit), returnee_id=str(returnee_id)
    )


def closed(returnee_id: UUID) -> CaseClosed:
    return example_case_event(CaseClosed, returnee_id=str(returnee_id))


def reopened(returnee_id: UUID) -> CaseReopened:
    return example_case_event(CaseReopened, returnee_id=str(returnee_id))


def assigned(returnee_id: UUID, to: str) -> CaseAssigned:
    return example_case_event(CaseAssigned, returnee_id=str(returnee_id), assigned_to=to)


PHONE = "+22376000001"


async def test_a_schedule_read_before_the_registration_is_reminded_once_the_contact_comes() -> None:
    memory, person, visit = Memory(), uuid4(), uuid4()
    await memory.consume(scheduled(person, visit, date(2025, 9, 3)))

    assert await memory.work(NOW) == []  # no way to reach them yet

    await memory.consume(registration(person, PHONE, "en"))
    await memory.work(NOW)
    await memory.work(NOW + timedelta(minutes=1))  # and again: nothing more

    [sent] = [s for s in memory.sent if s.rule == REMINDER]
    assert (sent.address, sent.language) == (PHONE, "en")
    assert sent.body.startswith("Reminder: your follow-up visit with the Bamako reception centre")
    assert "September 2025" in sent.body and f"Case {person.hex[:8].upper()}." in sent.body


async def test_the_reminder_waits_for_its_moment_and_a_new_due_date_moves_it() -> None:
    memory, person, visit = Memory(), uuid4(), uuid4()
    await memory.consume(registration(person, PHONE), scheduled(person, visit, date(2025, 10, 20)))

    assert await memory.work(NOW) == []
    # Moved earlier (a correction of the arrival date): due now.
    await memory.consume(scheduled(person, visit, date(2025, 9, 4), reception_centre="kayes"))
    [row] = await memory.work(NOW)
    # Moved again, once sent: never a second one.
    await memory.consume(scheduled(person, visit, date(2025, 9, 3)))
    await memory.work(NOW + timedelta(hours=1))

    assert row.rule == REMINDER
    [sent] = [s for s in memory.sent if s.rule == REMINDER]
    assert "centre d'accueil de Kayes est prévue en septembre 2025" in sent.body


async def test_a_moved_reminder_goes_at_its_new_moment_not_before() -> None:
    memory, person, visit = Memory(), uuid4(), uuid4()
    await memory.consume(registration(person, PHONE), scheduled(person, visit, date(2025, 9, 3)))
    # Moved later before its moment came (the worker did not run in between).
    await memory.consume(scheduled(person, visit, date(2025, 9, 30)))

    assert await memory.work(NOW) == []
    assert await memory.work(at(date(2025, 9, 27), 7)) == []
    assert [r.rule for r in await memory.work(at(date(2025, 9, 27), 8))] == [REMINDER]


async def test_no_reminder_on_or_after_the_day_of_the_visit() -> None:
    memory, person = Memory(), uuid4()
    await memory.consume(
        registration(person, PHONE),
        scheduled(person, uuid4(), TODAY),
        scheduled(person, uuid4(), TODAY - timedelta(days=2)),
    )

    assert [r.rule for r in await memory.work(NOW)] == []


async def test_what_stops_a_visit_stops_its_reminder_queued_or_not() -> None:
    memory = Memory()
    people = {name: (uuid4(), uuid4()) for name in ("recorded", "closed", "erased", "withdrawn")}
    for person, visit in people.values():
        await memory.consume(
            registration(person, PHONE), scheduled(person, visit, date(2025, 9, 20))
        )
    await memory.consume(
        assessed(*people["recorded"]),
        closed(people["closed"][0]),
        example_returnee_erased(returnee_id=people["erased"][0]),
        example_consent_changed(
            returnee_id=people["withdrawn"][0], sms_contact=False, changed_at=NOW
        ),
    )
    # Moved into the reminder's window (a transfer): none of them is reminded.
    for person, visit in people.values():
        await memory.consume(scheduled(person, visit, date(2025, 9, 3)))

    assert await memory.work(NOW) == []
    assert memory.sent == []


async def test_a_closure_cancels_a_queued_reminder_and_a_reopening_then_a_schedule_rearms_it() -> (
    None
):
    memory, person, visit = Memory(), uuid4(), uuid4()
    await memory.consume(registration(person, PHONE), scheduled(person, visit, date(2025, 9, 3)))
    [queued] = (await queue_reminders(memory, memory.sending, NOW)).queued  # not sent yet

    await memory.consume(closed(person))
    cancelled = memory.rows[queued.notification_id]
    assert (cancelled.status, cancelled.last_error, cancelled.body) == (
        Status.FAILED,
        CASE_CLOSED,
        None,
    )
    assert await memory.work(NOW) == []

    await memory.consume(reopened(person), scheduled(person, visit, date(2025, 9, 3)))
    [again] = await memory.work(NOW)

    assert again.notification_id != queued.notification_id
    assert [s.rule for s in memory.sent] == [REMINDER]  # the first one never left


async def test_a_reminder_sent_before_a_closure_is_never_sent_again() -> None:
    memory, person, visit = Memory(), uuid4(), uuid4()
    await memory.consume(registration(person, PHONE), scheduled(person, visit, date(2025, 9, 3)))
    await memory.work(NOW)

    await memory.consume(
        closed(person), reopened(person), scheduled(person, visit, date(2025, 9, 2))
    )
    await memory.work(NOW)

    assert [s.rule for s in memory.sent] == [REMINDER]


async def test_a_recorded_visit_cancels_its_queued_reminder() -> None:
    memory, person, visit = Memory(), uuid4(), uuid4()
    await memory.consume(registration(person, PHONE), scheduled(person, visit, date(2025, 9, 3)))
    [queued] = (await queue_reminders(memory, memory.sending, NOW)).queued

    await memory.consume(assessed(person, visit))

    cancelled = memory.rows[queued.notification_id]
    assert (cancelled.status, cancelled.last_error) == (Status.FAILED, VISIT_RECORDED)
    assert await memory.work(NOW) == []


async def test_an_overdue_visit_is_emailed_once_to_its_case_worker_or_the_centre_team() -> None:
    memory = Memory()
    due = TODAY - timedelta(days=7)
    mine, unassigned, unknown, recorded, shut = ((uuid4(), uuid4()) for _ in range(5))
    await memory.consume(
        *(scheduled(p, v, due) for p, v in (mine, unassigned, unknown, recorded, shut)),
        assigned(mine[0], "caseworker.bamako.3"),
        assigned(unknown[0], "caseworker.bamako.8"),
        assessed(*recorded),
        closed(shut[0]),
    )

    queued = await memory.work(NOW - timedelta(days=1))  # six days late: not yet
    await memory.work(NOW)
    await memory.consume(scheduled(*mine, due - timedelta(days=1)))  # scheduled again
    await memory.work(NOW + timedelta(days=1))

    assert queued == []
    emails = {row.returnee_id: row for row in memory.of_rule(OVERDUE)}
    assert {rid: row.recipient for rid, row in emails.items()} == {
        mine[0]: "case_worker:caseworker.bamako.3",
        unassigned[0]: "centre_team:bamako",
        unknown[0]: "centre_team:bamako",
    }
    assert all(row.status is Status.SENT for row in emails.values())
    addresses = sorted(s.address for s in memory.sent)
    assert addresses == [
        "a.traore@example.org",
        "equipe.bamako@example.org",
        "equipe.bamako@example.org",
    ]
    mail = next(s for s in memory.sent if s.address == "a.traore@example.org")
    reference = mine[0].hex[:8].upper()
    assert mail.subject == f"[retour] Visite de suivi en retard, dossier {reference} (Bamako)"
    assert "7 jours après la date prévue" in mail.body
    assert "Vous êtes le gestionnaire de cas de ce dossier" in mail.body
