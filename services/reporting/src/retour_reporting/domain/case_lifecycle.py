"""What reporting keeps of a reintegration case's life after it opened: closures and
reopenings, agreed plans, referrals, scheduled monitoring visits and sustainability scores.

Only ids, codes, dates and scores: who closed, agreed, referred or assessed (staff ids) is
left out, as no report names them, and the plan items' summaries are not kept either (no
report reads them). The partner's name is an organisation's, never a returnee's.

These events come from six topics, so they are read in any order with each other and with the
registrations; reports join and settle them when they are read. Each row is therefore a fact
that does not depend on any other row, and its table keeps it by its own business id:

- a closure or a reopening is kept per case and moment (a case is a registration's: it is
  named by ``returnee_id``); whether a case is closed *now* is read from the latest of them;
- a plan revision per case and revision number (the first event of each wins, as for aid);
- an assessment per ``assessment_id`` (a fact: the visit of a day, its scores);
- a referral is kept at its newest status, and a visit at its newest schedule: the rules
  below, applied again by the projection store in SQL, so that every order of the same
  events (a rebuild's, a redelivery's) ends in the same row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from operator import attrgetter
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from retour_contracts import (
    CaseClosed,
    CaseReopened,
    FollowUpScheduled,
    PlanAgreed,
    ReferralStatus,
    ReferralUpdated,
    ReintegrationAssessed,
)

Row = TypeVar("Row")

REFERRAL_PROGRESS = {
    ReferralStatus.SENT: 0,
    ReferralStatus.ACCEPTED: 1,
    ReferralStatus.DECLINED: 2,
    ReferralStatus.COMPLETED: 3,
}
"""How far along a referral's life a status is: of two statuses given at the same moment, the
later one in that life is the referral's (migration 0005 has the same list)."""


class ClosureRow(NamedTuple):
    returnee_id: UUID
    closed_at: datetime
    reason: str


class ReopeningRow(NamedTuple):
    returnee_id: UUID
    reopened_at: datetime
    reason: str


class PlanRow(NamedTuple):
    returnee_id: UUID
    revision: int
    agreed_on: date


class ReferralRow(NamedTuple):
    referral_id: UUID
    returnee_id: UUID
    partner_id: UUID
    partner_name: str
    dimension: str
    status: str
    sent_at: datetime
    status_at: datetime


class FollowUpRow(NamedTuple):
    follow_up_id: UUID
    returnee_id: UUID
    reception_centre: str
    period_months: int
    due_on: date
    scheduled_at: datetime
    """When reintegration published this schedule (the event's ``ce_time``): a visit is
    scheduled again, with the same id, when its case is transferred, its arrival corrected or
    it is reopened, and the newest schedule is the visit's."""


class AssessmentRow(NamedTuple):
    assessment_id: UUID
    returnee_id: UUID
    kind: str
    follow_up_id: UUID | None
    period_months: int | None
    outcome: str
    method: str
    economic: float | None
    social: float | None
    psychosocial: float | None
    composite: float | None
    assessed_at: datetime


class ScheduledVisit(NamedTuple):
    """A ``follow_up.scheduled`` event with the moment it was published: the event itself
    carries no time, and only that moment tells which of two schedules of a visit is the
    newer (the Kafka consumer hands it over; ``projection.rows_for`` takes it)."""

    event: FollowUpScheduled
    published_at: datetime


def closure_row(event: CaseClosed) -> ClosureRow:
    return ClosureRow(event.returnee_id, event.closed_at, event.reason)


def reopening_row(event: CaseReopened) -> ReopeningRow:
    return ReopeningRow(event.returnee_id, event.reopened_at, event.reason)


def plan_row(event: PlanAgreed) -> PlanRow:
    return PlanRow(event.returnee_id, event.revision, event.agreed_on)


def referral_row(event: ReferralUpdated) -> ReferralRow:
    return ReferralRow(
        event.referral_id,
        event.returnee_id,
        event.partner_id,
        event.partner_name,
        event.dimension,
        event.status,
        event.sent_at,
        event.status_at,
    )


def follow_up_row(visit: ScheduledVisit) -> FollowUpRow:
    event = visit.event
    return FollowUpRow(
        event.follow_up_id,
        event.returnee_id,
        event.reception_centre,
        event.period_months,
        event.due_on,
        visit.published_at,
    )


def assessment_row(event: ReintegrationAssessed) -> AssessmentRow:
    scores = event.scores
    return AssessmentRow(
        event.assessment_id,
        event.returnee_id,
        event.kind,
        event.follow_up_id,
        event.period_months,
        event.outcome,
        event.method,
        scores.economic if scores else None,
        scores.social if scores else None,
        scores.psychosocial if scores else None,
        scores.composite if scores else None,
        event.assessed_at,
    )


def referral_version(row: ReferralRow) -> tuple[datetime, int]:
    """The later status wins: by when it was given, then by how far along it is."""
    return row.status_at, REFERRAL_PROGRESS[ReferralStatus(row.status)]


def schedule_version(row: FollowUpRow) -> tuple[datetime, date, str]:
    """The newer schedule wins; two published at the same moment (which one transaction
    never does) are told apart by their values, so the choice never depends on the order."""
    return row.scheduled_at, row.due_on, row.reception_centre


def newest_referrals(rows: Iterable[ReferralRow]) -> list[ReferralRow]:
    """The newest status of each referral among ``rows``."""
    return newest_by(rows, attrgetter("referral_id"), referral_version)


def newest_schedules(rows: Iterable[FollowUpRow]) -> list[FollowUpRow]:
    """The newest schedule of each visit among ``rows``."""
    return newest_by(rows, attrgetter("follow_up_id"), schedule_version)


def newest_by(
    rows: Iterable[Row], key: Callable[[Row], UUID], version: Callable[[Row], tuple[Any, ...]]
) -> list[Row]:
    """The row of the greatest ``version`` for each ``key`` among ``rows``."""
    kept: dict[UUID, Row] = {}
    for row in rows:
        held = kept.get(key(row))
        if held is None or version(row) > version(held):
            kept[key(row)] = row
    return list(kept.values())
