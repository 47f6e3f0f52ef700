"""What reporting keeps of each event: categories and amounts, never who the person is.

Each row is keyed by the business id of its event (returnee, aid, activity), so writing the
same event twice, or in another order relative to other topics, leaves the same rows. A
correction or a transfer is kept as the newest change of each field (``corrections``), which
the person's registration row shows over its own values. A merge is kept as the newest merge
of each merged registration (``merges``); rows keep the registration they were recorded under,
and reports count them as the person the merges make of it. The events of a case's life
(closures, plans, referrals, visits, scores) are kept as ``case_lifecycle`` says, and the
expected arrivals of a manifest and their closures as ``expectations`` says. Rows are
named tuples: a replay builds millions of them, and the writer turns a batch into columns
with one ``zip``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple
from uuid import UUID

from retour_contracts import (
    ActivityLaunched,
    AidGranted,
    CaseClosed,
    CaseReopened,
    Event,
    ExpectedArrivalClosed,
    FollowUpScheduled,
    Money,
    PlanAgreed,
    ReferralUpdated,
    RegistrationFacts,
    ReintegrationAssessed,
    ReturneeExpected,
    ReturneeMerged,
    ReturneeUpdated,
)
from retour_reporting.domain.case_lifecycle import (
    AssessmentRow,
    ClosureRow,
    FollowUpRow,
    PlanRow,
    ReferralRow,
    ReopeningRow,
    ScheduledVisit,
    assessment_row,
    closure_row,
    follow_up_row,
    newest_referrals,
    newest_schedules,
    plan_row,
    referral_row,
    reopening_row,
)
from retour_reporting.domain.categories import age_group
from retour_reporting.domain.corrections import (
    FieldChange,
    date_of,
    field_changes,
    newest,
    vulnerabilities_of,
)
from retour_reporting.domain.expectations import (
    ExpectationClosureRow,
    ExpectedRow,
    expected_row,
    newest_closures,
)
from retour_reporting.domain.expectations import closure_row as expectation_closure_row
from retour_reporting.domain.merges import Merge, merge_of
from retour_reporting.domain.merges import newest as newest_merges

# Enum members are stored as they are: each is a ``str`` whose value is the wire spelling.


class RegistrationRow(NamedTuple):
    returnee_id: UUID
    arrival_date: date
    reception_centre: str
    return_type: str
    host_country: str
    region_of_origin: str
    sex: str
    age_group: str
    vulnerabilities: tuple[str, ...]
    expected_id: UUID | None
    """The expected arrival this registration confirmed (``expectations``); None also on a row
    written before reporting kept it, until the next rebuild."""


class AidRow(NamedTuple):
    aid_id: UUID
    returnee_id: UUID
    granted_at: datetime
    phase: str
    category: str
    dimension: str
    level: str
    modality: str
    amount: Decimal | None
    currency: str | None


class ActivityRow(NamedTuple):
    activity_id: UUID
    launched_at: datetime
    sector: str
    level: str
    funding_amount: Decimal | None
    funding_currency: str | None


class ParticipantRow(NamedTuple):
    activity_id: UUID
    returnee_id: UUID


@dataclass
class ProjectionRows:
    registrations: list[RegistrationRow] = field(default_factory=list)
    aid: list[AidRow] = field(default_factory=list)
    activities: list[ActivityRow] = field(default_factory=list)
    participants: list[ParticipantRow] = field(default_factory=list)
    changes: list[FieldChange] = field(default_factory=list)
    """The newest change of each person's field among the batch's updates."""
    merges: list[Merge] = field(default_factory=list)
    """The newest merge of each merged registration among the batch's merges."""
    closures: list[ClosureRow] = field(default_factory=list)
    reopenings: list[ReopeningRow] = field(default_factory=list)
    plans: list[PlanRow] = field(default_factory=list)
    referrals: list[ReferralRow] = field(default_factory=list)
    """The newest status of each referral among the batch's updates."""
    follow_ups: list[FollowUpRow] = field(default_factory=list)
    """The newest schedule of each visit among the batch's."""
    assessments: list[AssessmentRow] = field(default_factory=list)
    expected: list[ExpectedRow] = field(default_factory=list)
    expectation_closures: list[ExpectationClosureRow] = field(default_factory=list)
    """The closure kept of each expectation among the batch's."""


CaseFact = CaseClosed | CaseReopened | PlanAgreed | ReintegrationAssessed
"""Case events kept as facts, by their own business key: the first event of a key wins."""
Fact = CaseFact | ReturneeExpected
"""Events kept by their own business key, the first event of a key winning."""
Projected = (
    Event
    | ReturneeUpdated
    | ReturneeMerged
    | Fact
    | ReferralUpdated
    | ScheduledVisit
    | ExpectedArrivalClosed
)
"""What the projections are made of (a visit's schedule with the moment it was published)."""


def registration_row(event: RegistrationFacts) -> RegistrationRow:
    # Deliberately left out: `personal` (names, date of birth, phone, national id), the exact
    # age, household size, language, consents and registration details. None of them is a
    # published disaggregation, so none of them is kept; nor is when intake recorded it (the
    # time to care counts from the arrival day). The expected arrival it confirmed is kept for
    # the expected-arrivals report.
    return RegistrationRow(
        event.returnee_id,
        event.arrival_date,
        event.reception_centre,
        event.return_type,
        event.host_country,
        event.region_of_origin,
        event.sex,
        age_group(event.age_years),
        tuple(sorted(event.vulnerabilities)),
        event.expected_id,
    )


def aid_row(event: AidGranted) -> AidRow:
    amount, currency = _money(event.amount)
    return AidRow(
        event.aid_id,
        event.returnee_id,
        event.granted_at,
        event.phase,
        event.category,
        event.dimension,
        event.level,
        event.modality,
        amount,
        currency,
    )


def activity_rows(event: ActivityLaunched) -> tuple[ActivityRow, list[ParticipantRow]]:
    amount, currency = _money(event.funding)
    activity = ActivityRow(
        event.activity_id, event.launched_at, event.sector, event.level, amount, currency
    )
    participants = [ParticipantRow(event.activity_id, rid) for rid in event.returnee_ids]
    return activity, participants


def corrected(row: RegistrationRow, changes: Iterable[FieldChange]) -> RegistrationRow:
    """``row`` as the newest of its person's ``changes`` leave it, in whatever order they come:
    applying them again, or older ones after them, changes nothing."""
    own = newest(change for change in changes if change.returnee_id == row.returnee_id)
    if not own:
        return row
    new = {change.field: change.value for change in own}
    return RegistrationRow(
        row.returnee_id,
        date_of(new["arrival_date"]) if "arrival_date" in new else row.arrival_date,
        new.get("reception_centre", row.reception_centre),
        new.get("return_type", row.return_type),
        new.get("host_country", row.host_country),
        new.get("region_of_origin", row.region_of_origin),
        new.get("sex", row.sex),
        new.get("age_group", row.age_group),
        vulnerabilities_of(new["vulnerabilities"])
        if "vulnerabilities" in new
        else row.vulnerabilities,
        # No correction changes the expected arrival it confirmed.
        row.expected_id,
    )


def rows_for(events: Iterable[Projected]) -> ProjectionRows:
    """Rows of ``events``, in order. A business id seen twice keeps its first event (as the
    table does across batches), so a batch and the same events split in two batches agree;
    updates keep the newest change of each field, merges the newest merge of each merged
    registration, referrals their newest status and visits their newest schedule, as the
    tables do too."""
    rows = ProjectionRows()
    seen: set[tuple[str, object]] = set()
    changes: list[FieldChange] = []
    merges: list[Merge] = []
    referrals: list[ReferralRow] = []
    schedules: list[FollowUpRow] = []
    closures: list[ExpectationClosureRow] = []
    for event in events:
        if isinstance(event, ReturneeUpdated):
            changes.extend(field_changes(event))
        elif isinstance(event, ReturneeMerged):
            merges.append(merge_of(event))
        elif isinstance(event, ReferralUpdated):
            referrals.append(referral_row(event))
        elif isinstance(event, ScheduledVisit):
            schedules.append(follow_up_row(event))
        elif isinstance(event, FollowUpScheduled):
            raise TypeError("a visit's schedule is projected with when it was published")
        elif isinstance(event, ExpectedArrivalClosed):
            closures.append(expectation_closure_row(event))
        elif (key := _business_key(event)) not in seen:
            seen.add(key)
            _add_first(rows, event)
    rows.changes = newest(changes)
    rows.merges = newest_merges(merges)
    rows.referrals = newest_referrals(referrals)
    rows.follow_ups = newest_schedules(schedules)
    rows.expectation_closures = newest_closures(closures)
    return rows


def _add_first(rows: ProjectionRows, event: Event | Fact) -> None:
    if isinstance(event, RegistrationFacts):
        rows.registrations.append(registration_row(event))
    elif isinstance(event, AidGranted):
        rows.aid.append(aid_row(event))
    elif isinstance(event, ActivityLaunched):
        activity, participants = activity_rows(event)
        rows.activities.append(activity)
        rows.participants.extend(participants)
    elif isinstance(event, CaseClosed):
        rows.closures.append(closure_row(event))
    elif isinstance(event, CaseReopened):
        rows.reopenings.append(reopening_row(event))
    elif isinstance(event, PlanAgreed):
        rows.plans.append(plan_row(event))
    elif isinstance(event, ReturneeExpected):
        rows.expected.append(expected_row(event))
    else:
        rows.assessments.append(assessment_row(event))


def _business_key(event: Event | Fact) -> tuple[str, object]:
    # By kind, not by class: a registration is the same one in version 1 or 2. A closure or a
    # reopening is the case's at a moment; a plan revision is the case's by its number.
    if isinstance(event, RegistrationFacts):
        return ("registration", event.returnee_id)
    if isinstance(event, AidGranted):
        return ("aid", event.aid_id)
    if isinstance(event, ActivityLaunched):
        return ("activity", event.activity_id)
    if isinstance(event, CaseClosed):
        return ("closure", (event.returnee_id, event.closed_at))
    if isinstance(event, CaseReopened):
        return ("reopening", (event.returnee_id, event.reopened_at))
    if isinstance(event, PlanAgreed):
        return ("plan", (event.returnee_id, event.revision))
    if isinstance(event, ReturneeExpected):
        return ("expected", event.expected_id)
    return ("assessment", event.assessment_id)


def _money(money: Money | None) -> tuple[Decimal | None, str | None]:
    return (money.amount, money.currency) if money is not None else (None, None)
