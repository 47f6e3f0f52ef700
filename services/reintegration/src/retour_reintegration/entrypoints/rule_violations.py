"""Business-rule violations as problem details: 404 unknown case (or visit), 409 a case closed (or
merged into the person's case, or open when reopened) or a visit completed, 403 not the
caller's role, 422 the rest."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from retour_kit.http_errors import error_response
from retour_reintegration.domain.errors import (
    Conflict,
    NotAllowed,
    NotFound,
    RuleViolation,
)

REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "The caller's role does not allow it; `field` names what (e.g."
        " assignment_not_allowed: a case worker assigns cases only to themselves).",
    },
    404: {
        "description": "No case for a returnee (case_not_found), or no such visit on the case"
        " (follow_up_not_found).",
    },
    409: {
        "description": "A case is closed (case_closed), or closed as a duplicate registration"
        " merged into the person's case, which `merged_into` names (case_merged), or open when"
        " asked to reopen (case_open); a visit is completed already (follow_up_completed).",
    },
    422: {"description": "A business rule or a field is violated."},
}
"""The refusals of a write, for the OpenAPI document."""


def status_of(violation: RuleViolation) -> int:
    if isinstance(violation, NotFound):
        return 404
    if isinstance(violation, Conflict):
        return 409
    if isinstance(violation, NotAllowed):
        return 403
    return 422


async def _answer(_: Request, violation: Exception) -> JSONResponse:
    assert isinstance(violation, RuleViolation)
    # A problem like the kit's, of the rule's type, with the ids or amounts involved.
    return error_response(
        status_of(violation), violation.detail, error=violation.rule, extra=violation.context
    )


def install_rule_violation_handler(app: FastAPI) -> None:
    app.add_exception_handler(RuleViolation, _answer)
