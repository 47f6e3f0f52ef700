"""Validation rules of ``returnee.registered``."""

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from retour_contracts import ReturneeRegistered, Vulnerability
from retour_contracts.examples import (
    RETURNEE_ID,
    example_returnee_registered,
    returnee_registered_data,
)


def _invalid(**overrides: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        ReturneeRegistered.model_validate(returnee_registered_data(**overrides))
    return info.value


def _locations(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in item["loc"]) for item in error.errors()}


def test_example_is_valid_and_normalised() -> None:
    event = example_returnee_registered(
        registered_at="2024-06-12T11:30:00+02:00",
        host_country=" ci ",
        preferred_language="BM",
        personal={"phone": "+223 65 01 23 45"},
    )
    assert event.registered_at == datetime(2024, 6, 12, 9, 30, tzinfo=UTC)
    assert event.registered_at.tzinfo is UTC
    assert event.host_country == "CI"
    assert event.preferred_language == "bm"
    assert event.personal.phone == "+22365012345"
    assert event.vulnerabilities == [Vulnerability.PREGNANT_OR_LACTATING]


def test_defaults() -> None:
    data = returnee_registered_data()
    for optional in ("vulnerabilities", "preferred_language", "possible_duplicate_of"):
        del data[optional]
    event = ReturneeRegistered.model_validate(data)
    assert event.preferred_language == "fr"
    assert event.vulnerabilities == []
    assert event.possible_duplicate_of == []
    assert event.duplicate_confirmed_by is None


def test_model_is_frozen() -> None:
    event = example_returnee_registered()
    with pytest.raises(ValidationError, match="frozen"):
        event.age_years = 30  # type: ignore[misc]


def test_unknown_fields_are_ignored() -> None:
    event = ReturneeRegistered.model_validate(
        returnee_registered_data(added_in_v1_1="x", personal={"nickname": "Ami"})
    )
    assert "added_in_v1_1" not in event.model_dump()
    assert event == example_returnee_registered()


def test_naive_datetime_is_rejected_naming_the_field() -> None:
    error = _invalid(registered_at="2024-06-12T09:30:00")
    assert _locations(error) == {"registered_at"}
    assert error.errors()[0]["type"] == "timezone_aware"


def test_naive_python_datetime_is_rejected() -> None:
    error = _invalid(registered_at=datetime(2024, 6, 12, 9, 30))
    assert _locations(error) == {"registered_at"}


def test_unknown_country_is_rejected() -> None:
    error = _invalid(host_country="XX")
    assert _locations(error) == {"host_country"}
    assert "unknown ISO 3166-1" in str(error)


def test_malformed_country_is_rejected() -> None:
    assert _locations(_invalid(host_country="CIV")) == {"host_country"}


def test_phone_without_sms_consent_is_rejected() -> None:
    error = _invalid(consents={"sms_contact": False})
    assert _locations(error) == {"personal"}
    assert "personal.phone requires consents.sms_contact" in str(error)


def test_no_phone_needs_no_sms_consent() -> None:
    event = example_returnee_registered(consents={"sms_contact": False}, personal={"phone": None})
    assert event.personal.phone is None


@pytest.mark.parametrize("phone", ["65012345", "+223 1", "+22300000000", "not a phone"])
def test_bad_phone_is_rejected(phone: str) -> None:
    assert _locations(_invalid(personal={"phone": phone})) == {"personal.phone"}


def test_data_processing_consent_is_required() -> None:
    error = _invalid(consents={"data_processing": False})
    assert _locations(error) == {"consents.data_processing"}


def test_unknown_enum_value_is_rejected() -> None:
    assert _locations(_invalid(reception_centre="timbuktu")) == {"reception_centre"}
    assert _locations(_invalid(vulnerabilities=["hungry"])) == {"vulnerabilities.0"}


def test_regions_include_2023_reform() -> None:
    assert example_returnee_registered(region_of_origin="bandiagara").region_of_origin == (
        "bandiagara"
    )


def test_arrival_in_the_future_is_rejected() -> None:
    error = _invalid(arrival_date="2024-06-13")
    assert _locations(error) == {"arrival_date"}
    assert "after registered_at" in str(error)


def test_arrival_on_registration_day_is_accepted() -> None:
    assert example_returnee_registered(arrival_date="2024-06-12").arrival_date == date(2024, 6, 12)


def test_duplicate_vulnerabilities_are_rejected() -> None:
    error = _invalid(vulnerabilities=["elderly", "disability", "elderly"])
    assert _locations(error) == {"vulnerabilities"}
    assert "duplicate value 'elderly'" in str(error)


@pytest.mark.parametrize(("field", "value"), [("age_years", 121), ("household_size", 0)])
def test_numeric_bounds(field: str, value: int) -> None:
    assert _locations(_invalid(**{field: value})) == {field}


def test_age_must_match_date_of_birth() -> None:
    error = _invalid(age_years=30)
    assert _locations(error) == {"personal"}
    assert "does not match personal.date_of_birth" in str(error)


def test_estimated_age_without_date_of_birth() -> None:
    event = example_returnee_registered(
        age_years=30, age_is_estimated=True, personal={"date_of_birth": None}
    )
    assert event.age_years == 30


def test_birth_after_arrival_is_rejected() -> None:
    assert "after arrival_date" in str(_invalid(personal={"date_of_birth": "2024-06-12"}))


@pytest.mark.parametrize("language", ["french", "f", "fr-ML"])
def test_language_must_be_a_primary_subtag(language: str) -> None:
    assert _locations(_invalid(preferred_language=language)) == {"preferred_language"}


def test_possible_duplicates() -> None:
    other = uuid4()
    event = example_returnee_registered(
        possible_duplicate_of=[other], duplicate_confirmed_by="supervisor.gao.02"
    )
    assert event.possible_duplicate_of == [other]
    assert _locations(_invalid(possible_duplicate_of=[other, other])) == {"possible_duplicate_of"}
    assert _locations(_invalid(possible_duplicate_of=[RETURNEE_ID])) == {"possible_duplicate_of"}


def test_names_are_required_and_stripped() -> None:
    assert example_returnee_registered(personal={"given_name": " Awa "}).personal.given_name == (
        "Awa"
    )
    assert _locations(_invalid(personal={"family_name": "  "})) == {"personal.family_name"}
