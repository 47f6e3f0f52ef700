"""Duplicate registration across reception centres: a strong match blocks, a weak one flags.

IOM Mali twice suspended return assistance to re-check eligibility; catching a second
registration of the same person at the door is cheaper than finding it in a payment list.

- strong: the same national ID (Mali's NINA: one person, one number); or the same full name
  (normalised, any word order) and the same date of birth, or the same phone, or birth years
  within two years when either age is only an estimate;
- weak: same full name with birth years within two years; or the same phone under another
  name; or the same family name and the same date of birth.
Two people with the same common name and known, different dates of birth do not match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from retour_intake.domain.names import full_name_key, normalise_name

BIRTH_YEAR_TOLERANCE = 2
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")
_DIGIT = re.compile(r"[0-9]")
MIN_NATIONAL_ID = 6


class MatchStrength(StrEnum):
    STRONG = "strong"
    WEAK = "weak"


class StoredRow(Protocol):
    """A database row, read by column name."""

    def __getitem__(self, column: str) -> Any: ...


@dataclass(frozen=True)
class PersonKeys:
    """What duplicate detection compares; derived from a registration, stored with it."""

    name_key: str
    family_key: str
    birth_date: date | None
    birth_year: int | None
    """From the date of birth, or arrival year minus the estimated age; a registration always
    has one, an expected person whose manifest gives no age may not."""
    phone: str | None
    national_id: str | None = None
    """As compared: letters and digits, upper case (the database's national_id_key())."""

    @classmethod
    def of(
        cls,
        *,
        given_name: str | None,
        family_name: str,
        birth_date: date | None,
        birth_year: int | None,
        phone: str | None,
        national_id: str | None = None,
    ) -> PersonKeys:
        return cls(
            name_key=full_name_key(given_name, family_name),
            family_key=normalise_name(family_name),
            birth_date=birth_date,
            birth_year=birth_year,
            phone=phone,
            national_id=national_id_key(national_id),
        )

    @classmethod
    def stored(cls, row: StoredRow) -> PersonKeys:
        """The keys as the tables keep them (returnees, expected_people: same column names)."""
        return cls(
            name_key=row["name_key"],
            family_key=row["family_key"],
            birth_date=row["birth_date"],
            birth_year=row["birth_year"],
            phone=row["phone"],
            national_id=row["national_id_key"],
        )


@dataclass(frozen=True)
class KnownPerson:
    returnee_id: UUID
    keys: PersonKeys


@dataclass(frozen=True)
class DuplicateAssessment:
    strong: tuple[UUID, ...] = ()
    weak: tuple[UUID, ...] = ()

    @property
    def all_matches(self) -> tuple[UUID, ...]:
        return self.strong + self.weak


def national_id_key(national_id: str | None) -> str | None:
    """The national ID as compared (the database's national_id_key() stores the same), or
    None for what cannot be one: "N/A", "0", "néant" are placeholders typed when there is no
    number, and must not make unrelated people strong duplicates."""
    if national_id is None:
        return None
    key = _NOT_ALPHANUMERIC.sub("", national_id).upper()
    return key if len(key) >= MIN_NATIONAL_ID and _DIGIT.search(key) else None


def match_strength(new: PersonKeys, known: PersonKeys) -> MatchStrength | None:
    if new.national_id is not None and new.national_id == known.national_id:
        return MatchStrength.STRONG
    same_name = new.name_key == known.name_key
    same_phone = new.phone is not None and new.phone == known.phone
    both_dated = new.birth_date is not None and known.birth_date is not None
    same_birth_date = both_dated and new.birth_date == known.birth_date
    close_birth_year = (
        new.birth_year is not None
        and known.birth_year is not None
        and abs(new.birth_year - known.birth_year) <= BIRTH_YEAR_TOLERANCE
    )
    if same_name and (same_birth_date or same_phone or (not both_dated and close_birth_year)):
        return MatchStrength.STRONG
    if (same_name and close_birth_year) or same_phone:
        return MatchStrength.WEAK
    if same_birth_date and new.family_key == known.family_key:
        return MatchStrength.WEAK
    return None


def assess_duplicates(new: PersonKeys, known: list[KnownPerson]) -> DuplicateAssessment:
    strong: list[UUID] = []
    weak: list[UUID] = []
    for person in known:
        strength = match_strength(new, person.keys)
        if strength is MatchStrength.STRONG:
            strong.append(person.returnee_id)
        elif strength is MatchStrength.WEAK:
            weak.append(person.returnee_id)
    return DuplicateAssessment(strong=tuple(strong), weak=tuple(weak))
