"""What reporting keeps of a correction or a transfer (``returnee.updated``): the new value of
each fact a report disaggregates by, and the version of the registration that change made.

Updates travel on their own topic, so one may be read before its registration, after a later
update of the same person, or twice. Reporting therefore keeps the newest change of each
person's field, whatever order the changes came in, and a registration always shows those
newest changes over its own values (the registration itself is version 1, so any change wins
over it): every order of the same events ends in the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import NamedTuple
from uuid import UUID

from retour_contracts import ReturneeUpdated
from retour_reporting.domain.categories import age_group


class FieldChange(NamedTuple):
    returnee_id: UUID
    field: str
    """The registration column it changes (``RegistrationRow``'s field names)."""
    version: int
    value: str
    """The value in text form, as stored: see ``date_of`` and ``vulnerabilities_of``."""


def field_changes(event: ReturneeUpdated) -> list[FieldChange]:
    """The changes of ``event`` that a report can see. Only ``facts`` are read:
    ``sealed_personal`` is never opened (reporting holds no personal data), and the facts no
    report uses (household size, language, whether an age is estimated) are left out, as they
    are from a registration. An age becomes its age group: reporting never keeps the age."""
    facts = event.facts
    values: dict[str, str | None] = {
        "arrival_date": _date(facts.arrival_date),
        "reception_centre": facts.reception_centre,
        "return_type": facts.return_type,
        "host_country": facts.host_country,
        "region_of_origin": facts.region_of_origin,
        "sex": facts.sex,
        "age_group": age_group(facts.age_years) if facts.age_years is not None else None,
        "vulnerabilities": _joined(facts.vulnerabilities),
    }
    return [
        FieldChange(event.returnee_id, name, event.version, value)
        for name, value in values.items()
        if value is not None
    ]


def newest(changes: Iterable[FieldChange]) -> list[FieldChange]:
    """The newest change of each person's field. A change whose version is not newer than one
    already kept for that field is ignored: it is older, or the same one delivered again."""
    kept: dict[tuple[UUID, str], FieldChange] = {}
    for change in changes:
        key = (change.returnee_id, change.field)
        held = kept.get(key)
        if held is None or change.version > held.version:
            kept[key] = change
    return list(kept.values())


def date_of(value: str) -> date:
    """The arrival date a stored change holds."""
    return date.fromisoformat(value)


def vulnerabilities_of(value: str) -> tuple[str, ...]:
    """The vulnerabilities a stored change holds; "" is "none any more": a correction may
    empty the list."""
    return tuple(value.split(",")) if value else ()


def _date(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _joined(vulnerabilities: Sequence[str] | None) -> str | None:
    # Vulnerability names are snake_case words, so a comma-joined string is unambiguous;
    # sorted as a registration's are, so the same set gives the same row.
    return ",".join(sorted(vulnerabilities)) if vulnerabilities is not None else None
