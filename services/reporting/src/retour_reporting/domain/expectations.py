"""What reporting keeps of an expected arrival: the person announced by a manifest
(``returnee.expected``), and the closure of one who never registered
(``expected_arrival.closed``). Whether they arrived is read from the registration that names
them (``returnee.registered``'s ``expected_id``, kept on the registration row).

Only what a report shows or may disaggregate by: the wave, the centre and day announced, the
host country, sex, age group and vulnerabilities. The sealed personal block is never opened
(reporting has no data key), the exact age becomes its age group as a registration's does, and
who announced or closed is left out (no report names them).

The three topics are read in any order: a registration before the expectation it confirmed, a
closure before its announcement, any of them twice. So each row is a fact of its own, kept by
its ``expected_id`` (the first announcement wins; of two closures the earlier, below), and the
report settles each expectation's status when it is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from operator import attrgetter
from typing import NamedTuple
from uuid import UUID

from retour_contracts import ExpectedArrivalClosed, ReturneeExpected
from retour_reporting.domain.case_lifecycle import newest_by
from retour_reporting.domain.categories import age_group


class ExpectedRow(NamedTuple):
    expected_id: UUID
    wave_id: UUID
    wave_name: str
    wave_size: int
    reception_centre: str
    expected_date: date
    host_country: str | None
    announced_at: datetime
    sex: str | None
    age_group: str | None
    vulnerabilities: tuple[str, ...]


class ExpectationClosureRow(NamedTuple):
    expected_id: UUID
    wave_id: UUID
    reception_centre: str
    reason: str
    closed_at: datetime


def expected_row(event: ReturneeExpected) -> ExpectedRow:
    # Deliberately left out: ``sealed_personal`` (never opened), the exact age and
    # ``announced_by``.
    return ExpectedRow(
        event.expected_id,
        event.wave_id,
        event.wave_name,
        event.wave_size,
        event.reception_centre,
        event.expected_date,
        event.host_country,
        event.announced_at,
        event.sex,
        age_group(event.age_years) if event.age_years is not None else None,
        tuple(sorted(event.vulnerabilities)),
    )


def closure_row(event: ExpectedArrivalClosed) -> ExpectationClosureRow:
    # ``closed_by`` (a supervisor, or intake) is left out.
    return ExpectationClosureRow(
        event.expected_id, event.wave_id, event.reception_centre, event.reason, event.closed_at
    )


def closure_version(row: ExpectationClosureRow) -> tuple[datetime, str]:
    """Of two closures of one expectation (intake makes one), the greater version is kept: the
    later, then the reason last in byte order, so the choice never depends on the order they
    are read in. The projection store applies the same rule in SQL."""
    return row.closed_at, row.reason


def newest_closures(rows: Iterable[ExpectationClosureRow]) -> list[ExpectationClosureRow]:
    """The closure kept for each expectation among ``rows``."""
    return newest_by(rows, attrgetter("expected_id"), closure_version)
