"""RFC 9457 problem details: the body of every error a service answers.

Every error is ``application/problem+json``::

    {"type": "/problems/possible_duplicate", "title": "Possible duplicate", "status": 409,
     "detail": "...", "error": "possible_duplicate", ...}

- ``type`` identifies the kind of problem, and is what a client branches on. It is a path on
  the service itself, which serves the type's description there (``/problems/<code>``), so the
  documentation a client follows is the one of the version it talks to, with or without a
  network to the outside (RFC 9457 allows a relative reference; it resolves against the
  request's URI).
- ``title`` is the same for every occurrence of a type; ``detail`` says what is wrong with this
  request. Neither ever repeats the request's input: it may carry personal data.
- ``error`` repeats the type's code: clients branched on it before the bodies were problem
  details, and still can.
- Extension members carry what the client needs to act: ``errors`` (the fields at fault, for
  a ``validation_error``), ``matches`` (the registrations a new one may duplicate), the ids or
  amounts a business rule involves.
"""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

_log = structlog.stdlib.get_logger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPES_PATH = "/problems"

# The members RFC 9457 defines (and ``error``, which repeats the type's code): an extension
# member may never replace one of them.
_STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "error"})

_CODES_OF_STATUSES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    499: "client_closed_request",  # nginx's code: nobody reads it, the logs and metrics do
    500: "internal_error",
    503: "service_unavailable",
}


def code_of_status(status: int) -> str:
    """The code of a problem that says no more than its HTTP status."""
    if status in _CODES_OF_STATUSES:
        return _CODES_OF_STATUSES[status]
    return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")


def type_of(code: str) -> str:
    return f"{TYPES_PATH}/{code}"


def title_of(code: str) -> str:
    """``possible_duplicate`` -> "Possible duplicate": the same for every occurrence."""
    return code.replace("_", " ").capitalize()


def problem(
    status: int, detail: str, code: str | None = None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The problem details of one error, as a JSON object."""
    code = code or code_of_status(status)
    extra = dict(extra or {})
    shadowing = sorted(_STANDARD_MEMBERS.intersection(extra))
    if shadowing:
        # A programming error: context named like a standard member would change what every
        # client reads. Raising would turn the client's 4xx into a 500, so the standard
        # members win and the error log names the culprit (names only: values may be personal).
        _log.error("problem extension members dropped", code=code, members=shadowing)
        for name in shadowing:
            del extra[name]
    return {
        "type": type_of(code),
        "title": title_of(code),
        "status": status,
        "detail": detail,
        "error": code,
        **extra,
    }


class ProblemResponse(JSONResponse):
    media_type = MEDIA_TYPE


def problem_response(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    return ProblemResponse(problem(status, detail, code, extra), status, headers=headers)


def stored_answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An answer given back as it was stored (an Idempotency-Key's replay): problem details
    when it is an error, such as the one stored in place of an erased person's answer."""
    answer = ProblemResponse if status >= 400 else JSONResponse
    return answer(body, status_code=status, headers=headers)


class FieldProblem(BaseModel):
    field: str = Field(description="Where: `body.personal.phone`, `query.limit`, `header.If-Match`")
    message: str
    type: str = Field(description="What kind of fault: `missing`, `value_error`, ...")


class Problem(BaseModel):
    """RFC 9457 problem details. Each type may add members of its own (extensions): the ids
    or amounts a business rule involves, the field at fault."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/not_found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "no case for returnee 3f1c2a9e-5b7d-4e0a-9c8b-2d6f4a1e7b35",
                    "error": "not_found",
                }
            ]
        },
    )

    type: str = Field(description="The kind of problem: a path on this service documenting it")
    title: str = Field(description="The type's summary, the same for every occurrence")
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="What is wrong with this request, in words")
    error: str = Field(description="The type's code (the last segment of `type`)")


class ValidationProblem(Problem):
    """A request that cannot be processed: fields that are wrong (``validation_error``, each
    named in ``errors`` with what is wrong with it), or a rule of the service it breaks."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/validation_error",
                    "title": "Validation error",
                    "status": 422,
                    "detail": "1 field is invalid: body.arrival_date",
                    "error": "validation_error",
                    "errors": [
                        {
                            "field": "body.arrival_date",
                            "message": "Input should be a valid date",
                            "type": "date_from_datetime_parsing",
                        }
                    ],
                }
            ]
        }
    )

    errors: list[FieldProblem] = Field(
        default_factory=list, description="The fields at fault, for a `validation_error`"
    )


def fields_detail(fields: list[str]) -> str:
    """The ``detail`` of a validation problem: which fields, never their values."""
    # A field wrong in two ways (too long and badly formed) is one invalid field, named once.
    named = list(dict.fromkeys(fields))
    count = len(named)
    return f"{count} field{'s are' if count != 1 else ' is'} invalid: {', '.join(named)}"
