"""Recording an assessment of a case: vulnerabilities found are added to the case's, and the
sustainability baseline's scores are published."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID, uuid4

from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.assessments import (
    Assessment,
    Skills,
    SustainabilityBaseline,
    VulnerabilityFamily,
    assess,
    newly_found,
)
from retour_reintegration.usecases.case_in_reach import lock_case_in_reach
from retour_reintegration.usecases.ports import AssessmentRepository, CaseRepository, EventOutbox


async def record_assessment(
    cases: CaseRepository,
    assessments: AssessmentRepository,
    outbox: EventOutbox,
    *,
    returnee_id: UUID,
    command: VulnerabilityFamily | Skills | SustainabilityBaseline,
    actor: Actor,
    now: datetime,
    new_id: Callable[[], UUID] = uuid4,
) -> Assessment:
    case = await lock_case_in_reach(cases, returnee_id, actor)
    assessment = assess(case, command, assessment_id=new_id(), at=now, by=actor.subject)
    await assessments.add(assessment)
    known = [*case.vulnerabilities, *await assessments.vulnerabilities_found(returnee_id)]
    found = newly_found(assessment, known)
    if found:
        await assessments.add_vulnerabilities(assessment, found)
    event = assessment.event()
    if event is not None:
        await outbox.emit(event)
    return assessment
