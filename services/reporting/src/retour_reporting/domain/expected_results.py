"""The expected-arrivals report: per wave and centre, the people a manifest announced, how
many of them arrived, are still awaited or were closed, and how soon those who arrived got
immediate care. Counts are exact; publishing decides what to hide (``disclosure``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from retour_reporting.domain.disclosure import is_small_cell
from retour_reporting.domain.outcomes import Share


@dataclass(frozen=True)
class ArrivalCounts:
    """An expectation is ``arrived`` once a registration confirmed it (whatever was read
    about it since), else closed (``lapsed`` or ``withdrawn``) once a closure was read, else
    ``awaited``. People who arrived are counted once each, however many entries of the
    manifest their registrations confirmed, and as the registration they count as after the
    merges; an entry is counted once."""

    expected: int
    """Entries of the manifest read so far (the manifest announced ``wave_size``)."""
    arrived: int
    arrived_elsewhere: int
    """Of ``arrived``: registered at another centre than the one announced."""
    awaited: int
    closed_lapsed: int
    closed_withdrawn: int
    cared: int
    """Of ``arrived``: those given immediate aid (at any time)."""
    cared_within_72h: int
    """Of ``arrived``: first immediate aid within 72 hours of the start (UTC) of their arrival
    day, as the KPIs count; never from when intake recorded them, which may be days later."""
    median_hours_to_care: float | None
    """Over ``cared``: hours from the start of the arrival day to the first immediate aid."""

    @property
    def within_72h(self) -> Share:
        return Share(self.cared_within_72h, self.arrived)

    @property
    def median_is_small(self) -> bool:
        return is_small_cell(self.cared)

    def people(self) -> list[tuple[str, int]]:
        """The counts of people, by name, in the order reports list them."""
        return [
            ("expected", self.expected),
            ("arrived", self.arrived),
            ("arrived_elsewhere", self.arrived_elsewhere),
            ("awaited", self.awaited),
            ("closed_lapsed", self.closed_lapsed),
            ("closed_withdrawn", self.closed_withdrawn),
        ]


@dataclass(frozen=True)
class WaveArrivals:
    wave_id: UUID
    wave_name: str
    wave_size: int
    """People on the manifest as announced."""
    reception_centre: str
    """The centre they were announced at."""
    expected_date: date
    host_country: str | None
    counts: ArrivalCounts


@dataclass(frozen=True)
class ExpectedArrivalsReport:
    total: ArrivalCounts
    waves: list[WaveArrivals]
