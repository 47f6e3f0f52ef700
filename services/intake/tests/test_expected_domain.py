"""The pure parts of expected arrivals: CSV manifests, ages, matching and closing days."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from retour_intake.domain.duplicates import MatchStrength, PersonKeys
from retour_intake.domain.expected import (
    ExpectedPersonEntry,
    Manifest,
    OpenExpected,
    lapse_cutoff,
    lapse_from,
    link_candidate,
    person_problems,
    proposals,
)
from retour_intake.domain.manifest_csv import CsvProblem, parse_people
from retour_intake.entrypoints.expected_arrivals import PERSON_COLUMNS, read_manifest
from retour_kit.http_errors import ApiError

EXPECTED_ON = date(2024, 6, 10)
T0 = datetime(2024, 6, 8, 9, tzinfo=UTC)


def test_a_french_spreadsheet_export_is_read() -> None:
    data = (
        "\ufeffFamily_Name;Given Name;date_of_birth;age;vulnerabilities\r\n"
        "\r\n"
        'Traoré;Awa;21/08/1995;;"pregnant_or_lactating;medical_need"\r\n'
        "Keïta;;;34;\r\n"
        "\r\n"
    ).encode()
    people = parse_people(data, columns=PERSON_COLUMNS)
    assert people == [
        {
            "family_name": "Traoré",
            "given_name": "Awa",
            "date_of_birth": "1995-08-21",
            "vulnerabilities": ["pregnant_or_lactating", "medical_need"],
        },
        {"family_name": "Keïta", "age": "34"},
    ]


def test_comma_separated_manifests_are_read_too() -> None:
    data = b"family_name,given_name,phone\nDiallo,Moussa,+22365012345\n"
    assert parse_people(data, columns=PERSON_COLUMNS) == [
        {"family_name": "Diallo", "given_name": "Moussa", "phone": "+22365012345"}
    ]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", "header"),
        (b"family_name;shoe_size\nDiallo;42\n", "header"),
        (b"family_name;family_name\nDiallo;Diallo\n", "header"),
        (b"family_name;given_name\nDiallo;Awa;extra\n", "rows[1]"),
        (b"\xff\xfefamily", "body"),
    ],
)
def test_unreadable_files_name_where_never_what(data: bytes, field: str) -> None:
    with pytest.raises(CsvProblem) as problem:
        parse_people(data, columns=PERSON_COLUMNS)
    assert problem.value.field == field
    assert "shoe" not in problem.value.message and "Diallo" not in problem.value.message


def test_a_header_row_forgotten_does_not_echo_the_first_person() -> None:
    with pytest.raises(CsvProblem) as problem:
        parse_people(b"Traore;Awa;1995-08-21\n", columns=PERSON_COLUMNS)
    assert problem.value.field == "header"
    assert "Traore" not in problem.value.message and "Awa" not in problem.value.message


def test_age_on_the_expected_date_comes_from_the_date_of_birth_or_the_age_given() -> None:
    born = ExpectedPersonEntry(family_name="Traoré", date_of_birth=date(2000, 6, 11))
    assert born.age_years(EXPECTED_ON) == 23  # the birthday is the day after
    assert ExpectedPersonEntry(family_name="Traoré", age=40).age_years(EXPECTED_ON) == 40
    assert ExpectedPersonEntry(family_name="Traoré").age_years(EXPECTED_ON) is None
    assert ExpectedPersonEntry(family_name="Traoré", age=40).keys(EXPECTED_ON).birth_year == 1984
    with pytest.raises(ValidationError) as invalid:
        ExpectedPersonEntry(family_name="Traoré", age=40, date_of_birth=date(1984, 1, 1))
    assert [e["loc"] for e in invalid.value.errors()] == [("age",)]


def test_a_birth_after_the_expected_date_is_named() -> None:
    manifest = Manifest(
        wave_name="w",
        reception_centre="gao",
        expected_date=EXPECTED_ON,
        people=[
            ExpectedPersonEntry(family_name="A"),
            ExpectedPersonEntry(family_name="B", date_of_birth=EXPECTED_ON + timedelta(days=1)),
        ],
    )
    assert person_problems(manifest) == [(("people", 1, "date_of_birth"), "is after expected_date")]


def test_json_and_csv_errors_name_every_bad_field_and_no_value() -> None:
    body = (
        b'{"wave_name": "w", "reception_centre": "gao", "expected_date": "2024-06-10",'
        b' "people": [{"family_name": "Secretname", "phone": "12"},'
        b' {"family_name": "X", "sex": "other", "date_of_birth": "1990-13-01"}]}'
    )
    with pytest.raises(ApiError) as json_error:
        read_manifest(body, "application/json", {})
    fields = {e["field"] for e in json_error.value.extra["errors"]}
    assert fields == {
        "body.people[0].phone",
        "body.people[1].sex",
        "body.people[1].date_of_birth",
    }
    csv = b"family_name;date_of_birth\nSecretname;1990-02-30\nOk;\n"
    query = {"wave_name": "w", "reception_centre": "nowhere", "expected_date": "2024-06-10"}
    with pytest.raises(ApiError) as csv_error:
        read_manifest(csv, "text/csv", query)
    fields = {e["field"] for e in csv_error.value.extra["errors"]}
    assert fields == {"query.reception_centre", "body.rows[1].date_of_birth"}
    for error in (json_error.value, csv_error.value):
        assert "Secretname" not in str(error.detail) and "Secretname" not in str(error.extra)


def test_other_media_types_are_refused() -> None:
    with pytest.raises(ApiError) as refused:
        read_manifest(b"<xml/>", "application/xml", {})
    assert refused.value.status_code == 415


def keys(
    name: str = "awa traore", *, year: int | None = 1995, phone: str | None = None
) -> PersonKeys:
    return PersonKeys(
        name_key=name,
        family_key=name.split()[-1],
        birth_date=None,
        birth_year=year,
        phone=phone,
    )


def candidate(centre: str, minutes: int, person: PersonKeys | None = None) -> OpenExpected:
    return OpenExpected(
        expected_id=uuid.uuid4(),
        reception_centre=centre,
        announced_at=T0 + timedelta(minutes=minutes),
        keys=person or keys(),
    )


def test_the_registrations_centre_comes_first_then_the_earliest_announced() -> None:
    kayes_early = candidate("kayes", 0)
    gao_late = candidate("gao", 10)
    gao_early = candidate("gao", 5)
    other_at_gao = candidate("gao", 0, keys("moussa diallo", phone="+22365012345"))
    everyone = [kayes_early, gao_late, gao_early, other_at_gao]
    assert link_candidate(keys(), everyone, centre="gao") == gao_early.expected_id
    assert link_candidate(keys(), everyone, centre="bamako") == kayes_early.expected_id


def test_weak_matches_are_never_linked() -> None:
    same_phone = candidate("gao", 0, keys("moussa diallo", phone="+22365012345"))
    assert link_candidate(keys(phone="+22365012345"), [same_phone], centre="gao") is None


def test_an_unknown_age_matches_on_name_only_with_a_phone_or_national_id() -> None:
    no_age = candidate("gao", 0, keys(year=None))
    assert link_candidate(keys(), [no_age], centre="gao") is None
    with_phone = candidate("gao", 0, keys(year=None, phone="+22365012345"))
    assert link_candidate(keys(phone="+22365012345"), [with_phone], centre="gao") == (
        with_phone.expected_id
    )


def test_proposals_strongest_first_and_weak_ones_only_from_the_readers_centres() -> None:
    phone = "+22365012345"
    strong_elsewhere = candidate("kayes", 0)
    weak_here = candidate("gao", 0, keys("moussa diallo", phone=phone))
    weak_elsewhere = candidate("kayes", 0, keys("moussa diallo", phone=phone))
    found = proposals(
        keys(phone=phone),
        [weak_here, weak_elsewhere, strong_elsewhere],
        centre="gao",
        reader_centres=["gao"],
    )
    assert [(p.expected_id, p.strength) for p in found] == [
        (strong_elsewhere.expected_id, MatchStrength.STRONG),
        (weak_here.expected_id, MatchStrength.WEAK),
    ]


def test_the_time_to_arrive_runs_from_the_later_of_expected_date_and_receipt() -> None:
    # A 2024 wave replayed today is given its whole time from today.
    today_received = datetime(2026, 11, 30, 8, tzinfo=UTC)
    assert lapse_from(date(2024, 3, 1), today_received) == date(2026, 11, 30)
    # Announced ahead of time: from the expected date.
    assert lapse_from(date(2024, 3, 5), datetime(2024, 3, 1, tzinfo=UTC)) == date(2024, 3, 5)
    # Due once 30 days have passed.
    assert lapse_cutoff(date(2024, 4, 4), 30) == date(2024, 3, 5)
