"""HTTP routes of expected arrivals: manifests in, expected people out, matches, withdrawal."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from retour_contracts import ReceptionCentre
from retour_intake.adapters.metrics import IntakeMetrics
from retour_intake.adapters.pg_expected import ListCursor, PgExpected
from retour_intake.domain.expected import (
    ExpectedPersonEntry,
    Manifest,
    MatchQuery,
    WithdrawExpected,
    person_problems,
)
from retour_intake.domain.manifest_csv import CsvProblem, parse_people
from retour_intake.entrypoints.response_models.expected import (
    ExpectedArrivalPage,
    ExpectedMatches,
    ExpectedWithdrawn,
    ManifestReceived,
    WaveList,
)
from retour_intake.expected_arrivals import (
    ExpectedNotFound,
    ExpectedNotOpen,
    Reader,
    find_matches,
    receive_manifest,
    withdraw,
)
from retour_kit.auth import Principal, Role, require_roles
from retour_kit.http_errors import ApiError, invalid_fields, outside_centres
from retour_kit.http_limits import BodyRule, media_type
from retour_kit.idempotency import REPLAYED_HEADER, RequiredIdempotencyKey, respond_once
from retour_kit.tracing import TraceParentHeader, continued_trace
from retour_kit.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)

# A supervisor announces a wave to their own centres; a partner system (the host-country
# mission's, an embassy's) to the centres its token names.
Announcer = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.PARTNER))]
Registrars = Annotated[Principal, Depends(require_roles(Role.REGISTRAR, Role.SUPERVISOR))]
Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))]
Counting = Annotated[
    Principal,
    Depends(require_roles(Role.REGISTRAR, Role.SUPERVISOR, Role.PARTNER, Role.ANALYST, Role.ADMIN)),
]

MANIFEST_PATH = "/expected-arrivals"
CSV = "text/csv"
JSON = "application/json"
MAX_PROBLEMS_LISTED = 100
LIST_ROUTE = "GET /expected-arrivals"
PERSON_COLUMNS = frozenset(ExpectedPersonEntry.model_fields)


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema with its ``$defs`` written in place: the route documents its body by
    hand (it reads it itself), where ``#/$defs/...`` would not resolve."""
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


_MANIFEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            JSON: {"schema": _inlined(Manifest.model_json_schema())},
            CSV: {
                "schema": {"type": "string"},
                "example": "family_name;given_name;date_of_birth;sex;vulnerabilities\n"
                'Traoré;Awa;1998-04-02;female;"pregnant_or_lactating;medical_need"\n',
            },
        },
        "description": "JSON, or CSV (a header row naming the person's fields; `,` or `;`"
        " between cells; vulnerabilities separated by `;` within their cell) with the wave's"
        " fields as query parameters.",
    },
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in ("wave_name", "reception_centre", "expected_date", "host_country")
    ],
}


def expected_arrival_routes(*, work: UnitOfWork[PgExpected], metrics: IntakeMetrics) -> APIRouter:
    router = APIRouter(tags=["expected arrivals"])

    @router.post(
        MANIFEST_PATH,
        status_code=201,
        openapi_extra=_MANIFEST_BODY,
        responses={
            201: {
                "model": ManifestReceived,
                "description": "Received: the wave's id and each person's expected_id",
            },
            413: {"description": "Larger than EXPECTED_ARRIVALS_MAX_BODY_BYTES"},
            415: {"description": "Neither application/json nor text/csv"},
            422: {
                "description": "Invalid field(s), each named (body.people[3].date_of_birth,"
                " body.rows[4].date_of_birth for CSV)"
            },
        },
    )
    async def announce(
        request: Request,
        announcer: Announcer,
        idempotency_key: RequiredIdempotencyKey,
        traceparent: TraceParentHeader = None,
    ) -> JSONResponse:
        """Receive a manifest: a wave and its people, all of them or none."""
        manifest, centre_field = read_manifest(
            await request.body(),
            media_type(request.headers.get("content-type", "")),
            request.query_params,
        )
        if not announcer.works_at(manifest.reception_centre):
            raise outside_centres(centre_field)
        trace = continued_trace(traceparent)

        async def perform(uow: PgExpected) -> tuple[int, Any]:
            answer = await receive_manifest(
                uow,
                manifest,
                announced_by=announcer.subject,
                traceparent=trace,
                now=datetime.now(UTC),
                new_id=uuid.uuid4,
            )
            return 201, answer

        async with work.transaction() as uow:
            response = await respond_once(
                uow,
                key=idempotency_key,
                subject=announcer.subject,
                method="POST",
                path=MANIFEST_PATH,
                body=manifest.model_dump(mode="json"),
                action=perform,
            )
        if REPLAYED_HEADER not in response.headers:
            centre = manifest.reception_centre.value
            metrics.manifests.labels(centre).inc()
            metrics.people_expected.labels(centre).inc(len(manifest.people))
            log.info("manifest received", centre=centre, people=len(manifest.people))
        return response

    @router.get(
        MANIFEST_PATH,
        # The dicts of these three routes are answered as built: the models only document them.
        response_model=None,
        responses={200: {"model": ExpectedArrivalPage, "description": "One page of people"}},
    )
    async def list_expected(
        reader: Registrars,
        centre: ReceptionCentre | None = None,
        wave_id: UUID | None = None,
        status: Literal["open", "arrived", "closed"] | None = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Expected people of your centres, by expected date, with their personal data while
        they have any (each showing is recorded in the access log)."""
        after = ListCursor.decode(cursor) if cursor else None
        async with work.transaction() as uow:
            items, next_cursor = await uow.page(
                centres=reader.listing(centre),
                wave_id=wave_id,
                status=status,
                after=after,
                limit=limit,
            )
            shown = [UUID(item["expected_id"]) for item in items if item["personal"]]
            await uow.record_shown(reader.subject, sorted(reader.roles), LIST_ROUTE, shown)
        return {"items": items, "next_cursor": next_cursor}

    @router.get(
        f"{MANIFEST_PATH}/waves",
        response_model=None,
        responses={200: {"model": WaveList, "description": "The waves and their counts"}},
    )
    async def list_waves(
        reader: Counting,
        centre: ReceptionCentre | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """The latest waves of your centres with their counts: expected, arrived, open,
        closed. No personal data."""
        async with work.reading() as uow:
            return {"items": await uow.waves(centres=reader.listing(centre), limit=limit)}

    @router.post(
        f"{MANIFEST_PATH}/matches",
        response_model=None,
        responses={200: {"model": ExpectedMatches, "description": "The possible matches"}},
    )
    async def matches(
        query: MatchQuery,
        reader: Registrars,
        idempotency_key: RequiredIdempotencyKey,
    ) -> dict[str, Any]:
        """The open expected people a person at the door may be, strongest first, so the
        registrar confirms one (``expected_id`` in POST /returnees) instead of typing again.
        A query sent as a POST: it requires an Idempotency-Key, stores nothing under it."""
        del idempotency_key  # nothing is written: a repeat is answered afresh
        async with work.transaction() as uow:
            items = await find_matches(
                uow, query, reader=reader_of(reader), today=datetime.now(UTC).date()
            )
        return {"items": items}

    @router.post(
        f"{MANIFEST_PATH}/{{expected_id}}/withdrawal",
        responses={
            200: {"model": ExpectedWithdrawn, "description": "Withdrawn (or withdrawn before)"},
            404: {"description": "No such expected person within your centres"},
            409: {
                "description": "Already arrived or closed (`not_open`, naming the person's"
                " `current_status`)"
            },
        },
    )
    async def withdrawal(
        expected_id: UUID,
        command: WithdrawExpected,
        supervisor: Supervisor,
        idempotency_key: RequiredIdempotencyKey,
    ) -> JSONResponse:
        """Withdraw an expected person (not on the flight, a manifest error): their personal
        data and data key are destroyed, ``expected_arrival.closed`` is published."""

        async def perform(uow: PgExpected) -> tuple[int, Any]:
            try:
                event = await withdraw(
                    uow,
                    expected_id,
                    reason=command.reason,
                    supervisor=reader_of(supervisor),
                    now=datetime.now(UTC),
                )
            except ExpectedNotFound:
                raise ApiError(404, "not_found", f"no expected person {expected_id}") from None
            except ExpectedNotOpen as not_open:
                raise ApiError(
                    409,
                    "not_open",
                    f"the expected person is {not_open.status}: only an open one is withdrawn",
                    # `status` is the HTTP status in problem details: the person's is current.
                    extra={"current_status": not_open.status},
                ) from None
            metrics.expected_closed.labels(event.reception_centre.value).inc()
            return 200, {
                "expected_id": str(expected_id),
                "status": "closed",
                "reason": event.reason.value,
                "closed_at": event.closed_at.isoformat(),
            }

        async with work.transaction() as uow:
            return await respond_once(
                uow,
                key=idempotency_key,
                subject=supervisor.subject,
                method="POST",
                path=f"{MANIFEST_PATH}/{expected_id}/withdrawal",
                body=command.model_dump(mode="json"),
                action=perform,
            )

    return router


def reader_of(principal: Principal) -> Reader:
    return Reader(principal.subject, sorted(principal.roles), principal.centre_filter)


def manifest_body_rule(max_bytes: int) -> dict[tuple[str, str], BodyRule]:
    """The kit's guards let a manifest be CSV, and larger than any other body of intake (5,000
    people make about 1.5 MB): EXPECTED_ARRIVALS_MAX_BODY_BYTES."""
    return {("POST", MANIFEST_PATH): BodyRule(frozenset({JSON, CSV}), max_bytes=max_bytes)}


def read_manifest(body: bytes, declared: str, query: Mapping[str, str]) -> tuple[Manifest, str]:
    """The manifest of a JSON or CSV body, and the name of its centre's field; a 4xx naming
    every invalid field otherwise (never a value)."""
    if declared == CSV:
        return _csv_manifest(body, query), "query.reception_centre"
    if declared != JSON:  # the kit's guard refused other types, but not an empty body
        raise ApiError(415, "unsupported_media_type", f"a manifest is sent as {JSON} or {CSV}")
    try:
        manifest = Manifest.model_validate_json(body)
    except ValidationError as invalid:
        if any(problem["type"] == "json_invalid" for problem in invalid.errors()):
            raise ApiError(400, "malformed_json", "request body is not valid JSON") from None
        raise _invalid(_locations(invalid), _json_field) from None
    _check_people(manifest, _json_field)
    return manifest, "body.reception_centre"


def _csv_manifest(body: bytes, query: Mapping[str, str]) -> Manifest:
    try:
        people = parse_people(body, columns=PERSON_COLUMNS)
    except CsvProblem as problem:
        raise invalid_fields((f"body.{problem.field}", problem.message)) from None
    try:
        manifest = Manifest.model_validate({**query, "people": people})
    except ValidationError as invalid:
        raise _invalid(_locations(invalid), _csv_field) from None
    _check_people(manifest, _csv_field)
    return manifest


Location = tuple[str | int, ...]


def _locations(invalid: ValidationError) -> list[tuple[Location, str]]:
    # loc and msg only: pydantic's input and ctx would carry the person's data.
    return [(tuple(problem["loc"]), problem["msg"]) for problem in invalid.errors()]


def _check_people(manifest: Manifest, field: Any) -> None:
    problems = person_problems(manifest)
    if problems:
        raise _invalid(problems, field)


def _invalid(problems: Sequence[tuple[Location, str]], field: Any) -> ApiError:
    listed = [(field(location), message) for location, message in problems]
    if len(listed) > MAX_PROBLEMS_LISTED:
        more = len(listed) - MAX_PROBLEMS_LISTED
        listed = [*listed[:MAX_PROBLEMS_LISTED], ("body", f"and {more} more problems")]
    return invalid_fields(*listed)


def _json_field(location: Location) -> str:
    return "body" + _path(location)


def _csv_field(location: Location) -> str:
    """A CSV manifest's field: its wave's are query parameters, its people's are rows
    counted from 1 (the spreadsheet's data rows)."""
    if not location or location[0] != "people":
        return "query" + _path(location)
    if len(location) == 1:
        return "body.rows"
    row = location[1]
    number = row + 1 if isinstance(row, int) else row
    return f"body.rows[{number}]" + _path(location[2:])


def _path(location: Location) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)
