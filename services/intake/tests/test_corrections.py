"""Corrections in the domain: the merge patch, what changed, and the event that says so."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from retour_contracts import ChangeReason, RegistrationField, ReturneeRegistered
from retour_contracts.examples import example_returnee_registered
from retour_intake.domain.commands import RegisterReturnee
from retour_intake.domain.corrections import (
    CorrectRegistration,
    as_entered,
    merged,
    revise,
    updated_event,
)

NOW = datetime(2024, 7, 1, 10, 0, tzinfo=UTC)


def corrected(current: ReturneeRegistered, **patch: Any) -> Any:
    correction = CorrectRegistration.model_validate({"reason": "data_entry_error", **patch})
    command = RegisterReturnee.model_validate(merged(as_entered(current), correction.patch()))
    return revise(current, command)


def test_a_merge_patch_changes_what_it_names_and_removes_what_it_nulls() -> None:
    current = example_returnee_registered(personal={"national_id": "ML123456789"})

    revision = corrected(
        current, household_size=6, personal={"phone": "+22376123456", "national_id": None}
    )

    new = revision.registration
    assert (new.household_size, new.personal.phone, new.personal.national_id) == (
        6,
        "+22376123456",
        None,
    )
    assert set(revision.changed) == {
        RegistrationField.HOUSEHOLD_SIZE,
        RegistrationField.PHONE,
        RegistrationField.NATIONAL_ID,
    }
    # What no correction changes stays: the id, the time, the consents, the duplicate flags.
    kept = ("returnee_id", "registered_at", "consents", "possible_duplicate_of")
    assert all(getattr(new, name) == getattr(current, name) for name in kept)
    assert new.personal.given_name == current.personal.given_name


def test_the_same_values_again_change_nothing() -> None:
    current = example_returnee_registered()

    revision = corrected(current, reception_centre="bamako", household_size=4)

    assert revision.changed == ()
    assert revision.registration == current


def test_a_date_of_birth_replaces_an_estimate_and_the_age_follows_the_arrival() -> None:
    estimated = example_returnee_registered(
        age_years=30, age_is_estimated=True, personal={"date_of_birth": None}
    )

    dated = corrected(estimated, personal={"date_of_birth": "1990-06-30"}).registration
    moved = corrected(dated, arrival_date="2024-06-01").registration
    back = corrected(dated, age_estimate=40).registration

    assert (dated.age_years, dated.age_is_estimated) == (33, False)
    assert (moved.age_years, moved.arrival_date.isoformat()) == (33, "2024-06-01")
    assert (back.age_years, back.age_is_estimated, back.personal.date_of_birth) == (40, True, None)


def test_a_correction_is_refused_what_a_registration_is_refused() -> None:
    current = example_returnee_registered()

    with pytest.raises(ValidationError):
        corrected(current, personal={"given_name": None})
    with pytest.raises(ValidationError):
        corrected(current, household_size=0)
    with pytest.raises(ValidationError):
        CorrectRegistration.model_validate({"reason": "data_entry_error", "consents": {}})
    with pytest.raises(ValidationError):
        CorrectRegistration.model_validate({"household_size": 2})  # no reason


def test_the_event_carries_the_new_facts_and_names_the_personal_fields() -> None:
    current = example_returnee_registered()
    revision = corrected(current, reception_centre="gao", personal={"phone": "+22376123456"})
    assert revision.identity_changed

    with pytest.raises(ValidationError):  # a personal change needs its sealed block
        updated_event(
            revision,
            version=2,
            at=NOW,
            by="agent.1",
            reason=ChangeReason.RELOCATION,
            sealed_personal=None,
        )
    transfer = corrected(current, reception_centre="gao")
    event = updated_event(
        transfer,
        version=3,
        at=NOW,
        by="agent.1",
        reason=ChangeReason.RELOCATION,
        sealed_personal=None,
    )

    assert event.is_transfer and event.changed == [RegistrationField.RECEPTION_CENTRE]
    assert event.facts.reception_centre == "gao" and event.facts.household_size is None
    assert not transfer.identity_changed
