"""What reporting keeps of each event: categories and amounts, never who the person is.

Each row is keyed by the business id of its event (returnee, aid, activity), so writing the
same event twice, or in another order relative to other topics, leaves the same rows. Rows
are named tuples: a replay builds millions of them, and the writer turns a batch into
columns with one ``zip``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple
from uuid import UUID

from retour_contracts import ActivityLaunched, AidGranted, Event, Money, RegistrationFacts
from retour_reporting.domain.categories import age_group

# Enum members are stored as they are: each is a ``str`` whose value is the wire spelling.


class RegistrationRow(NamedTuple):
    returnee_id: UUID
    arrival_date: date
    reception_centre: str
    return_type: str
    host_country: str
    region_of_origin: str
    sex: str
    age_group: str
    vulnerabilities: tuple[str, ...]


class AidRow(NamedTuple):
    aid_id: UUID
    returnee_id: UUID
    granted_at: datetime
    phase: str
    category: str
    dimension: str
    level: str
    modality: str
    amount: Decimal | None
    currency: str | None


class ActivityRow(NamedTuple):
    activity_id: UUID
    launched_at: datetime
    sector: str
    level: str
    funding_amount: Decimal | None
    funding_currency: str | None


class ParticipantRow(NamedTuple):
    activity_id: UUID
    returnee_id: UUID


@dataclass
class ProjectionRows:
    registrations: list[RegistrationRow] = field(default_factory=list)
    aid: list[AidRow] = field(default_factory=list)
    activities: list[ActivityRow] = field(default_factory=list)
    participants: list[ParticipantRow] = field(default_factory=list)


def registration_row(event: RegistrationFacts) -> RegistrationRow:
    # Deliberately left out: `personal` (names, date of birth, phone, national id), the exact
    # age, household size, language, consents and registration details. None of them is a
    # published disaggregation, so none of them is kept.
    return RegistrationRow(
        event.returnee_id,
        event.arrival_date,
        event.reception_centre,
        event.return_type,
        event.host_country,
        event.region_of_origin,
        event.sex,
        age_group(event.age_years),
        tuple(sorted(event.vulnerabilities)),
    )


def aid_row(event: AidGranted) -> AidRow:
    amount, currency = _money(event.amount)
    return AidRow(
        event.aid_id,
        event.returnee_id,
        event.granted_at,
        event.phase,
        event.category,
        event.dimension,
        event.level,
        event.modality,
        amount,
        currency,
    )


def activity_rows(event: ActivityLaunched) -> tuple[ActivityRow, list[ParticipantRow]]:
    amount, currency = _money(event.funding)
    activity = ActivityRow(
        event.activity_id, event.launched_at, event.sector, event.level, amount, currency
    )
    participants = [ParticipantRow(event.activity_id, rid) for rid in event.returnee_ids]
    return activity, participants


def rows_for(events: Iterable[Event]) -> ProjectionRows:
    """Rows of ``events``, in order. A business id seen twice keeps its first event (as the
    table does across batches), so a batch and the same events split in two batches agree."""
    rows = ProjectionRows()
    seen: set[tuple[str, UUID]] = set()
    for event in events:
        key = _business_key(event)
        if key in seen:
            continue
        seen.add(key)
        if isinstance(event, RegistrationFacts):
            rows.registrations.append(registration_row(event))
        elif isinstance(event, AidGranted):
            rows.aid.append(aid_row(event))
        else:
            activity, participants = activity_rows(event)
            rows.activities.append(activity)
            rows.participants.extend(participants)
    return rows


def _business_key(event: Event) -> tuple[str, UUID]:
    # By kind, not by class: a registration is the same one in version 1 or 2.
    if isinstance(event, RegistrationFacts):
        return ("registration", event.returnee_id)
    if isinstance(event, AidGranted):
        return ("aid", event.aid_id)
    return ("activity", event.activity_id)


def _money(money: Money | None) -> tuple[Decimal | None, str | None]:
    return (money.amount, money.currency) if money is not None else (None, None)
