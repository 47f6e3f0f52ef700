"""Response bodies. Aid and activities reuse the event contracts, so an API client and a
Kafka consumer see the same fields under the same names."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.json_schema import SkipJsonSchema

from retour_contracts import (
    ActivityLaunched,
    AidGranted,
    ChangeReason,
    ClosureReason,
    Dimension,
    MaliRegion,
    ReceptionCentre,
    ReopeningReason,
    SustainabilityScores,
    VisitOutcome,
    Vulnerability,
)
from retour_reintegration.domain.assessments import AssessmentType
from retour_reintegration.domain.case import CaseStatus
from retour_reintegration.views import examples as ex
from retour_reintegration.views.examples import examples

# A string, like Money.amount, so no client reads money as a binary float.
PlainAmount = Annotated[
    Decimal, PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str)
]


class AidView(AidGranted):
    model_config = ConfigDict(json_schema_extra=examples(ex.aid, ex.lodging_aid))

    exceeded_budget: bool
    merged_from: UUID | None = None
    """On the person's case, aid granted under a duplicate registration later merged into it:
    that registration (``returnee_id`` is the case's, the person's). The aid.granted event
    keeps the registration it was granted under."""


class ActivityView(ActivityLaunched):
    model_config = ConfigDict(json_schema_extra=examples(ex.activity))

    launched_by: str


class Budget(BaseModel):
    """The returnee's reintegration budget (cash and business start-up grants)."""

    model_config = ConfigDict(json_schema_extra=examples(ex.budget))

    currency: str
    limit: PlainAmount
    granted: PlainAmount
    remaining: PlainAmount


class CaseSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.case_summary, ex.closed_case_summary))

    returnee_id: UUID
    reception_centre: ReceptionCentre
    region_of_origin: MaliRegion
    arrival_date: date
    registered_at: datetime
    status: CaseStatus
    opened_at: datetime
    closed_at: datetime | None
    closure_reason: ClosureReason | None
    closed_by: str | None
    merged_into: UUID | None = None
    """Set when this registration was found to be a duplicate and merged into the person's:
    the case that serves the person and holds this one's aid and activities (the case is then
    closed, as ``duplicate_registration`` unless a case worker had closed it already)."""
    assigned_to: str | None = None
    """The case worker who has the case (their user id); None: nobody yet."""


class TransferView(BaseModel):
    """The case moved with the person from one reception centre to another (returnee.updated
    of that registration ``version``)."""

    model_config = ConfigDict(json_schema_extra=examples(ex.transfer))

    version: int
    transferred_at: datetime
    transferred_by: str
    reason: ChangeReason
    from_centre: ReceptionCentre
    to_centre: ReceptionCentre


class AssignmentView(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.assignment))

    assigned_to: str
    previous: str | None
    assigned_by: str
    assigned_at: datetime
    reception_centre: ReceptionCentre
    """The case's centre when it was assigned."""


class ReopeningView(BaseModel):
    """The case was reopened, undoing the closure described here."""

    model_config = ConfigDict(json_schema_extra=examples(ex.reopening))

    reason: ReopeningReason
    reopened_at: datetime
    reopened_by: str
    closure_reason: ClosureReason
    closed_at: datetime
    closed_by: str


class FoundVulnerability(BaseModel):
    """A vulnerability found after registration, by the assessment that found it first."""

    model_config = ConfigDict(json_schema_extra=examples(ex.found_vulnerability))

    vulnerability: Vulnerability
    found_on: date
    found_by: str
    assessment_id: UUID


class AssessmentSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.assessment_summary))

    assessment_id: UUID
    kind: AssessmentType
    assessed_on: date
    recorded_at: datetime
    recorded_by: str
    scores: SustainabilityScores | None = None
    """The sustainability baseline's scores (the others have none)."""
    method: str | None = None


class AssessmentView(AssessmentSummary):
    model_config = ConfigDict(
        json_schema_extra=examples(ex.vulnerability_assessment, ex.baseline_assessment)
    )

    document: dict[str, Any]
    """The document as recorded, without ``kind`` and ``assessed_on``: codes and numbers, or
    the baseline's ``answers`` (question code -> answer code)."""


class AssessmentList(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.assessment_list))

    items: list[AssessmentView]
    """Oldest first."""


class VisitSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.visit_summary))

    assessment_id: UUID
    outcome: VisitOutcome
    visited_on: date
    recorded_at: datetime
    recorded_by: str
    scores: SustainabilityScores | None
    method: str


class VisitView(VisitSummary):
    model_config = ConfigDict(json_schema_extra=examples(ex.visit, ex.unreachable_visit))

    follow_up_id: UUID
    period_months: int
    answers: dict[str, str] | None
    """Question code -> answer code, when the survey was taken."""


class FollowUpView(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.follow_up, ex.six_month_follow_up))

    follow_up_id: UUID
    period_months: int
    due_on: date
    completed_on: date | None
    visits: list[VisitSummary]
    """Oldest first: unreachable attempts, then the completed visit if any."""


class CaseDetails(CaseSummary):
    model_config = ConfigDict(json_schema_extra=examples(ex.case_details))

    budget: Budget
    aid: list[AidView]
    activities: list[ActivityView]
    transfers: list[TransferView]
    """Oldest first; the last one's ``to_centre`` is the case's ``reception_centre``."""
    vulnerabilities: list[Vulnerability]
    """Those screened at registration and those found since (``vulnerabilities_found``)."""
    vulnerabilities_found: list[FoundVulnerability]
    assignments: list[AssignmentView]
    """Oldest first; the last one's ``assigned_to`` is the case's."""
    assessments: list[AssessmentSummary]
    """Oldest first (GET /cases/{returnee_id}/assessments has their documents)."""
    follow_ups: list[FollowUpView]
    """By period."""
    reopenings: list[ReopeningView]
    """Oldest first."""


class CasePage(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.case_page))

    items: list[CaseSummary]
    next_cursor: str | None


class DueFollowUp(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.due_follow_up))

    follow_up_id: UUID
    returnee_id: UUID
    reception_centre: ReceptionCentre
    period_months: int
    due_on: date
    assigned_to: str | None
    unreachable_visits: int
    """Visits made without reaching the returnee so far."""


class FollowUpPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.follow_up_page))

    items: list[DueFollowUp]
    next_cursor: str | None


class CaseWorkerLoad(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.case_worker_load))

    subject: str
    centres: list[ReceptionCentre]
    """Where they work, as their latest token said; empty when not on the roster (cases
    assigned before they left, say)."""
    last_seen: datetime | None
    open_cases: int
    follow_ups_overdue: int
    """Visits of their open cases due before today and not completed."""
    follow_ups_due: int
    """Visits of their open cases due from today to the window's end, not completed."""


class CaseWorkerList(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.case_worker_list))

    items: list[CaseWorkerLoad]
    unassigned_open_cases: int
    due_until: date
    """The end of the window ``follow_ups_due`` counts (excluded)."""


class AskedWhen(BaseModel):
    """The question is asked only after one of ``answers`` to ``question``."""

    question: str
    answers: list[str]


class SurveyQuestion(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.survey_question))

    code: str
    dimension: Dimension
    text: str
    choices: dict[str, float]
    """Each answer code and its value, 0 (worst) to 1 (best)."""
    dimension_weight: float
    composite_weight: float
    asked_when: AskedWhen | SkipJsonSchema[None] = None
    """Left out when the question is always asked."""
    note: str | SkipJsonSchema[None] = None
    """Where retour departs from its source, or how the question counts; left out when none."""


class SurveyConstruct(BaseModel):
    """An item computed from questions (``of``) rather than asked."""

    code: str
    dimension: Dimension
    text: str
    of: list[str]
    dimension_weight: float
    composite_weight: float
    note: str | SkipJsonSchema[None] = None
    """Left out when none."""


class SustainabilitySurvey(BaseModel):
    """The Reintegration Sustainability Survey: its questions (codes), the answer codes of
    each with their values, and the weights of the scoring method (``method``)."""

    model_config = ConfigDict(json_schema_extra=examples(ex.sustainability_survey))

    method: str
    questions: list[SurveyQuestion]
    constructs: list[SurveyConstruct]
