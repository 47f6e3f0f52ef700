"""Issue 15, notifications: a reminder SMS before each follow-up visit, once, in the returnee's
language, never after the visit is recorded, the case closed, the person erased or their SMS
consent withdrawn; an email to the case worker (or the centre team) once a visit is overdue.

Events are produced, as reintegration and intake would, to this module's private copies of the
topics notifications reads; the service runs in-process with its follow-up worker looking every
0.2 s. SMS are read back from Kannel's fake SMS centre, emails from the SMTP sink (`make up`).
Every test invents its own people and phone numbers, so it only looks at its own messages.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from test_notifications_delivery import (
    SPECS,
    Harness,
    Record,
    database,
    private_harness,
    record,
    registration,
    rows_of,
    service,
)
from test_notifications_gateways import FakeSmsCentre, SmtpSink, new_phone

from retour_contracts import (
    CaseAssigned,
    CaseClosed,
    CaseReopened,
    FollowUpScheduled,
    ReintegrationAssessed,
)
from retour_contracts.examples import (
    example_case_event,
    example_consent_changed,
    example_returnee_erased,
)
from retour_kit.db import Database
from retour_notifications.adapters.pg_ledger import PgLedger
from retour_notifications.adapters.unit_of_work import LedgerWork
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.follow_ups import CASE_CLOSED, FollowUps, Schedule, Visit
from retour_notifications.domain.rules import Channel
from retour_notifications.usecases.follow_ups import CaseEventRead, apply_case_events
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

# The delivery tests' fixture: the isolated notifications database, migrated.
__all__ = ["database"]

REMINDER, OVERDUE = "follow_up_reminder_sms", "follow_up_overdue_email"
MONTHS = {
    "fr": "janvier février mars avril mai juin juillet aout septembre octobre novembre décembre",
    "en": "January February March April May June July August September October November December",
}


@pytest.fixture(scope="module")
async def harness(infra: Infra) -> AsyncIterator[Harness]:
    """Private copies of every topic notifications reads, the case events included."""
    assert {"case.assigned", "case.closed", "follow_up.scheduled"} <= set(SPECS)
    async with private_harness(infra, "follow_ups") as harness:
        yield harness


def settings(harness: Harness, **changes: Any) -> dict[str, Any]:
    return harness.settings(follow_up_check_seconds=0.2, **changes)


def month_of(day: date, language: str) -> str:
    return MONTHS[language].split()[day.month - 1]


def today() -> date:
    return datetime.now(UTC).date()


SOON = 2
"""Days until a visit whose reminder is due whatever the hour (from 08:00 three days before)."""


class Case:
    """One returnee's case, as reintegration publishes its events."""

    def __init__(self, *, phone: str | None = None, language: str = "fr") -> None:
        self.phone = phone or new_phone()
        self.registration = registration(self.phone, language, reception_centre="kayes")
        self.id = self.registration.returnee_id
        self.visit = uuid.uuid4()

    def registered(self) -> Record:
        return record(self.registration)

    def scheduled(self, due_on: date, centre: str = "kayes") -> Record:
        return self._event(
            FollowUpScheduled,
            follow_up_id=str(self.visit),
            reception_centre=centre,
            period_months=3,
            due_on=due_on.isoformat(),
        )

    def assessed(self) -> Record:
        return self._event(
            ReintegrationAssessed,
            follow_up_id=str(self.visit),
            assessed_at=datetime.now(UTC).isoformat(),
        )

    def assigned(self, to: str) -> Record:
        return self._event(
            CaseAssigned,
            reception_centre="kayes",
            assigned_to=to,
            assigned_at=datetime.now(UTC).isoformat(),
        )

    def closed(self) -> Record:
        return self._event(CaseClosed, closed_at=datetime.now(UTC).isoformat())

    def reopened(self) -> Record:
        return self._event(CaseReopened, reopened_at=datetime.now(UTC).isoformat())

    def erased(self) -> Record:
        return record(example_returnee_erased(returnee_id=self.id, erased_at=datetime.now(UTC)))

    def withdrawn(self) -> Record:
        later = datetime.now(UTC) + timedelta(seconds=1)  # after the registration
        return record(
            example_consent_changed(returnee_id=self.id, changed_at=later, sms_contact=False)
        )

    def _event(self, model: type[Any], **fields: Any) -> Record:
        return record(example_case_event(model, returnee_id=str(self.id), **fields))


async def rows_by_rule(
    database: Database, cases: Sequence[Case], rule: str
) -> list[asyncpg.Record]:
    return [r for r in await rows_of(database, [c.id for c in cases]) if r["rule"] == rule]


async def visits_of(database: Database, cases: Sequence[Case]) -> dict[UUID, asyncpg.Record]:
    rows = await database.pool.fetch(
        "SELECT * FROM follow_ups WHERE returnee_id = ANY($1::uuid[])", [c.id for c in cases]
    )
    return {row["returnee_id"]: row for row in rows}


async def until_sent(database: Database, cases: Sequence[Case], rule: str) -> list[asyncpg.Record]:
    """Waits until each of ``cases`` has exactly one ``rule`` message, sent."""
    ids = {c.id for c in cases}

    def done(rows: list[asyncpg.Record]) -> bool:
        return {r["returnee_id"] for r in rows} == ids and all(r["status"] == "sent" for r in rows)

    found: list[asyncpg.Record] = await eventually(
        lambda: rows_by_rule(database, cases, rule),
        until=done,
        within=20,
        what=f"{rule} sent for {len(ids)} returnees",
    )
    return found


async def until_applied(
    harness: Harness, config: dict[str, Any], database: Database, cases: Sequence[Case]
) -> dict[UUID, asyncpg.Record]:
    """Every event produced so far is read, and the follow-up worker ran a few times since."""
    await eventually(lambda: harness.caught_up(config["consumer_group"]), what="all events read")
    await asyncio.sleep(1)  # five runs of the worker: what a wrongly queued message would need
    return await visits_of(database, cases)


def reminders(centre: FakeSmsCentre, case: Case) -> list[str]:
    texts = [sms.text("gsm7") for sms in centre.to(case.phone)]
    return [t for t in texts if t.startswith(("Rappel :", "Reminder:"))]


async def test_a_reminder_goes_once_in_the_returnees_language_even_scheduled_before_registration(
    harness: Harness, database: Database
) -> None:
    sms = FakeSmsCentre()
    people = [Case(language=language) for language in ("en", "fr", "bm")]
    due_on = today() + timedelta(days=SOON)
    schedules = [person.scheduled(due_on) for person in people]
    config = settings(harness)

    async with service(harness, config):
        # The schedule overtakes the registration (another topic): kept, nothing sent yet.
        await harness.publish(schedules)
        visits = await until_applied(harness, config, database, people)
        assert {rid: (v["live"], v["reminder_id"]) for rid, v in visits.items()} == {
            person.id: (True, None) for person in people
        }
        assert await rows_by_rule(database, people, REMINDER) == []

        await harness.publish([person.registered() for person in people])
        sent = await until_sent(database, people, REMINDER)
        # Redelivered (the same record), then published again with a new date (a transfer).
        # Moved a day earlier: still within the reminder's window, whatever the hour.
        moved = [person.scheduled(due_on - timedelta(days=1), "gao") for person in people]
        await harness.publish([*schedules, *moved])
        visits = await until_applied(harness, config, database, people)
        texts = {
            person.id: await eventually(partial(reminders, sms, person), what="the reminder")
            for person in people
        }

    assert await rows_by_rule(database, people, REMINDER) == sent  # one each, unchanged
    rows = {row["returnee_id"]: row for row in sent}
    for person, expected in zip(people, ("en", "fr", "fr"), strict=True):
        row = rows[person.id]
        assert (row["language"], row["channel"], row["recipient"]) == (
            expected,
            "sms",
            f"returnee:{person.id}",
        )
        assert (row["address"], row["body"]) == (None, None)
        assert visits[person.id]["reminder_id"] == row["notification_id"]
        assert visits[person.id]["due_on"] == due_on - timedelta(days=1)  # kept up to date
        [text] = texts[person.id]
        month = f"{month_of(due_on, expected)} {due_on.year}"
        assert f"{month}. " in text and person.id.hex[:8].upper() in text
        assert ("Kayes" in text) and person.registration.personal.given_name not in text
    await asyncio.sleep(0.5)
    assert all(len(reminders(sms, person)) == 1 for person in people)


async def test_a_new_due_date_moves_the_reminder_to_its_new_moment(
    harness: Harness, database: Database
) -> None:
    sms = FakeSmsCentre()
    person = Case()
    far = today() + timedelta(days=40)
    config = settings(harness)

    async with service(harness, config):
        await harness.publish([person.registered(), person.scheduled(far)])
        visits = await until_applied(harness, config, database, [person])
        assert visits[person.id]["live"] and visits[person.id]["due_on"] == far
        assert await rows_by_rule(database, [person], REMINDER) == []  # not yet

        soon = today() + timedelta(days=SOON)
        await harness.publish([person.scheduled(soon, "gao")])
        [row] = await until_sent(database, [person], REMINDER)
        [text] = await eventually(lambda: reminders(sms, person), what="the reminder")

    assert row["language"] == "fr"
    month = f"{month_of(soon, 'fr')} {soon.year}"
    assert f"centre d'accueil de Gao est prévue en {month}." in text


async def test_a_recorded_visit_a_closure_an_erasure_or_a_withdrawal_stops_the_reminder(
    harness: Harness, database: Database
) -> None:
    """Six people, each with a visit far off; then each story below, then the visit is
    scheduled again within the reminder's window (a transfer, an arrival date corrected).
    Only the untouched one and the one whose case was reopened are reminded."""
    sms = FakeSmsCentre()
    recorded, closed, erased, withdrawn, untouched, reopened = (Case() for _ in range(6))
    everyone = [recorded, closed, erased, withdrawn, untouched, reopened]
    far, soon = today() + timedelta(days=40), today() + timedelta(days=SOON)
    config = settings(harness)

    async with service(harness, config):
        await harness.publish([p.registered() for p in everyone])
        await harness.publish([p.scheduled(far) for p in everyone])
        await until_applied(harness, config, database, everyone)
        await harness.publish(
            [
                recorded.assessed(),
                closed.closed(),
                erased.erased(),
                withdrawn.withdrawn(),
                reopened.closed(),
            ]
        )
        await harness.publish([reopened.reopened()])
        await until_applied(harness, config, database, everyone)
        await harness.publish([p.scheduled(soon) for p in everyone])
        await until_sent(database, [untouched, reopened], REMINDER)
        visits = await until_applied(harness, config, database, everyone)

    assert {r["returnee_id"] for r in await rows_by_rule(database, everyone, REMINDER)} == {
        untouched.id,
        reopened.id,
    }
    for person in (recorded, closed, erased, withdrawn):
        assert reminders(sms, person) == []
    assert [len(reminders(sms, p)) for p in (untouched, reopened)] == [1, 1]
    assert erased.id not in visits  # nothing of an erased person's case is kept
    assert not visits[recorded.id]["live"] and visits[recorded.id]["visited_at"] is not None
    assert not visits[closed.id]["live"]
    assert visits[withdrawn.id]["live"]  # the visit is still due: only the SMS is refused


async def test_overdue_visits_are_emailed_once_to_the_case_worker_or_the_centre_team(
    harness: Harness, database: Database
) -> None:
    """Two replicas of the service run side by side: still one email per visit."""
    sink = SmtpSink()
    mine, unassigned, unknown, recorded, closed = (Case() for _ in range(5))
    everyone = [mine, unassigned, unknown, recorded, closed]
    worker = f"caseworker.kayes.{uuid.uuid4().hex[:6]}"
    address = f"{worker}@example.org"
    team = "equipe.kayes@example.org"
    teams = {
        c: f"equipe.{c}@example.org" for c in ("bamako", "kayes", "gao", "mopti", "tombouctou")
    }
    config = settings(harness, staff_emails={worker: address}, centre_team_emails=teams)
    overdue = today() - timedelta(days=10)

    async with service(harness, config), service(harness, config):
        await harness.publish(
            [
                mine.registered(),
                mine.assigned("caseworker.kayes.previous"),
                mine.assigned(worker),
                unknown.assigned("caseworker.kayes.unknown"),
                recorded.assessed(),
                closed.closed(),
            ]
        )
        await until_applied(harness, config, database, everyone)
        await harness.publish([p.scheduled(overdue) for p in everyone])
        sent = await until_sent(database, [mine, unassigned, unknown], OVERDUE)
        await harness.publish([mine.scheduled(overdue - timedelta(days=1))])  # again
        await until_applied(harness, config, database, everyone)

    assert await rows_by_rule(database, everyone, OVERDUE) == sent
    rows = {row["returnee_id"]: row for row in sent}
    assert {rid: row["recipient"] for rid, row in rows.items()} == {
        mine.id: f"case_worker:{worker}",
        unassigned.id: "centre_team:kayes",
        unknown.id: "centre_team:kayes",
    }
    mails = {
        row["returnee_id"]: await eventually(
            partial(sink.kept, {f"<{row['notification_id']}@notifications.retour>"}),
            what="the overdue email",
        )
        for row in sent
    }
    assert [len(found) for found in mails.values()] == [1, 1, 1]
    [to_worker], [to_team] = mails[mine.id], mails[unassigned.id]
    assert (to_worker["To"], to_team["To"]) == (address, team)
    reference = mine.id.hex[:8].upper()
    assert (
        to_worker["Subject"] == f"[retour] Visite de suivi en retard, dossier {reference} (Kayes)"
    )
    body = to_worker.get_content()
    assert str(mine.id) in body and "10 jours après la date prévue" in body
    assert "Vous êtes le gestionnaire de cas de ce dossier" in body
    assert "n'est attribué à aucun gestionnaire de cas" in to_team.get_content()
    personal = mine.registration.personal
    for text in (body, to_team.get_content(), to_worker["Subject"]):
        assert personal.given_name not in text and personal.family_name not in text
        assert mine.phone not in text and worker not in text


async def test_a_closure_cancels_a_reminder_still_queued_and_lets_a_reopening_rearm_it(
    database: Database,
) -> None:
    """The SQL under the consumer's closure: a queued reminder is cancelled and its visit may
    be reminded again; one in a sender's hands is cancelled too, but stays the only one (and
    waits for the gateway's answer: it may have left)."""
    waiting, in_hand = uuid.uuid4(), uuid.uuid4()
    returnee = uuid.uuid4()
    now = datetime.now(UTC)
    due_on = today() + timedelta(days=SOON)
    visits = {}
    for follow_up_id in (waiting, in_hand):
        schedule = Schedule("kayes", 3, due_on, now - timedelta(hours=1), uuid.uuid4())
        visits[follow_up_id] = Visit(follow_up_id, returnee, schedule, live=True)
    rows = {fid: reminder_row(visit) for fid, visit in visits.items()}
    async with database.pool.acquire() as conn, conn.transaction():
        await PgLedger(conn).add(list(rows.values()))
        state = FollowUps.of(returnee)
        for fid, visit in visits.items():
            state = state.with_visit(replace(visit, reminder_id=rows[fid].notification_id))
        await LedgerWork(conn).follow_ups.save([state])
    await database.pool.execute(
        "UPDATE deliveries SET status = 'sending', attempts = 1, sending_since = now()"
        " WHERE notification_id = $1",
        rows[in_hand].notification_id,
    )

    closure = example_case_event(CaseClosed, returnee_id=str(returnee))
    async with database.pool.acquire() as conn, conn.transaction():
        work = LedgerWork(conn)
        await apply_case_events(
            [CaseEventRead(closure, uuid.uuid4(), now)],
            follow_ups=work.follow_ups,
            ledger=work.ledger,
            forgetting=work.forgetting,
        )

    after = await visits_of_returnee(database, returnee)
    assert {fid: (v["live"], v["reminder_id"]) for fid, v in after.items()} == {
        waiting: (False, None),  # never left: a reopening and a new schedule may remind again
        in_hand: (False, rows[in_hand].notification_id),  # may have left: never again
    }
    statuses = await database.pool.fetch(
        "SELECT notification_id, status, last_error, address, body FROM deliveries"
        " WHERE returnee_id = $1",
        returnee,
    )
    assert {r["notification_id"]: tuple(r.values())[1:] for r in statuses} == {
        rows[waiting].notification_id: ("failed", CASE_CLOSED, None, None),
        rows[in_hand].notification_id: ("uncertain", CASE_CLOSED, None, None),
    }


def reminder_row(visit: Visit) -> Notification:
    assert visit.schedule is not None
    return Notification(
        notification_id=uuid.uuid4(),
        event_id=visit.schedule.event_id,
        event_type="follow_up.scheduled",
        rule=REMINDER,
        channel=Channel.SMS,
        recipient=f"returnee:{visit.returnee_id}",
        returnee_id=visit.returnee_id,
        template="follow_up_reminder",
        status=Status.QUEUED,
        language="fr",
        address=new_phone(),
        body="Rappel",
    )


async def visits_of_returnee(database: Database, returnee: UUID) -> dict[UUID, asyncpg.Record]:
    rows = await database.pool.fetch("SELECT * FROM follow_ups WHERE returnee_id = $1", returnee)
    return {row["follow_up_id"]: row for row in rows}
