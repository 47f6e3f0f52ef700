"""HTTP routes of the reports: each report as JSON and as a CSV file, for analysts only."""

# No `from __future__ import annotations` here: FastAPI reads the routes' annotations at
# runtime, and they refer to an alias local to `_add_report`.
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from retour_kit.auth import Principal, Role, require_roles
from retour_kit.http_limits import unless_client_leaves
from retour_reporting.domain.queries import ReportQuery
from retour_reporting.entrypoints import (
    case_report_csv,
    case_report_json,
    expected_report_csv,
    expected_report_json,
    report_csv,
    report_examples,
    report_json,
)
from retour_reporting.entrypoints.report_admission import ReportAdmission
from retour_reporting.entrypoints.report_params import (
    activity_query,
    aid_query,
    expected_query,
    returnee_query,
)
from retour_reporting.entrypoints.shared_reports import SharedReports
from retour_reporting.usecases.ports import ReportSource

Analyst = Annotated[Principal, Depends(require_roles(Role.ANALYST))]
# Aggregates of vulnerable people's data: no shared cache, no browser cache, keeps them.
PRIVATE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class ReportDefinition:
    name: str
    summary: str
    parse_query: Callable[..., ReportQuery]
    fetch: Callable[[ReportSource, ReportQuery], Awaitable[Any]]
    as_json: Callable[[Any], report_json.JsonObject]
    as_table: Callable[[Any], report_csv.Table]
    json_model: type[BaseModel]
    """The JSON body's shape, for the OpenAPI document only (``as_json`` builds the body)."""
    example: Any
    """A result of ``fetch``, rendered by ``as_json`` and ``as_table`` as the examples."""


REPORTS = (
    ReportDefinition(
        "registrations",
        "Returnees who arrived in the period, by each disaggregation",
        returnee_query,
        lambda source, query: source.registrations(query),
        report_json.registrations,
        report_csv.registrations,
        report_json.RegistrationsJson,
        report_examples.REGISTRATIONS,
    ),
    ReportDefinition(
        "registrations-monthly",
        "Returnees by month of arrival and reception centre",
        returnee_query,
        lambda source, query: source.monthly_registrations(query),
        report_json.monthly,
        report_csv.monthly,
        report_json.MonthlyRegistrationsJson,
        report_examples.MONTHLY_REGISTRATIONS,
    ),
    ReportDefinition(
        "aid",
        "Aid granted in the period: counts, people and XOF totals by each dimension",
        aid_query,
        lambda source, query: source.aid(query),
        report_json.aid,
        report_csv.aid,
        report_json.AidJson,
        report_examples.AID,
    ),
    ReportDefinition(
        "activities",
        "Income-generating activities launched in the period, by sector and level",
        activity_query,
        lambda source, query: source.activities(query),
        report_json.activities,
        report_csv.activities,
        report_json.ActivitiesJson,
        report_examples.ACTIVITIES,
    ),
    ReportDefinition(
        "kpis",
        "Outcomes of the returnees who arrived in the period, overall and by centre",
        returnee_query,
        lambda source, query: source.kpis(query),
        report_json.kpis,
        report_csv.kpis,
        report_json.KpisJson,
        report_examples.KPIS,
    ),
    ReportDefinition(
        "plans",
        "Returnees who arrived in the period: first plans agreed, and within a month of arrival",
        returnee_query,
        lambda source, query: source.plans(query),
        case_report_json.plans,
        case_report_csv.plans,
        case_report_json.PlansJson,
        report_examples.PLANS,
    ),
    ReportDefinition(
        "referrals",
        "Referrals sent in the period, by partner and current status",
        returnee_query,
        lambda source, query: source.referrals(query),
        case_report_json.referrals,
        case_report_csv.referrals,
        case_report_json.ReferralsJson,
        report_examples.REFERRALS,
    ),
    ReportDefinition(
        "follow-ups",
        "Monitoring visits due in the period, by period after arrival: completed, overdue",
        returnee_query,
        lambda source, query: source.follow_ups(query),
        case_report_json.follow_ups,
        case_report_csv.follow_ups,
        case_report_json.FollowUpsJson,
        report_examples.FOLLOW_UPS,
    ),
    ReportDefinition(
        "sustainability",
        "Reintegration sustainability scores of surveys taken in the period, by dimension",
        returnee_query,
        lambda source, query: source.sustainability(query),
        case_report_json.sustainability,
        case_report_csv.sustainability,
        case_report_json.SustainabilityJson,
        report_examples.SUSTAINABILITY,
    ),
    ReportDefinition(
        "closures",
        "Cases closed now whose closure is in the period, by reason, and reopenings",
        returnee_query,
        lambda source, query: source.closures(query),
        case_report_json.closures,
        case_report_csv.closures,
        case_report_json.ClosuresJson,
        report_examples.CLOSURES,
    ),
    ReportDefinition(
        "expected-arrivals",
        "Waves announced by a manifest, expected in the period: per wave and centre, expected"
        " against arrived, awaited and closed, and the time from arrival to immediate care",
        expected_query,
        lambda source, query: source.expected_arrivals(query),
        expected_report_json.expected_arrivals,
        expected_report_csv.expected_arrivals,
        expected_report_json.ExpectedArrivalsJson,
        report_examples.EXPECTED_ARRIVALS,
    ),
)


def report_routes(
    source: ReportSource, admission: ReportAdmission, shared: SharedReports | None = None
) -> APIRouter:
    router = APIRouter(prefix="/reports", tags=["reports"])
    shared = shared or SharedReports()
    for definition in REPORTS:
        _add_report(router, source, _Gate(admission, shared), definition)
    return router


@dataclass(frozen=True)
class _Gate:
    """What stands between a request and its query: identical requests made at the same time
    share one query, and each query waits for a running place (or is refused)."""

    admission: ReportAdmission
    shared: SharedReports


def _add_report(
    router: APIRouter, source: ReportSource, gate: _Gate, report: ReportDefinition
) -> None:
    Query = Annotated[ReportQuery, Depends(report.parse_query)]  # noqa: N806 - a type alias

    async def admitted_fetch(query: ReportQuery) -> Any:
        async with gate.admission.admitted():
            return await report.fetch(source, query)

    async def fetch(query: ReportQuery) -> Any:
        # The JSON and CSV forms of a report share its query too: they render the same result.
        return await gate.shared.prepare((report.name, query), lambda: admitted_fetch(query))

    async def as_json(_: Analyst, query: Query, request: Request) -> JSONResponse:
        # An analyst who closes the page must not leave a report query running (or waiting
        # for its turn) for nobody.
        result = await unless_client_leaves(request, fetch(query))
        body = report.as_json(result)
        document = report_json.envelope(report.name, query, body)
        return JSONResponse(jsonable_encoder(document), headers=PRIVATE)

    async def as_csv(_: Analyst, query: Query, request: Request) -> Response:
        table = report.as_table(await unless_client_leaves(request, fetch(query)))
        return Response(
            report_csv.render(table),
            media_type="text/csv; charset=utf-8",
            headers={**PRIVATE, "Content-Disposition": _attachment(report.name, query)},
        )

    router.add_api_route(
        f"/{report.name}",
        as_json,
        methods=["GET"],
        summary=report.summary,
        description=f"{report.summary}.\n\n{_FOR_ANALYSTS}",
        responses={200: _json_answer(report), 503: _BUSY},
    )
    router.add_api_route(
        f"/{report.name}.csv",
        as_csv,
        methods=["GET"],
        summary=f"{report.summary} (CSV, small cells suppressed)",
        description=f"{report.summary}, as a CSV file whose small cells are suppressed, to"
        f" share beyond the analysts.\n\n{_FOR_ANALYSTS}",
        response_class=Response,
        responses={200: _csv_answer(report), 503: _BUSY},
    )


_FOR_ANALYSTS = (
    "For analysts (role `analyst`). Aggregates of the reporting projection, which holds no"
    " personal data; answered with `Cache-Control: no-store`. Identical requests made at the"
    " same time share one query, and the JSON and CSV forms of a report share it too."
)
_BUSY = {
    "description": "Every place to run or wait for a report is taken (`reports_busy`): try"
    " again after Retry-After seconds."
}


def _json_answer(report: ReportDefinition) -> dict[str, Any]:
    body = report.as_json(report.example)
    example = report_json.envelope(report.name, report_examples.QUERY, body)
    return {
        "model": report.json_model,
        "description": "The report, with exact counts: small cells are flagged, not hidden.",
        "content": {"application/json": {"example": jsonable_encoder(example)}},
    }


def _csv_answer(report: ReportDefinition) -> dict[str, Any]:
    example = report_csv.render(report.as_table(report.example))
    return {
        "description": "The report as a CSV file (UTF-8), one row per cell: a small cell keeps"
        " its row, with its measures left empty and `suppressed` true.",
        "content": {"text/csv": {"schema": {"type": "string"}, "example": example}},
    }


def _attachment(name: str, query: ReportQuery) -> str:
    first = query.period.first_day or "start"
    last = query.period.last_day or "now"
    return f'attachment; filename="{name}_{first}_{last}.csv"'
