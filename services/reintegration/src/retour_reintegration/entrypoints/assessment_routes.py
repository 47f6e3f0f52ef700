"""HTTP routes of assessments, and the sustainability survey they and the visits use."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from retour_kit.tracing import trace_id
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.assessments import Assessment, RecordAssessment
from retour_reintegration.domain.errors import CaseNotFound
from retour_reintegration.domain.sustainability import questionnaire
from retour_reintegration.entrypoints.access import Reader
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.rule_violations import REFUSALS
from retour_reintegration.entrypoints.writes import CaseWrite
from retour_reintegration.usecases import record_assessment
from retour_reintegration.views.models import (
    AssessmentList,
    AssessmentView,
    SustainabilitySurvey,
)

log = structlog.stdlib.get_logger(__name__)


def assessment_router(context: ApiContext) -> APIRouter:
    router = APIRouter(tags=["case work"])
    work = context.work

    @router.post(
        "/cases/{returnee_id}/assessments",
        status_code=201,
        response_model=AssessmentView,
        responses=REFUSALS,
    )
    async def post_assessment(
        returnee_id: UUID, command: RecordAssessment, write: CaseWrite
    ) -> JSONResponse:
        """Records an assessment (``kind``): vulnerabilities and family situation, skills, or
        the sustainability baseline (scored, and published as reintegration.assessed).
        Vulnerabilities found are added to the case's."""

        async def record(adapters: CaseWork) -> tuple[int, Any]:
            assessment = await record_assessment(
                adapters.cases,
                adapters.assessments,
                adapters.events(traceparent=write.trace),
                returnee_id=returnee_id,
                command=command,
                actor=write.actor,
                now=write.now,
            )
            log.info(
                "case assessed",
                returnee_id=str(returnee_id),
                assessment_id=str(assessment.assessment_id),
                kind=assessment.kind,
                trace_id=trace_id(write.trace),
            )
            return 201, _view(assessment).model_dump(mode="json")

        return await write.once(work, command, record)

    @router.get(
        "/cases/{returnee_id}/assessments",
        response_model=AssessmentList,
        responses={404: REFUSALS[404]},
    )
    async def get_assessments(returnee_id: UUID, reader: Reader) -> AssessmentList:
        """The case's assessments, oldest first, with their documents (and baseline scores).

        Case workers, supervisors and admins; a case at a centre outside yours is
        `404 case_not_found`. Readable after the case is closed."""
        async with work.reading() as adapters:
            found = await adapters.views.assessments(returnee_id, centres=reader.centre_filter)
        if found is None:
            raise CaseNotFound([returnee_id])
        return AssessmentList(items=found)

    @router.get(
        "/sustainability-survey",
        # The body is the questionnaire as it is built; the model documents it.
        response_model=None,
        responses={200: {"model": SustainabilitySurvey}},
    )
    async def get_sustainability_survey(reader: Reader) -> dict[str, Any]:
        """The Reintegration Sustainability Survey: its questions (codes), the answer codes of
        each with their values, and the weights of the scoring method (``method``)."""
        return questionnaire()

    return router


def _view(assessment: Assessment) -> AssessmentView:
    return AssessmentView(
        assessment_id=assessment.assessment_id,
        kind=assessment.kind,
        assessed_on=assessment.assessed_on,
        recorded_at=assessment.recorded_at,
        recorded_by=assessment.recorded_by,
        scores=assessment.scores,
        method=assessment.method,
        document=dict(assessment.document),
    )
