"""Results of the case reports: plans, referrals, follow-up visits, sustainability scores and
closures. Counts are exact, as in every result; publishing decides what to hide, except the
mean scores of a small cell, which no one is shown (a mean of one person is their score)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from retour_reporting.domain.disclosure import is_small_cell
from retour_reporting.domain.outcomes import Share

PLAN_AIM_DAYS = 30
"""IOM's Reintegration Handbook: a plan agreed with the returnee within about a month of
arrival. Counted in days from the arrival day to the day the first plan was agreed."""
SCORE_DECIMALS = 4


@dataclass(frozen=True)
class PlanOutcomes:
    """Of the returnees who arrived in the period: how many have a first agreed plan, and how
    soon after their arrival it was agreed."""

    cohort: int
    with_plan: int
    within_aim: int
    """Agreed at most ``PLAN_AIM_DAYS`` days after the arrival day."""
    median_days: float | None
    """Over those with a plan: days from the arrival day to the first plan's."""

    @property
    def within_aim_share(self) -> Share:
        return Share(self.within_aim, self.with_plan)

    @property
    def median_is_small(self) -> bool:
        return is_small_cell(self.with_plan)


@dataclass(frozen=True)
class PlanReport:
    aim_days: int
    overall: PlanOutcomes
    by_centre: dict[str, PlanOutcomes]


@dataclass(frozen=True)
class ReferralCell:
    referrals: int
    people: int

    @property
    def small(self) -> bool:
        return is_small_cell(self.people)


@dataclass(frozen=True)
class ReferralGroup:
    """Referrals at their current status: all of them, and by status (every status listed)."""

    total: ReferralCell
    by_status: dict[str, ReferralCell]


@dataclass(frozen=True)
class PartnerReferrals:
    partner_id: UUID
    partner_name: str
    """The name on the partner's most recently updated referral (of all, counted or not)."""
    referrals: ReferralGroup


@dataclass(frozen=True)
class ReferralReport:
    overall: ReferralGroup
    partners: list[PartnerReferrals]


@dataclass(frozen=True)
class VisitCounts:
    """Monitoring visits as the schedule stands. A closure cancels the visits of its case not
    made yet, so they are not counted; every other visit is ``scheduled``. ``due`` are those
    whose time has come: made (completed, or the returnee unreachable) or ``overdue`` (due
    before the report's day, not completed, on an open case; an unreachable visit is overdue
    until it is completed). The completion rate is completed over due."""

    scheduled: int
    completed: int
    unreachable: int
    overdue: int
    due: int

    @property
    def completion(self) -> Share:
        return Share(self.completed, self.due)


@dataclass(frozen=True)
class FollowUpPeriod:
    period_months: int
    overall: VisitCounts
    by_centre: dict[str, VisitCounts]


@dataclass(frozen=True)
class FollowUpReport:
    as_of: date
    periods: list[FollowUpPeriod]


@dataclass(frozen=True)
class Scores:
    economic: float
    social: float
    psychosocial: float
    composite: float


@dataclass(frozen=True)
class ScoreCell:
    value: str
    people: int
    means: Scores

    @property
    def small(self) -> bool:
        return is_small_cell(self.people)

    @property
    def shown_means(self) -> Scores | None:
        """The means, unless the cell is small: then none at all."""
        return None if self.small else self.means


@dataclass(frozen=True)
class ScoreSeries:
    """The latest completed survey of each returnee of one kind (baseline, or the visit at
    ``period_months``) scored by one ``method``: scores of two methods are never averaged
    together, each method has series of its own."""

    kind: str
    period_months: int | None
    method: str
    total: ScoreCell
    breakdowns: dict[str, list[ScoreCell]]


@dataclass(frozen=True)
class SustainabilityReport:
    series: list[ScoreSeries]


@dataclass(frozen=True)
class CaseCell:
    value: str
    cases: int

    @property
    def small(self) -> bool:
        return is_small_cell(self.cases)


@dataclass(frozen=True)
class ClosureReport:
    closed: int
    """Cases closed now (a reopened case is not), by their latest closure in the period."""
    by_reason: list[CaseCell]
    reopenings: int
    """Reopenings in the period (a case reopened twice counts twice)."""
    reopenings_by_reason: list[CaseCell]
