"""Monitoring visits: a reminder SMS to the returnee before each visit, and an email to the case
worker once a visit is overdue.

Reintegration schedules each visit (``follow_up.scheduled``; again, with the same
``follow_up_id``, when a transfer or an arrival-date correction moves it, or when a closed case
is reopened), records it (``reintegration.assessed``), assigns the case (``case.assigned``),
closes it and reopens it. Those five topics are read independently, so notifications keeps
what each says, per returnee (``FollowUps``), and works the state of every visit out of all of
it, whatever the order they were read in:

- a visit is **live** while it is scheduled, not recorded, its case is open, and its latest
  scheduling came after the case's latest closure. A closure therefore stops it for good, and
  only a reopening followed by a new scheduling re-arms it (a transfer of a closed case that
  schedules the visit again does not: the case is still closed);
- closures, reopenings and schedulings are compared by the time reintegration published them
  (the envelope's ``ce_time``): one clock, the producer's, so their order is the one it made
  them in, whichever topic is read first. ``follow_up.scheduled`` carries no time of its own,
  and mixing it with the closure's ``closed_at`` (another clock: the database's) could put a
  visit scheduled in the transaction that closes a case after that closure;
- a reminder is queued **once per visit**: when it is queued, the visit remembers it
  (``reminder_id``) and a later scheduling, redelivered or moved, changes nothing. The one
  exception is a reminder a closure cancelled before it left: the visit may be re-armed;
- an overdue email is queued once per visit, ever (``overdue_id``).

Nothing here is sent: the follow-up worker (entrypoints/follow_up_worker.py) asks, when it
runs, which live visits are due for a reminder or overdue, and queues their messages in the
ledger, where the senders find them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid5

from retour_contracts import (
    AssessmentKind,
    CaseAssigned,
    CaseClosed,
    CaseReopened,
    FollowUpScheduled,
    ReintegrationAssessed,
)
from retour_notifications.domain.planning import (
    NOTIFICATION_NAMESPACE,
    notification_id,
    reference_of,
)
from retour_notifications.domain.rules import Channel

FollowUpEvent = CaseAssigned | CaseClosed | CaseReopened | FollowUpScheduled | ReintegrationAssessed
"""What notifications reads of a case's life: who works on it, whether it is open, and its
monitoring visits."""

REMINDER_HOUR = time(8, 0)
"""Reminders due on a day go out from 08:00 UTC, which is 08:00 in Mali (it keeps UTC all
year): no returnee is texted at midnight because a day began. One read after that moment (a
visit scheduled late, a consumer that was behind) goes at once."""

VISIT_RECORDED = "cancelled: the follow-up visit was recorded"
CASE_CLOSED = "cancelled: the case was closed"
"""Why a message waiting for a visit was not sent (no personal data)."""


@dataclass(frozen=True)
class Case:
    """What notifications knows of a reintegration case (a case is one registration's, named
    by its ``returnee_id``)."""

    returnee_id: UUID
    assigned_to: str | None = None
    """The case worker (token subject) of the latest assignment."""
    assigned_at: datetime | None = None
    closed_at: datetime | None = None
    """When reintegration published the latest closure."""
    reopened_at: datetime | None = None
    """When reintegration published the latest reopening."""

    @property
    def is_open(self) -> bool:
        """Never closed, or reopened after its latest closure."""
        return self.closed_at is None or (
            self.reopened_at is not None and self.reopened_at > self.closed_at
        )

    def assigned(self, to: str, at: datetime) -> Case:
        """The latest assignment wins: one read late, or again, changes nothing."""
        if self.assigned_at is not None and at <= self.assigned_at:
            return self
        return replace(self, assigned_to=to, assigned_at=at)

    def closed(self, published_at: datetime) -> Case:
        return replace(self, closed_at=_latest(self.closed_at, published_at))

    def reopened(self, published_at: datetime) -> Case:
        return replace(self, reopened_at=_latest(self.reopened_at, published_at))


@dataclass(frozen=True)
class Schedule:
    """One scheduling of a visit, as ``follow_up.scheduled`` published it."""

    reception_centre: str
    period_months: int
    due_on: date
    published_at: datetime
    event_id: UUID


@dataclass(frozen=True)
class Visit:
    """A monitoring visit: its latest scheduling, whether it was recorded, and what was queued
    for it."""

    follow_up_id: UUID
    returnee_id: UUID
    schedule: Schedule | None = None
    """None: only its recording was read so far (reintegration.assessed overtook it)."""
    visited_at: datetime | None = None
    """The visit was recorded, completed or the returnee unreachable: nothing more is sent."""
    live: bool = False
    """As last worked out (``FollowUps.settled``): stored, so that the worker finds live
    visits by an index rather than by the rule."""
    reminder_id: UUID | None = None
    """The reminder queued for it (the ledger's notification id): at most one per visit."""
    overdue_id: UUID | None = None
    """The overdue email queued for it: at most one per visit, ever."""

    def scheduled(self, schedule: Schedule) -> Visit:
        """The latest scheduling wins (a new due date, a new centre); a redelivered or an
        older one read late changes nothing. A reminder already queued stays the only one."""
        if self.schedule is not None and schedule.published_at <= self.schedule.published_at:
            return self
        return replace(self, schedule=schedule)

    def recorded(self, at: datetime) -> Visit:
        return replace(self, visited_at=at if self.visited_at is None else min(self.visited_at, at))

    def is_live_in(self, case: Case) -> bool:
        schedule = self.schedule
        return (
            schedule is not None
            and self.visited_at is None
            and case.is_open
            and (case.closed_at is None or schedule.published_at > case.closed_at)
        )


@dataclass(frozen=True)
class Stopped:
    """A visit that stopped being live, and what still waited for it must be cancelled."""

    visit: Visit
    reason: str

    @property
    def waiting(self) -> list[UUID]:
        return [n for n in (self.visit.reminder_id, self.visit.overdue_id) if n is not None]


@dataclass(frozen=True)
class FollowUps:
    """One returnee's case and visits, as far as notifications read them."""

    case: Case
    visits: Mapping[UUID, Visit] = field(default_factory=dict)

    @classmethod
    def of(cls, returnee_id: UUID) -> FollowUps:
        return cls(Case(returnee_id))

    @property
    def returnee_id(self) -> UUID:
        return self.case.returnee_id

    def applied(self, event: FollowUpEvent, event_id: UUID, published_at: datetime) -> FollowUps:
        """This state once ``event`` (published at ``published_at``) is known."""
        case = self.case
        if isinstance(event, CaseAssigned):
            return replace(self, case=case.assigned(event.assigned_to, event.assigned_at))
        if isinstance(event, CaseClosed):
            return replace(self, case=case.closed(published_at))
        if isinstance(event, CaseReopened):
            return replace(self, case=case.reopened(published_at))
        if isinstance(event, FollowUpScheduled):
            schedule = Schedule(
                reception_centre=event.reception_centre.value,
                period_months=event.period_months,
                due_on=event.due_on,
                published_at=published_at,
                event_id=event_id,
            )
            return self.with_visit(self._visit(event.follow_up_id).scheduled(schedule))
        if event.kind is AssessmentKind.FOLLOW_UP and event.follow_up_id is not None:
            return self.with_visit(self._visit(event.follow_up_id).recorded(event.assessed_at))
        return self  # a baseline: no visit of its own

    def settled(self) -> tuple[FollowUps, list[Stopped]]:
        """Every visit's ``live`` worked out again, and those that stopped being live, with
        why, so that what waits for them is cancelled."""
        visits: dict[UUID, Visit] = {}
        stopped: list[Stopped] = []
        for follow_up_id, visit in self.visits.items():
            live = visit.is_live_in(self.case)
            if visit.live and not live:
                reason = VISIT_RECORDED if visit.visited_at is not None else CASE_CLOSED
                stopped.append(Stopped(visit, reason))
            visits[follow_up_id] = replace(visit, live=live)
        return replace(self, visits=visits), stopped

    def with_reminders_unsent(self, cancelled: set[UUID]) -> FollowUps:
        """The reminders in ``cancelled`` were stopped before they left (held or queued, not
        in a sender's hands): their visit may be reminded again if a reopening re-arms it."""
        visits = {
            fid: replace(v, reminder_id=None) if v.reminder_id in cancelled else v
            for fid, v in self.visits.items()
        }
        return replace(self, visits=visits)

    def _visit(self, follow_up_id: UUID) -> Visit:
        return self.visits.get(follow_up_id) or Visit(follow_up_id, self.returnee_id)

    def with_visit(self, visit: Visit) -> FollowUps:
        return replace(self, visits={**self.visits, visit.follow_up_id: visit})


@dataclass(frozen=True)
class FollowUpTimes:
    """When a visit's reminder and overdue email are due (FOLLOW_UP_REMINDER_DAYS,
    FOLLOW_UP_OVERDUE_DAYS). Times are UTC, which is Mali's time."""

    reminder_days: int
    overdue_days: int
    overdue_window_days: int = 30
    """A visit overdue for longer than this is not emailed about any more (it is on the due
    list): a consumer that replays old history, or a programme that imports its past cases,
    must not flood its case workers with every visit ever missed."""

    def reminder_from(self, due_on: date) -> datetime:
        day = due_on - timedelta(days=self.reminder_days)
        return datetime.combine(day, REMINDER_HOUR, tzinfo=UTC)

    def reminder_due(self, due_on: date, now: datetime) -> bool:
        """From ``reminder_days`` before the visit (at REMINDER_HOUR), or at once when that
        moment has passed, as long as the visit is not due yet: never on or after its day."""
        return self.reminder_from(due_on) <= now and _day(now) < due_on

    def reminder_window(self, now: datetime) -> tuple[date, date]:
        """The due dates whose reminder is due at ``now``: after the first, up to and
        including the second (what ``reminder_due`` says, as bounds for a query)."""
        today = _day(now)
        last = today + timedelta(days=self.reminder_days)
        if now.astimezone(UTC).time() < REMINDER_HOUR:
            last -= timedelta(days=1)
        return today, last

    def overdue(self, due_on: date, now: datetime) -> bool:
        """``overdue_days`` past the day the visit was due, and not yet ``overdue_window_days``
        more."""
        first, last = self.overdue_window(now)
        return first < due_on <= last

    def overdue_window(self, now: datetime) -> tuple[date, date]:
        """The due dates of the visits overdue at ``now``: after the first, up to and including
        the second (what ``overdue`` says, as bounds for a query)."""
        last = _day(now) - timedelta(days=self.overdue_days)
        return last - timedelta(days=self.overdue_window_days), last


def reminder_due(visit: Visit, case: Case, times: FollowUpTimes, now: datetime) -> bool:
    """A live visit whose reminder was not queued yet, and is due now."""
    return (
        visit.schedule is not None
        and visit.reminder_id is None
        and visit.is_live_in(case)
        and times.reminder_due(visit.schedule.due_on, now)
    )


def overdue_due(visit: Visit, case: Case, times: FollowUpTimes, now: datetime) -> bool:
    """A live visit, overdue, whose case worker was not told yet."""
    return (
        visit.schedule is not None
        and visit.overdue_id is None
        and visit.is_live_in(case)
        and times.overdue(visit.schedule.due_on, now)
    )


def reminder_notification_id(visit: Visit) -> UUID:
    """The reminder of a visit is the notification of its latest scheduling, to the returnee,
    by SMS: two workers queueing it at once write one ledger row, and a visit re-armed after a
    closure (scheduled again: a new event) gets a row of its own."""
    assert visit.schedule is not None
    return notification_id(visit.schedule.event_id, f"returnee:{visit.returnee_id}", Channel.SMS)


def overdue_notification_id(follow_up_id: UUID) -> UUID:
    """One overdue email per visit, whoever it goes to and however often it was scheduled."""
    return uuid5(NOTIFICATION_NAMESPACE, f"follow_up:{follow_up_id}/overdue/email")


@dataclass(frozen=True)
class Addressee:
    """Who is told that a visit is overdue."""

    recipient: str
    """``case_worker:<subject>`` or ``centre_team:<centre>``: who, never an address."""
    address: str | None
    team_because: str | None = None
    """Why the centre team is told instead of a case worker: ``unassigned`` or
    ``address_unknown``; None for the case worker."""


def overdue_addressee(
    case: Case,
    centre: str,
    *,
    staff_addresses: Mapping[str, str],
    team_addresses: Mapping[str, str],
) -> Addressee:
    """The case worker of the latest assignment, when their address is known; else the team
    of the centre the visit is scheduled at, so that an overdue visit always reaches someone
    who can act on it."""
    worker = case.assigned_to
    if worker is not None and worker in staff_addresses:
        return Addressee(f"case_worker:{worker}", staff_addresses[worker])
    because = "unassigned" if worker is None else "address_unknown"
    return Addressee(f"centre_team:{centre}", team_addresses.get(centre), because)


def reminder_context(visit: Visit) -> dict[str, Any]:
    """What a reminder may say: the visit's month and centre, the case reference. Nobody's
    name: not the returnee's (they know it), not a case worker's."""
    schedule = visit.schedule
    assert schedule is not None
    return {
        "returnee_id": str(visit.returnee_id),
        "reference": reference_of(visit.returnee_id),
        "reception_centre": schedule.reception_centre,
        "period_months": schedule.period_months,
        "due_on": schedule.due_on.isoformat(),
        "due_month": schedule.due_on.month,
        "due_year": schedule.due_on.year,
    }


def overdue_context(visit: Visit, addressee: Addressee, now: datetime) -> dict[str, Any]:
    """What an overdue email may say: the case reference and id, the period, the due date;
    never a name or a phone number."""
    schedule = visit.schedule
    assert schedule is not None
    return {
        **reminder_context(visit),
        "days_late": (_day(now) - schedule.due_on).days,
        "team_because": addressee.team_because,
    }


def _latest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None else max(current, candidate)


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()
