"""Report results, with every count of people exact; publishing decides what to hide."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from retour_reporting.domain.disclosure import is_small_cell


@dataclass(frozen=True)
class PeopleCell:
    value: str
    people: int

    @property
    def small(self) -> bool:
        return is_small_cell(self.people)


@dataclass(frozen=True)
class RegistrationReport:
    total: int
    breakdowns: dict[str, list[PeopleCell]]


@dataclass(frozen=True)
class MonthlyRegistrations:
    month: str  # YYYY-MM of the arrival date
    reception_centre: str
    people: int

    @property
    def small(self) -> bool:
        return is_small_cell(self.people)


@dataclass(frozen=True)
class AidCell:
    value: str
    aids: int
    people: int
    total_xof: Decimal
    other_currency_aids: int
    """Aid with an amount in another currency: not converted, so not in ``total_xof``."""

    @property
    def small(self) -> bool:
        return is_small_cell(self.people)


@dataclass(frozen=True)
class AidReport:
    total: AidCell
    breakdowns: dict[str, list[AidCell]]


@dataclass(frozen=True)
class ActivityCell:
    value: str
    activities: int
    participants: int
    funding_xof: Decimal

    @property
    def small(self) -> bool:
        return is_small_cell(self.participants)


@dataclass(frozen=True)
class ActivityReport:
    total: ActivityCell
    breakdowns: dict[str, list[ActivityCell]]
