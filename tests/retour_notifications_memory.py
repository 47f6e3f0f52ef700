"""Notifications' schema in memory, for the service's unit tests (services/notifications/tests):
the ledger, contacts with the corrections waiting for them, the erasures, and the monitoring
visits followed, following the rules of the Postgres adapters (pg_ledger.py, pg_contacts.py,
pg_protection.py, pg_follow_ups.py)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from uuid import UUID

from retour_notifications.adapters.jinja_templates import PACKAGED_TEMPLATES, JinjaTemplates
from retour_notifications.adapters.rules_file import PACKAGED_RULES, load_rule_book
from retour_notifications.domain.contacts import Contact
from retour_notifications.domain.corrections import Corrections
from retour_notifications.domain.delivery import Notification, Status
from retour_notifications.domain.follow_ups import FollowUps, Visit
from retour_notifications.domain.rules import Channel
from retour_notifications.usecases.compose import Composer
from retour_notifications.usecases.record import Recording


def packaged_recording(
    team_addresses: Mapping[str, str], *, hold: timedelta = timedelta(hours=24)
) -> Recording:
    """Recording with the packaged rules and templates, in French for teams and where a
    returnee's language has no template, of events up to a week old."""
    return Recording(
        rules=load_rule_book(PACKAGED_RULES),
        composer=Composer(
            JinjaTemplates(PACKAGED_TEMPLATES, fallback_language="fr"), sms_max_segments=3
        ),
        team_addresses=team_addresses,
        team_language="fr",
        max_event_age=timedelta(days=7),
        duplicate_hold=hold,
    )


class MemoryLedger:
    """The deliveries (pg_ledger.py)."""

    def __init__(self) -> None:
        self.rows: dict[UUID, Notification] = {}

    async def add(self, notifications: Sequence[Notification]) -> int:
        new = [n for n in notifications if n.notification_id not in self.rows]
        self.rows.update({n.notification_id: n for n in new})
        return len(new)

    async def held_for(self, returnee_ids: Collection[UUID]) -> list[Notification]:
        return [
            n
            for n in self.rows.values()
            if n.returnee_id in returnee_ids and n.status is Status.HELD
        ]

    async def release(self, notification: Notification) -> None:
        self.rows[notification.notification_id] = notification

    async def drop(self, notification_id: UUID) -> None:
        del self.rows[notification_id]

    async def readdress_sms(self, returnee_id: UUID, phone: str | None) -> int:
        changed = 0
        for row in self._waiting_sms(returnee_id):
            if phone is None:
                self._cancel(row, "phone number removed")
            else:
                self.rows[row.notification_id] = replace(row, address=phone)
            changed += 1
        return changed

    async def cancel(self, notification_ids: Collection[UUID], reason: str) -> set[UUID]:
        waiting = [
            self.rows[n]
            for n in notification_ids
            if n in self.rows
            and self.rows[n].status in (Status.HELD, Status.QUEUED, Status.SENDING)
        ]
        for row in waiting:
            self._cancel(row, reason)
        return {r.notification_id for r in waiting if r.status is not Status.SENDING}

    def _waiting_sms(self, returnee_id: UUID) -> list[Notification]:
        return [
            r
            for r in self.rows.values()
            if r.returnee_id == returnee_id
            and r.channel is Channel.SMS
            and r.status in (Status.QUEUED, Status.SENDING)
        ]

    def _cancel(self, row: Notification, reason: str) -> None:
        # As pg_ledger.CANCELLED: one in a sender's hands may be with the gateway already.
        in_hand = row.status is Status.SENDING
        self.rows[row.notification_id] = replace(
            row,
            status=Status.UNCERTAIN if in_hand else Status.FAILED,
            last_error=reason,
            address=None,
            subject=None,
            body=None,
            context=None,
        )


class MemorySchema(MemoryLedger):
    """The ledger, contacts and the corrections waiting (pg_contacts.py), and the erasures
    (pg_protection.py). Consent changes and merges, and the refusals they make, are a test
    module's to add."""

    def __init__(self) -> None:
        super().__init__()
        self.contacts: dict[UUID, Contact] = {}
        self.waiting: dict[UUID, Corrections] = {}
        self.forgotten: set[UUID] = set()
        self.sms_changes: dict[UUID, tuple[bool, datetime]] = {}
        self.followed: dict[UUID, FollowUps] = {}

    # Contacts
    async def save_all(self, contacts: Sequence[Contact]) -> None:
        for contact in contacts:
            assert contact.phone is None or contact.sms_consent, "phone_needs_consent"
            self.contacts[contact.returnee_id] = contact

    async def find(self, returnee_ids: Collection[UUID]) -> dict[UUID, Contact]:
        return {rid: self.contacts[rid] for rid in returnee_ids if rid in self.contacts}

    async def corrections_waiting(self, returnee_ids: Collection[UUID]) -> dict[UUID, Corrections]:
        return {rid: self.waiting[rid] for rid in returnee_ids if rid in self.waiting}

    async def keep_waiting(self, corrections: Sequence[Corrections]) -> None:
        self.waiting.update({c.returnee_id: c for c in corrections})

    async def drop_waiting(self, returnee_ids: Collection[UUID]) -> None:
        for rid in returnee_ids:
            self.waiting.pop(rid, None)

    # Monitoring visits
    async def load(self, returnee_ids: Collection[UUID]) -> dict[UUID, FollowUps]:
        return {rid: self.followed.get(rid) or FollowUps.of(rid) for rid in returnee_ids}

    async def save(self, states: Sequence[FollowUps]) -> None:
        self.followed.update({state.returnee_id: state for state in states})

    async def reminders_due(self, after: date, until: date, limit: int) -> list[tuple[UUID, UUID]]:
        return self._live(
            lambda v, due_on: (
                v.reminder_id is None
                and after < due_on <= until
                and (contact := self.contacts.get(v.returnee_id)) is not None
                and contact.phone is not None
            ),
            limit,
        )

    async def overdue(self, after: date, until: date, limit: int) -> list[tuple[UUID, UUID]]:
        return self._live(lambda v, due_on: v.overdue_id is None and after < due_on <= until, limit)

    def _live(self, chosen: Callable[[Visit, date], bool], limit: int) -> list[tuple[UUID, UUID]]:
        """(follow_up_id, returnee_id) of the live visits ``chosen``, by due date."""
        found = [
            (v.schedule.due_on, v.follow_up_id, v.returnee_id)
            for state in self.followed.values()
            for v in state.visits.values()
            if v.live and v.schedule is not None and chosen(v, v.schedule.due_on)
        ]
        return [(fid, rid) for _, fid, rid in sorted(found)[:limit]]

    # Forgetting
    async def forget(self, returnee_id: UUID, erased_at: datetime) -> int:
        self.forgotten.add(returnee_id)
        self.contacts.pop(returnee_id, None)
        self.waiting.pop(returnee_id, None)
        self.followed.pop(returnee_id, None)
        waiting = [r for r in self.rows.values() if r.returnee_id == returnee_id]
        for row in waiting:
            if row.status in (Status.HELD, Status.QUEUED, Status.SENDING):
                self._cancel(row, "returnee erased")
        return len(waiting)
