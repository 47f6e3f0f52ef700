"""Query parameters of the report endpoints, turned into a ``ReportQuery``."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query

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
from retour_kit.http_errors import ApiError
from retour_reporting.domain.categories import AgeGroup
from retour_reporting.domain.queries import (
    ActivityFilters,
    AidFilters,
    InvalidPeriodError,
    Period,
    ReportQuery,
    ReturneeFilters,
)

CountryCode = Annotated[
    str | None, Query(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2, e.g. CI")
]


FirstDay = Annotated[date | None, Query(alias="from", description="First day, inclusive")]
LastDay = Annotated[date | None, Query(alias="to", description="Last day, inclusive")]


def period(first_day: FirstDay = None, last_day: LastDay = None) -> Period:
    try:
        return Period(first_day, last_day)
    except InvalidPeriodError as error:
        raise ApiError(422, "invalid_period", str(error)) from error


def returnee_filters(
    centre: ReceptionCentre | None = None,
    host_country: CountryCode = None,
    return_type: ReturnType | None = None,
    region: MaliRegion | None = None,
    sex: Sex | None = None,
    age_group: AgeGroup | None = None,
    vulnerability: Vulnerability | None = None,
) -> ReturneeFilters:
    return ReturneeFilters(
        reception_centre=centre,
        host_country=host_country.upper() if host_country else None,
        return_type=return_type,
        region_of_origin=region,
        sex=sex,
        age_group=age_group,
        vulnerability=vulnerability,
    )


PeriodParam = Annotated[Period, Depends(period)]
ReturneeParam = Annotated[ReturneeFilters, Depends(returnee_filters)]


def returnee_query(when: PeriodParam, who: ReturneeParam) -> ReportQuery:
    return ReportQuery(period=when, returnees=who)


def aid_query(
    when: PeriodParam,
    who: ReturneeParam,
    phase: AidPhase | None = None,
    category: AidCategory | None = None,
    dimension: Dimension | None = None,
    level: Level | None = None,
    modality: Modality | None = None,
) -> ReportQuery:
    aid = AidFilters(phase, category, dimension, level, modality)
    return ReportQuery(period=when, returnees=who, aid=aid)


def activity_query(
    when: PeriodParam, who: ReturneeParam, sector: Sector | None = None, level: Level | None = None
) -> ReportQuery:
    return ReportQuery(period=when, returnees=who, activities=ActivityFilters(sector, level))


def expected_query(when: PeriodParam, centre: ReceptionCentre | None = None) -> ReportQuery:
    """The expected-arrivals report's: the period bounds the expected date, and ``centre`` is
    the centre announced (the people are not registered yet: no other filter applies)."""
    return ReportQuery(period=when, returnees=ReturneeFilters(reception_centre=centre))
