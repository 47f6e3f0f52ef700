"""Turning a registration into a `returnee.registered` event, duplicates decided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from retour_contracts import PersonalData, ReturneeRegistered
from retour_contracts.models.returnee_registered import age_on
from retour_intake.domain.commands import InvalidField, RegisterReturnee
from retour_intake.domain.duplicates import DuplicateAssessment, PersonKeys


class DuplicateSuspected(Exception):
    """A strong match with an earlier registration; the registrar must confirm or stop."""

    def __init__(self, matches: tuple[UUID, ...]) -> None:
        super().__init__(f"{len(matches)} strong duplicate match(es)")
        self.matches = matches


def person_keys(command: RegisterReturnee) -> PersonKeys:
    born = command.personal.date_of_birth
    if born is not None:
        birth_year = born.year
    else:
        assert command.age_estimate is not None  # guaranteed by RegisterReturnee's validation
        birth_year = command.arrival_date.year - command.age_estimate
    return PersonKeys.of(
        given_name=command.personal.given_name,
        family_name=command.personal.family_name,
        birth_date=born,
        birth_year=birth_year,
        phone=command.personal.phone,
        national_id=command.personal.national_id,
    )


class OverrideRefused(Exception):
    """Only a supervisor may register a person despite a strong duplicate match."""


SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Registrar:
    subject: str  # who is registering, from the access token
    roles: tuple[str, ...] = ("registrar",)  # the token's roles, for the access log


def register(
    command: RegisterReturnee,
    *,
    returnee_id: UUID,
    registered_at: datetime,
    duplicates: DuplicateAssessment,
    registrar: Registrar,
    expected_id: UUID | None = None,
) -> ReturneeRegistered:
    """The event to record. Raises DuplicateSuspected when a strong match is not confirmed,
    OverrideRefused when someone else than a supervisor confirms it, InvalidField when the
    confirmation gives no reason."""
    if duplicates.strong:
        if not command.confirm_not_duplicate:
            raise DuplicateSuspected(duplicates.strong)
        if SUPERVISOR not in registrar.roles:
            raise OverrideRefused()
        if command.override_reason is None:
            raise InvalidField("override_reason", "required to register despite a strong match")
    born = command.personal.date_of_birth
    if born is not None:
        age, estimated = age_on(command.arrival_date, born), False
    else:
        assert command.age_estimate is not None
        age, estimated = command.age_estimate, True
    confirmed = command.confirm_not_duplicate and bool(duplicates.strong)
    return ReturneeRegistered(
        returnee_id=returnee_id,
        registered_at=registered_at,
        reception_centre=command.reception_centre,
        arrival_date=command.arrival_date,
        return_type=command.return_type,
        host_country=command.host_country,
        region_of_origin=command.region_of_origin,
        sex=command.sex,
        age_years=age,
        age_is_estimated=estimated,
        household_size=command.household_size,
        vulnerabilities=command.vulnerabilities,
        preferred_language=command.preferred_language,
        consents=command.consents,
        # The contract's own type: the command's adds input rules, not fields.
        personal=PersonalData(**dict(command.personal)),
        possible_duplicate_of=list(duplicates.all_matches),
        duplicate_confirmed_by=registrar.subject if confirmed else None,
        expected_id=expected_id,
    )
