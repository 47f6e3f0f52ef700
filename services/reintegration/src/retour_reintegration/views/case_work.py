"""The read side of case work (assignment, assessments, visits, reopenings): SQL and the
response models built from its rows, used by CaseViews (views/queries.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from retour_contracts import SustainabilityScores
from retour_kit.db import Connection
from retour_reintegration.views.models import (
    AssessmentSummary,
    AssessmentView,
    AssignmentView,
    FollowUpView,
    FoundVulnerability,
    ReopeningView,
    VisitSummary,
)

_ASSIGNMENTS = """
SELECT assigned_to, previous, assigned_by, assigned_at, reception_centre
FROM case_assignments WHERE returnee_id = $1 ORDER BY assignment_id
"""
_REOPENINGS = """
SELECT reason, reopened_at, reopened_by, closure_reason, closed_at, closed_by
FROM case_reopenings WHERE returnee_id = $1 ORDER BY reopened_at
"""
_FOUND = """
SELECT vulnerability, found_on, found_by, assessment_id
FROM case_vulnerabilities WHERE returnee_id = $1 ORDER BY found_on, vulnerability
"""
_ASSESSMENTS = """
SELECT assessment_id, kind, assessed_on, recorded_at, recorded_by, method, document,
       economic, social, psychosocial, composite
FROM assessments WHERE returnee_id = $1 ORDER BY recorded_at, assessment_id
"""
_FOLLOW_UPS = """
SELECT f.follow_up_id, f.period_months, f.due_on, f.completed_on,
       coalesce(jsonb_agg(jsonb_build_object(
           'assessment_id', v.assessment_id, 'outcome', v.outcome, 'visited_on', v.visited_on,
           'recorded_at', v.recorded_at, 'recorded_by', v.recorded_by, 'method', v.method,
           'economic', v.economic, 'social', v.social, 'psychosocial', v.psychosocial,
           'composite', v.composite) ORDER BY v.recorded_at)
         FILTER (WHERE v.assessment_id IS NOT NULL), '[]') AS visits
FROM follow_ups f LEFT JOIN follow_up_visits v USING (follow_up_id)
WHERE f.returnee_id = $1
GROUP BY f.follow_up_id
ORDER BY f.period_months
"""


async def assignments(conn: Connection, returnee_id: UUID) -> list[AssignmentView]:
    return [AssignmentView(**dict(row)) for row in await conn.fetch(_ASSIGNMENTS, returnee_id)]


async def reopenings(conn: Connection, returnee_id: UUID) -> list[ReopeningView]:
    return [ReopeningView(**dict(row)) for row in await conn.fetch(_REOPENINGS, returnee_id)]


async def found_vulnerabilities(conn: Connection, returnee_id: UUID) -> list[FoundVulnerability]:
    return [FoundVulnerability(**dict(row)) for row in await conn.fetch(_FOUND, returnee_id)]


async def assessments(conn: Connection, returnee_id: UUID) -> list[AssessmentView]:
    rows = await conn.fetch(_ASSESSMENTS, returnee_id)
    return [AssessmentView(**_without_scores(row), scores=scores_of(row)) for row in rows]


def summaries(views: Sequence[AssessmentView]) -> list[AssessmentSummary]:
    return [AssessmentSummary(**view.model_dump(exclude={"document"})) for view in views]


async def follow_ups(conn: Connection, returnee_id: UUID) -> list[FollowUpView]:
    found = []
    for row in await conn.fetch(_FOLLOW_UPS, returnee_id):
        values = dict(row)
        visits = [
            VisitSummary(**_without_scores(visit), scores=scores_of(visit))
            for visit in values.pop("visits")
        ]
        found.append(FollowUpView(**values, visits=visits))
    return found


_SCORES = ("economic", "social", "psychosocial", "composite")


def scores_of(row: Any) -> SustainabilityScores | None:
    """The scores of a row holding them (an assessment, a visit): None when it has none."""
    if row["composite"] is None:
        return None
    return SustainabilityScores(**{name: float(row[name]) for name in _SCORES})


def _without_scores(row: Any) -> dict[str, Any]:
    return {name: value for name, value in dict(row).items() if name not in _SCORES}
