"""What a report is asked for: a period and optional filters.

Periods are inclusive calendar days in UTC, which is also Mali's civil time all year round.
Registrations and cohort indicators select returnees by arrival date; aid and activities by
the day they were granted or launched.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta

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


class InvalidPeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    first_day: date | None = None
    last_day: date | None = None

    def __post_init__(self) -> None:
        if self.first_day and self.last_day and self.first_day > self.last_day:
            raise InvalidPeriodError("the period ends before it starts")

    @property
    def starts_at(self) -> datetime | None:
        return _midnight(self.first_day) if self.first_day else None

    @property
    def ends_before(self) -> datetime | None:
        return _midnight(self.last_day + timedelta(days=1)) if self.last_day else None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class ReturneeFilters:
    """Who the report is about; aid and activities are then those of matching returnees."""

    reception_centre: ReceptionCentre | None = None
    host_country: str | None = None
    return_type: ReturnType | None = None
    region_of_origin: MaliRegion | None = None
    sex: Sex | None = None
    age_group: AgeGroup | None = None
    vulnerability: Vulnerability | None = None

    @property
    def is_set(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))


@dataclass(frozen=True)
class AidFilters:
    phase: AidPhase | None = None
    category: AidCategory | None = None
    dimension: Dimension | None = None
    level: Level | None = None
    modality: Modality | None = None


@dataclass(frozen=True)
class ActivityFilters:
    sector: Sector | None = None
    level: Level | None = None


@dataclass(frozen=True)
class ReportQuery:
    period: Period = field(default_factory=Period)
    returnees: ReturneeFilters = field(default_factory=ReturneeFilters)
    aid: AidFilters = field(default_factory=AidFilters)
    activities: ActivityFilters = field(default_factory=ActivityFilters)
