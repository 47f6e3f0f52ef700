"""Reports as JSON: exact counts, with small cells flagged for the reader (``small_cell``).

Analysts see exact figures; whatever leaves the service as a file (CSV) or a screen others
photograph (the dashboard) hides the small cells instead.

Beside each function that builds a part of a body is the model of that part (``...Json``):
the OpenAPI document's description of it, and nothing else. Bodies are built as plain dicts
and never pass through a model, so a change to one must be made to the other.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from retour_contracts import (
    AidCategory,
    AidPhase,
    Dimension,
    Level,
    MaliRegion,
    Modality,
    ReceptionCentre,
    ReturnType,
    Sector,
    Sex,
    Vulnerability,
)
from retour_reporting.domain.categories import AgeGroup
from retour_reporting.domain.disclosure import SMALL_CELL_LIMIT, is_small_cell
from retour_reporting.domain.outcomes import HOURS_DECIMALS, CohortOutcomes, KpiReport, Share
from retour_reporting.domain.queries import ReportQuery
from retour_reporting.domain.results import (
    ActivityCell,
    ActivityReport,
    AidCell,
    AidReport,
    MonthlyRegistrations,
    PeopleCell,
    RegistrationReport,
)

JsonObject = dict[str, Any]


class JsonShape(BaseModel):
    # Class and attribute docstrings are the document's descriptions: written for clients.
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


Absent = SkipJsonSchema[None]
"""A key the body leaves out when it has no value (``X | Absent = None``): never null. (The
OpenAPI document drops the schemas' ``"default": null`` too.)"""
Count = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
XofAmount = Annotated[str, Field(pattern=r"^\d+(\.\d+)?$")]
Filters = TypeVar("Filters", bound=BaseModel)


def amount(value: Decimal) -> str:
    """Money as a decimal string, as the contracts carry it ("350000", "1500.5")."""
    return format(value.normalize(), "f") if value else "0"


class PeriodJson(JsonShape):
    """The period asked for: inclusive days, null where the request set no bound."""

    first_day: date | None = Field(alias="from")
    """The first day (`from`)."""
    last_day: date | None = Field(alias="to")
    """The last day (`to`)."""


class ReturneeFiltersJson(JsonShape):
    """The returnee filters the request set, each as its value (`centre` is
    `reception_centre`, `region` is `region_of_origin`); a filter not set is left out."""

    reception_centre: ReceptionCentre | Absent = None
    host_country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | Absent = None
    return_type: ReturnType | Absent = None
    region_of_origin: MaliRegion | Absent = None
    sex: Sex | Absent = None
    age_group: AgeGroup | Absent = None
    vulnerability: Vulnerability | Absent = None


class AidFiltersJson(ReturneeFiltersJson):
    """The returnee and aid filters the request set; a filter not set is left out."""

    phase: AidPhase | Absent = None
    category: AidCategory | Absent = None
    dimension: Dimension | Absent = None
    level: Level | Absent = None
    modality: Modality | Absent = None


class ActivityFiltersJson(ReturneeFiltersJson):
    """The returnee and activity filters the request set; a filter not set is left out."""

    sector: Sector | Absent = None
    level: Level | Absent = None


class ReportJson(JsonShape, Generic[Filters]):
    report: str
    """The report's name, as in its path."""
    period: PeriodJson
    filters: Filters
    small_cell_limit: int
    """A cell of at least one and fewer than this many people is small (`small_cell`): exact
    here, suppressed in the CSV export and on the dashboard."""


def envelope(name: str, query: ReportQuery, body: JsonObject) -> JsonObject:
    return {
        "report": name,
        "period": {"from": query.period.first_day, "to": query.period.last_day},
        "filters": _filters(query),
        "small_cell_limit": SMALL_CELL_LIMIT,
        **body,
    }


def _filters(query: ReportQuery) -> JsonObject:
    chosen: JsonObject = {}
    for group in (query.returnees, query.aid, query.activities):
        for field in fields(group):
            value = getattr(group, field.name)
            if value is not None:
                chosen[field.name] = value.value if isinstance(value, Enum) else value
    return chosen


class PeopleCellJson(JsonShape):
    value: str
    people: Count
    small_cell: bool


def people_cell(cell: PeopleCell) -> JsonObject:
    return {"value": cell.value, "people": cell.people, "small_cell": cell.small}


class TotalPeopleJson(JsonShape):
    people: Count


class RegistrationBreakdownsJson(JsonShape):
    """People by each disaggregation, in cells ordered by value; empty when nobody arrived.
    Under `vulnerability`, people with none count as `none` and a person with two counts
    under both, so that breakdown does not add up to the total."""

    age_group: list[PeopleCellJson] | Absent = None
    host_country: list[PeopleCellJson] | Absent = None
    reception_centre: list[PeopleCellJson] | Absent = None
    region_of_origin: list[PeopleCellJson] | Absent = None
    return_type: list[PeopleCellJson] | Absent = None
    sex: list[PeopleCellJson] | Absent = None
    vulnerability: list[PeopleCellJson] | Absent = None


class RegistrationsJson(ReportJson[ReturneeFiltersJson]):
    """Returnees who arrived in the period, by each disaggregation."""

    report: Literal["registrations"]
    total: TotalPeopleJson
    breakdowns: RegistrationBreakdownsJson


def registrations(report: RegistrationReport) -> JsonObject:
    return {
        "total": {"people": report.total},
        "breakdowns": {
            name: [people_cell(cell) for cell in cells] for name, cells in report.breakdowns.items()
        },
    }


class MonthlyRowJson(JsonShape):
    month: Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")]
    """The month of arrival, YYYY-MM."""
    reception_centre: str
    people: Count
    small_cell: bool


class MonthlyRegistrationsJson(ReportJson[ReturneeFiltersJson]):
    """Returnees by month of arrival and reception centre."""

    report: Literal["registrations-monthly"]
    rows: list[MonthlyRowJson]
    """By month, then centre; a month and centre with no arrival has no row."""


def monthly(rows: list[MonthlyRegistrations]) -> JsonObject:
    return {"rows": [{**asdict(row), "small_cell": row.small} for row in rows]}


class AidCellJson(JsonShape):
    value: str
    aids: Count
    people: Count
    """People aided, each counted once."""
    total_xof: XofAmount
    """The amounts granted in CFA francs (XOF), as a decimal string."""
    other_currency_aids: Count
    """Aid granted in another currency: not converted, so not in `total_xof`."""
    small_cell: bool
    """Whether `people` is small."""


def aid_cell(cell: AidCell) -> JsonObject:
    return {**asdict(cell), "total_xof": amount(cell.total_xof), "small_cell": cell.small}


class AidBreakdownsJson(JsonShape):
    """Aid by each dimension, in cells ordered by value; empty when no aid was granted."""

    category: list[AidCellJson] | Absent = None
    dimension: list[AidCellJson] | Absent = None
    level: list[AidCellJson] | Absent = None
    modality: list[AidCellJson] | Absent = None
    phase: list[AidCellJson] | Absent = None


class AidJson(ReportJson[AidFiltersJson]):
    """Aid granted in the period: counts, people and XOF totals by each dimension."""

    report: Literal["aid"]
    total: AidCellJson
    """All the aid (`value` is `all`)."""
    breakdowns: AidBreakdownsJson


def aid(report: AidReport) -> JsonObject:
    return {
        "total": aid_cell(report.total),
        "breakdowns": {
            name: [aid_cell(cell) for cell in cells] for name, cells in report.breakdowns.items()
        },
    }


class ActivityCellJson(JsonShape):
    value: str
    activities: Count
    participants: Count
    """Participants, each counted once."""
    funding_xof: XofAmount
    """The activities' funding in CFA francs (XOF), as a decimal string."""
    small_cell: bool
    """Whether `participants` is small."""


def activity_cell(cell: ActivityCell) -> JsonObject:
    return {**asdict(cell), "funding_xof": amount(cell.funding_xof), "small_cell": cell.small}


class ActivityBreakdownsJson(JsonShape):
    """Activities by sector and by level, in cells ordered by value; empty when none was
    launched."""

    level: list[ActivityCellJson] | Absent = None
    sector: list[ActivityCellJson] | Absent = None


class ActivitiesJson(ReportJson[ActivityFiltersJson]):
    """Income-generating activities launched in the period, by sector and level."""

    report: Literal["activities"]
    total: ActivityCellJson
    """All the activities (`value` is `all`)."""
    breakdowns: ActivityBreakdownsJson


def activities(report: ActivityReport) -> JsonObject:
    return {
        "total": activity_cell(report.total),
        "breakdowns": {
            name: [activity_cell(cell) for cell in cells]
            for name, cells in report.breakdowns.items()
        },
    }


class ShareJson(JsonShape):
    """`people` of `of`, and their share (null when `of` is 0)."""

    people: Count
    of: Count
    share: Fraction | None
    small_cell: bool
    """Whether `people` or `of` is small."""


def share(value: Share) -> JsonObject:
    return {"people": value.people, "of": value.of, "share": value.value, "small_cell": value.small}


class PeopleCountJson(JsonShape):
    people: Count
    small_cell: bool


class MedianHoursJson(JsonShape):
    hours: float | None
    """The median, over `people`; null when there is none."""
    people: Count
    small_cell: bool
    """Whether `people` is small."""


class FunnelStageJson(JsonShape):
    stage: Literal["registered", "aided", "activity_launched"]
    people: Count
    small_cell: bool


class CohortOutcomesJson(JsonShape):
    cohort: PeopleCountJson
    immediate_assistance_within_72h: ShareJson
    """Of the cohort: immediate aid within 72 hours of the start (UTC) of the arrival day."""
    median_hours_to_first_aid: MedianHoursJson
    """Over those aided: hours from the start of the arrival day to the first aid."""
    reintegration_aid: ShareJson
    """Of the cohort: given reintegration aid."""
    launched_activity: ShareJson
    """Of the cohort: in a launched activity."""
    funnel: list[FunnelStageJson]
    """Registered, then aided, then aided and in a launched activity: each stage a subset of
    the one before."""


def outcomes(group: CohortOutcomes) -> JsonObject:
    median = group.median_hours_to_first_aid
    return {
        "cohort": {"people": group.cohort, "small_cell": is_small_cell(group.cohort)},
        "immediate_assistance_within_72h": share(group.immediate_assistance_72h),
        "median_hours_to_first_aid": {
            "hours": None if median is None else round(median, HOURS_DECIMALS),
            "people": group.aided,
            "small_cell": group.median_is_small,
        },
        "reintegration_aid": share(group.reintegration_aid),
        "launched_activity": share(group.launched_activity),
        "funnel": [
            {"stage": stage, "people": people, "small_cell": is_small_cell(people)}
            for stage, people in group.funnel()
        ],
    }


class CentreOutcomesJson(CohortOutcomesJson):
    value: str
    """The reception centre."""


class KpisJson(CohortOutcomesJson, ReportJson[ReturneeFiltersJson]):
    """Outcomes of the returnees who arrived in the period (the cohort), overall and by
    centre."""

    report: Literal["kpis"]
    by_centre: list[CentreOutcomesJson]
    """Ordered by centre; a centre with no one in the cohort is left out."""


def kpis(report: KpiReport) -> JsonObject:
    return {
        **outcomes(report.overall),
        "by_centre": [
            {"value": centre, **outcomes(group)} for centre, group in report.by_centre.items()
        ],
    }
