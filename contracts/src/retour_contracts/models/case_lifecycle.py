"""The events of a reintegration case's life after it opened (reintegration): who works on it,
the plan agreed with the returnee, referrals to partners, monitoring visits and their scores,
closure and reopening.

A case is the reintegration case of one registration, so it is named by ``returnee_id`` and
every event here is keyed by it: one person's case events stay in order on one partition. None
carries personal data: codes, dates, staff identifiers (token subjects) and scores only; free
text a case worker writes (what a plan item is, a visit's notes) stays in reintegration.
"""

from datetime import date
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, model_validator

from retour_contracts.models.enums import (
    AssessmentKind,
    ClosureReason,
    Dimension,
    PlanItemStatus,
    Provider,
    ReceptionCentre,
    ReferralStatus,
    ReopeningReason,
    VisitOutcome,
)
from retour_contracts.models.types import ContractModel, UtcDatetime

StaffId = Annotated[str, Field(min_length=1, max_length=100)]
"""A staff member: the subject of their token."""
OrganisationName = Annotated[str, Field(min_length=1, max_length=200)]
Score = Annotated[float, Field(ge=0, le=1)]
PeriodMonths = Annotated[int, Field(ge=1, le=60)]


class CaseAssigned(ContractModel):
    """The case now has a case worker: assigned by a supervisor, or taken by the case worker
    themselves (``assigned_by == assigned_to``). ``previous`` is who had it before, if anyone."""

    returnee_id: UUID
    reception_centre: ReceptionCentre = Field(description="The case's centre when assigned.")
    assigned_to: StaffId
    previous: StaffId | None = None
    assigned_by: StaffId
    assigned_at: UtcDatetime


class CaseClosed(ContractModel):
    """The case was closed: by a case worker, or as a duplicate registration when the
    registration was merged into the person's earlier one (``closed_by`` is then the
    supervisor who decided the merge)."""

    returnee_id: UUID
    reason: ClosureReason
    closed_at: UtcDatetime
    closed_by: StaffId


class CaseReopened(ContractModel):
    """A closed case was opened again; its open follow-up visits are scheduled again by
    ``follow_up.scheduled`` events of their own."""

    returnee_id: UUID
    reason: ReopeningReason
    reopened_at: UtcDatetime
    reopened_by: StaffId


class PlanItemSummary(ContractModel):
    """One item of the plan, without its description (free text stays in reintegration)."""

    item_id: UUID
    dimension: Dimension
    provider: Provider
    partner_id: UUID | None = Field(default=None, description="When a partner provides it.")
    target_date: date
    status: PlanItemStatus

    @model_validator(mode="after")
    def _partner_when_partner_provides(self) -> Self:
        if (self.provider is Provider.PARTNER) != (self.partner_id is not None):
            raise ValueError("partner_id is given exactly when the provider is a partner")
        return self


class PlanAgreed(ContractModel):
    """A reintegration plan (or a revision of it) was agreed with the returnee. The Handbook's
    aim is a plan agreed within about a month of arrival; reporting measures it from
    ``agreed_on``."""

    returnee_id: UUID
    revision: int = Field(ge=1, description="1 for the first plan agreed, then each revision.")
    agreed_on: date = Field(description="The day the returnee agreed to it.")
    agreed_by: StaffId = Field(description="The staff member who agreed it with the returnee.")
    recorded_at: UtcDatetime
    items: list[PlanItemSummary] = Field(min_length=1)


class ReferralUpdated(ContractModel):
    """A referral to a partner organisation was sent, or its status changed. ``status_at`` is
    when the status became what it is; ``sent_at`` stays the day it was sent."""

    referral_id: UUID
    returnee_id: UUID
    plan_item_id: UUID
    partner_id: UUID
    partner_name: OrganisationName
    dimension: Dimension
    status: ReferralStatus
    sent_at: UtcDatetime
    status_at: UtcDatetime
    updated_by: StaffId


class FollowUpScheduled(ContractModel):
    """A monitoring visit is due: scheduled when the case opens, at the configured periods
    after arrival (3, 6 and 12 months by default), and scheduled again when a closed case is
    reopened or a transfer moves it. The same ``follow_up_id`` is the same visit."""

    follow_up_id: UUID
    returnee_id: UUID
    reception_centre: ReceptionCentre
    period_months: PeriodMonths
    due_on: date


class SustainabilityScores(ContractModel):
    """Reintegration Sustainability Survey scores, 0 (worst) to 1 (best), as computed by
    reintegration's published method (docs/case-management.md)."""

    economic: Score
    social: Score
    psychosocial: Score
    composite: Score


class ReintegrationAssessed(ContractModel):
    """The Reintegration Sustainability Survey was taken, as the baseline or at a monitoring
    visit, or the returnee could not be reached for the visit. Carries the scores, never the
    answers."""

    assessment_id: UUID
    returnee_id: UUID
    kind: AssessmentKind
    follow_up_id: UUID | None = Field(default=None, description="The visit, for a follow-up.")
    period_months: PeriodMonths | None = None
    outcome: VisitOutcome
    scores: SustainabilityScores | None = Field(
        default=None, description="Present exactly when the survey was completed."
    )
    method: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="The scoring method and weights used, so scores of two methods are never"
        " averaged together."
    )
    assessed_at: UtcDatetime
    assessed_by: StaffId

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.outcome is VisitOutcome.COMPLETED) != (self.scores is not None):
            raise ValueError("scores are given exactly when the survey was completed")
        if (self.kind is AssessmentKind.FOLLOW_UP) != (self.follow_up_id is not None):
            raise ValueError("follow_up_id is given exactly for a follow-up visit")
        if (self.follow_up_id is None) != (self.period_months is None):
            raise ValueError("period_months is given exactly with follow_up_id")
        if self.kind is AssessmentKind.BASELINE and self.outcome is VisitOutcome.UNREACHABLE:
            raise ValueError("a baseline is taken with the returnee, never unreachable")
        return self
