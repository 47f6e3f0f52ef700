"""Expected arrivals: a manifest's people, matched at the door, closed when they never come.

A manifest announces a wave (its name, centre and expected date) and whatever the sender knows
of each person. Each person is matched against registrations with duplicate detection's own
rule (``match_strength``): a strong match links the registration to them, a weak one is only
proposed to the registrar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from retour_contracts import (
    ExpectationClosure,
    ExpectedArrivalClosed,
    ExpectedPersonal,
    ReceptionCentre,
    ReturneeExpected,
    SealedPersonal,
    Sex,
    Vulnerability,
)
from retour_contracts.models.returnee_expected import MAX_WAVE_SIZE, DocumentNumber
from retour_contracts.models.returnee_registered import MAX_AGE_YEARS, Name, age_on
from retour_contracts.models.types import (
    CountryCode,
    PhoneNumber,
    RefusesControlCharacters,
    UniqueList,
)
from retour_intake.domain.duplicates import MatchStrength, PersonKeys, match_strength

Age = Annotated[int, Field(ge=0, le=MAX_AGE_YEARS)]
WaveName = Annotated[str, Field(min_length=1, max_length=120)]
MAX_PROPOSALS = 20


class ExpectedStatus:
    OPEN = "open"
    ARRIVED = "arrived"
    CLOSED = "closed"


class KnownIdentity(RefusesControlCharacters, BaseModel):
    """What identifies a person, as far as it is known: a manifest's line, or a person at the
    door. Only the family name is required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    given_name: Name | None = None
    family_name: Name
    date_of_birth: date | None = None
    age: Age | None = Field(default=None, description="Age in years, when no date of birth.")
    phone: PhoneNumber | None = None
    national_id: DocumentNumber | None = None

    @field_validator("age")
    @classmethod
    def _one_age_source(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("date_of_birth") is not None:
            raise ValueError("give date_of_birth or age, not both")
        return value

    def keys(self, on: date) -> PersonKeys:
        """The match keys, the age read as on ``on`` (the expected date, or today)."""
        born = self.date_of_birth
        if born is not None:
            birth_year: int | None = born.year
        else:
            birth_year = None if self.age is None else on.year - self.age
        return PersonKeys.of(
            given_name=self.given_name,
            family_name=self.family_name,
            birth_date=born,
            birth_year=birth_year,
            phone=self.phone,
            national_id=self.national_id,
        )


class ExpectedPersonEntry(KnownIdentity):
    """One person on a manifest."""

    other_names: Name | None = None
    sex: Sex | None = None
    passport_number: DocumentNumber | None = None
    vulnerabilities: UniqueList[Vulnerability] = Field(default_factory=list)

    def personal(self) -> ExpectedPersonal:
        return ExpectedPersonal(
            given_name=self.given_name,
            family_name=self.family_name,
            other_names=self.other_names,
            date_of_birth=self.date_of_birth,
            phone=self.phone,
            national_id=self.national_id,
            passport_number=self.passport_number,
        )

    def age_years(self, on: date) -> int | None:
        """Age on the expected date: from the date of birth, else the age the sender gave."""
        if self.date_of_birth is not None:
            return age_on(on, self.date_of_birth)
        return self.age


class WaveAnnouncement(RefusesControlCharacters, BaseModel):
    """The wave a manifest announces (the query parameters of a CSV manifest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wave_name: WaveName
    reception_centre: ReceptionCentre
    expected_date: date
    host_country: CountryCode | None = None


class Manifest(WaveAnnouncement):
    """A wave and its people; all of them are accepted, or none."""

    people: list[ExpectedPersonEntry] = Field(min_length=1, max_length=MAX_WAVE_SIZE)


def person_problems(manifest: Manifest) -> list[tuple[tuple[str | int, ...], str]]:
    """The rules that need the wave's expected date: (location, message) of each broken one."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for index, person in enumerate(manifest.people):
        born = person.date_of_birth
        if born is None:
            continue
        if born > manifest.expected_date:
            problems.append((("people", index, "date_of_birth"), "is after expected_date"))
        elif age_on(manifest.expected_date, born) > MAX_AGE_YEARS:
            problems.append(
                (
                    ("people", index, "date_of_birth"),
                    f"gives an age over {MAX_AGE_YEARS} at expected_date",
                )
            )
    return problems


class MatchQuery(KnownIdentity):
    """A person as typed at the door, to find whom a manifest announced."""

    reception_centre: ReceptionCentre | None = Field(
        default=None, description="Where the person is now: its expected people come first."
    )


class WithdrawExpected(RefusesControlCharacters, BaseModel):
    """A supervisor withdraws an expected person: not on the flight, or a manifest error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why; kept with the record, never logged nor published.",
    )


@dataclass(frozen=True)
class Wave:
    """A manifest's wave, as received."""

    wave_id: UUID
    wave_name: str
    reception_centre: ReceptionCentre
    expected_date: date
    host_country: str | None
    size: int
    announced_at: datetime
    announced_by: str

    @property
    def lapse_from(self) -> date:
        return lapse_from(self.expected_date, self.announced_at)


@dataclass(frozen=True)
class ExpectedPerson:
    """One person of a received wave, with the keys they will be matched by."""

    expected_id: UUID
    wave: Wave
    entry: ExpectedPersonEntry

    @property
    def keys(self) -> PersonKeys:
        return self.entry.keys(self.wave.expected_date)

    @property
    def age_years(self) -> int | None:
        return self.entry.age_years(self.wave.expected_date)

    def event(self, sealed: SealedPersonal) -> ReturneeExpected:
        """``returnee.expected``, the personal block sealed by the caller under the person's
        own key (``seal_expected``)."""
        return ReturneeExpected(
            expected_id=self.expected_id,
            wave_id=self.wave.wave_id,
            wave_name=self.wave.wave_name,
            wave_size=self.wave.size,
            reception_centre=self.wave.reception_centre,
            expected_date=self.wave.expected_date,
            host_country=self.wave.host_country,
            announced_at=self.wave.announced_at,
            announced_by=self.wave.announced_by,
            sex=self.entry.sex,
            age_years=self.age_years,
            vulnerabilities=self.entry.vulnerabilities,
            sealed_personal=sealed,
        )


def received(
    manifest: Manifest, *, wave_id: UUID, expected_ids: Sequence[UUID], at: datetime, by: str
) -> list[ExpectedPerson]:
    """The manifest's people as received ``at`` from ``by``, with the ids given them."""
    wave = Wave(
        wave_id=wave_id,
        wave_name=manifest.wave_name,
        reception_centre=manifest.reception_centre,
        expected_date=manifest.expected_date,
        host_country=manifest.host_country,
        size=len(manifest.people),
        announced_at=at,
        announced_by=by,
    )
    return [
        ExpectedPerson(expected_id, wave, entry)
        for expected_id, entry in zip(expected_ids, manifest.people, strict=True)
    ]


def closure(
    person: ClosingPerson, *, reason: ExpectationClosure, at: datetime, by: str
) -> ExpectedArrivalClosed:
    return ExpectedArrivalClosed(
        expected_id=person.expected_id,
        wave_id=person.wave_id,
        reception_centre=ReceptionCentre(person.reception_centre),
        reason=reason,
        closed_at=at,
        closed_by=by,
    )


@dataclass(frozen=True)
class ClosingPerson:
    """An expected person as closing sees them (locked)."""

    expected_id: UUID
    wave_id: UUID
    reception_centre: str
    status: str


LAPSED_BY = "intake"


@dataclass(frozen=True)
class OpenExpected:
    """An open expected person, as matching sees them."""

    expected_id: UUID
    reception_centre: str
    announced_at: datetime
    keys: PersonKeys


@dataclass(frozen=True)
class Proposal:
    expected_id: UUID
    strength: MatchStrength


def link_candidate(
    keys: PersonKeys, candidates: Sequence[OpenExpected], *, centre: str
) -> UUID | None:
    """The expected person a registration confirms without being told: a strong match,
    preferably announced to the registration's own centre, then the earliest announced."""
    strong = [c for c in candidates if match_strength(keys, c.keys) is MatchStrength.STRONG]
    if not strong:
        return None
    return min(strong, key=lambda c: _preference(c, centre)).expected_id


def proposals(
    keys: PersonKeys,
    candidates: Sequence[OpenExpected],
    *,
    centre: str | None,
    reader_centres: Sequence[str] | None,
) -> list[Proposal]:
    """Who a person at the door may be, strongest first. A strong match is proposed whatever
    centre announced it (people land elsewhere than announced); a weak one only from the
    reader's own centres, since it is likely someone else."""
    found: list[tuple[OpenExpected, MatchStrength]] = []
    for candidate in candidates:
        strength = match_strength(keys, candidate.keys)
        if strength is None:
            continue
        within = reader_centres is None or candidate.reception_centre in reader_centres
        if strength is MatchStrength.STRONG or within:
            found.append((candidate, strength))
    found.sort(
        key=lambda pair: (pair[1] is not MatchStrength.STRONG, *_preference(pair[0], centre))
    )
    return [Proposal(c.expected_id, strength) for c, strength in found[:MAX_PROPOSALS]]


def _preference(candidate: OpenExpected, centre: str | None) -> tuple[Any, ...]:
    return (
        candidate.reception_centre != centre,
        candidate.announced_at,
        str(candidate.expected_id),
    )


def lapse_from(expected_date: date, received_at: datetime) -> date:
    """The day an expected person's time to arrive starts running: the later of the expected
    date and the day the manifest was received (a wave announced late, or replayed, is given
    its whole time)."""
    return max(expected_date, received_at.date())


def lapse_cutoff(today: date, close_after_days: int) -> date:
    """Open expected people whose ``lapse_from`` is on or before this day are closed today."""
    return today - timedelta(days=close_after_days)
