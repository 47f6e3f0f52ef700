"""Business-rule violations as JSON answers: 404 unknown case, 409 closed case (or merged into
the person's case), 422 the rest."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from retour_reintegration.domain.errors import (
    CaseClosed,
    CaseMerged,
    CaseNotFound,
    RuleViolation,
)
from retour_reintegration.views.models import ErrorBody

REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No case for a returnee (case_not_found)."},
    409: {
        "model": ErrorBody,
        "description": "A case is closed (case_closed), or closed as a duplicate registration"
        " merged into the person's case, which `merged_into` names (case_merged), or the"
        " Idempotency-Key was used for another request (idempotency_key_reused).",
    },
    422: {"model": ErrorBody, "description": "A business rule or a field is violated."},
}
"""The refusals of a write, for the OpenAPI document."""


def status_of(violation: RuleViolation) -> int:
    if isinstance(violation, CaseNotFound):
        return 404
    if isinstance(violation, CaseClosed | CaseMerged):
        return 409
    return 422


async def _answer(_: Request, violation: Exception) -> JSONResponse:
    assert isinstance(violation, RuleViolation)
    # Same shape as the kit's errors: {"error", "detail"}, plus the ids or amounts involved.
    body = {"error": violation.rule, "detail": violation.detail, **violation.context}
    return JSONResponse(body, status_code=status_of(violation))


def install_rule_violation_handler(app: FastAPI) -> None:
    app.add_exception_handler(RuleViolation, _answer)
