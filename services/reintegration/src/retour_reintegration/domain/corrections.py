"""Corrections of a registration, and transfers to another reception centre, as a case sees them.

intake publishes ``returnee.updated`` when staff correct a registration or transfer the person.
A case keeps three of the registration's facts (centre, region of origin, arrival date); a
correction of any of them is kept here with its version, and the case's facts are always the
registration's overridden, field by field, by its corrections in version order. That makes the
result independent of the order the events were read in: ``returnee.updated`` and
``returnee.registered`` are different topics, so an update can come before its registration, a
later version before an earlier one, and the same one twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from retour_contracts import ChangeReason, MaliRegion, ReceptionCentre, ReturneeUpdated

REGISTRATION_VERSION = 1
"""The registration itself; every change adds one (``ReturneeUpdated.version``)."""


@dataclass(frozen=True)
class CaseFacts:
    """The registration's facts a case keeps: never personal data."""

    reception_centre: ReceptionCentre
    region_of_origin: MaliRegion
    arrival_date: date

    def corrected(self, corrections: Iterable[Correction]) -> CaseFacts:
        """These facts with ``corrections`` applied in version order: for each fact, the
        correction of the highest version that changed it wins, whatever order they came in."""
        facts = self
        for correction in sorted(corrections, key=lambda c: c.version):
            facts = replace(facts, **correction.changes)
        return facts


@dataclass(frozen=True)
class Correction:
    """What one ``returnee.updated`` changed of the facts a case keeps.

    Built from ``facts`` only: the sealed personal block is never opened here, and the other
    facts (sex, age, household...) are none of a case's business.
    """

    returnee_id: UUID
    version: int
    corrected_at: datetime
    corrected_by: str
    reason: ChangeReason
    reception_centre: ReceptionCentre | None = None
    region_of_origin: MaliRegion | None = None
    arrival_date: date | None = None

    def __post_init__(self) -> None:
        if self.version <= REGISTRATION_VERSION:
            raise ValueError("a correction's version comes after the registration's")
        if not self.changes:
            raise ValueError("a correction changes at least one fact of the case")

    @classmethod
    def of(cls, update: ReturneeUpdated) -> Correction | None:
        """The correction ``update`` makes to a case; None when it changed nothing a case
        keeps (a new phone number, a household size)."""
        facts = update.facts
        kept = (facts.reception_centre, facts.region_of_origin, facts.arrival_date)
        if all(value is None for value in kept):
            return None
        return cls(
            returnee_id=update.returnee_id,
            version=update.version,
            corrected_at=update.updated_at,
            corrected_by=update.updated_by,
            reason=update.reason,
            reception_centre=facts.reception_centre,
            region_of_origin=facts.region_of_origin,
            arrival_date=facts.arrival_date,
        )

    @property
    def changes(self) -> dict[str, Any]:
        """The facts this correction sets, by name (a None fact did not change)."""
        values = {
            "reception_centre": self.reception_centre,
            "region_of_origin": self.region_of_origin,
            "arrival_date": self.arrival_date,
        }
        return {name: value for name, value in values.items() if value is not None}

    @property
    def is_transfer(self) -> bool:
        return self.reception_centre is not None


@dataclass(frozen=True)
class Transfer:
    """The case moved from one reception centre to another with the person."""

    version: int
    transferred_at: datetime
    transferred_by: str
    reason: ChangeReason
    from_centre: ReceptionCentre
    to_centre: ReceptionCentre


def transfers(
    registered_centre: ReceptionCentre, corrections: Iterable[Correction]
) -> list[Transfer]:
    """The case's transfers in version order, each from the centre the one before it (or the
    registration) left the case at: the same history whatever order the events came in."""
    history: list[Transfer] = []
    centre = registered_centre
    for correction in sorted(corrections, key=lambda c: c.version):
        if correction.reception_centre is None:
            continue
        history.append(
            Transfer(
                version=correction.version,
                transferred_at=correction.corrected_at,
                transferred_by=correction.corrected_by,
                reason=correction.reason,
                from_centre=centre,
                to_centre=correction.reception_centre,
            )
        )
        centre = correction.reception_centre
    return history
