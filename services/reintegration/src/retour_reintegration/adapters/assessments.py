"""Assessments and the vulnerabilities they found, on the service's Postgres schema."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from retour_contracts import SustainabilityScores, Vulnerability
from retour_kit.db import Connection
from retour_reintegration.domain.assessments import Assessment


class PgAssessments:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, assessment: Assessment) -> None:
        await self._conn.execute(
            "INSERT INTO assessments (assessment_id, returnee_id, kind, assessed_on, document,"
            " economic, social, psychosocial, composite, method, recorded_at, recorded_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            assessment.assessment_id,
            assessment.returnee_id,
            assessment.kind,
            assessment.assessed_on,
            dict(assessment.document),
            *score_columns(assessment.scores),
            assessment.method,
            assessment.recorded_at,
            assessment.recorded_by,
        )

    async def vulnerabilities_found(self, returnee_id: UUID) -> list[Vulnerability]:
        rows = await self._conn.fetch(
            "SELECT vulnerability FROM case_vulnerabilities WHERE returnee_id = $1", returnee_id
        )
        return [Vulnerability(row["vulnerability"]) for row in rows]

    async def add_vulnerabilities(
        self, assessment: Assessment, vulnerabilities: Sequence[Vulnerability]
    ) -> None:
        await self._conn.executemany(
            "INSERT INTO case_vulnerabilities (returnee_id, vulnerability, assessment_id,"
            " found_on, found_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            [
                (
                    assessment.returnee_id,
                    vulnerability,
                    assessment.assessment_id,
                    assessment.assessed_on,
                    assessment.recorded_by,
                )
                for vulnerability in vulnerabilities
            ],
        )


def score_columns(scores: SustainabilityScores | None) -> tuple[float | None, ...]:
    """Economic, social, psychosocial and composite, as an assessment's or a visit's columns."""
    if scores is None:
        return (None, None, None, None)
    return (scores.economic, scores.social, scores.psychosocial, scores.composite)
