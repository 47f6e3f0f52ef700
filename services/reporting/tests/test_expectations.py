"""What reporting keeps of expected arrivals: no personal data, an age group, and the same
closure whatever order two closures come in."""

from __future__ import annotations

from datetime import UTC, datetime

from retour_contracts import personal_field_names
from retour_contracts.examples import (
    example_expected_arrival_closed,
    example_returnee_expected,
    example_returnee_registered,
)
from retour_reporting.domain.corrections import FieldChange
from retour_reporting.domain.expectations import ExpectationClosureRow, ExpectedRow
from retour_reporting.domain.projection import RegistrationRow, corrected, rows_for


def test_an_announcement_keeps_categories_and_an_age_group_never_who() -> None:
    event = example_returnee_expected(
        age_years=27, vulnerabilities=["pregnant_or_lactating", "elderly"]
    )

    [row] = rows_for([event, event.model_copy(update={"wave_name": "again"})]).expected

    assert row.wave_name == event.wave_name
    assert (row.age_group, row.vulnerabilities, row.host_country) == (
        "18-44",
        ("elderly", "pregnant_or_lactating"),
        "CI",
    )
    assert set(ExpectedRow._fields).isdisjoint(personal_field_names())
    assert {"age_years", "sealed_personal", "announced_by"}.isdisjoint(ExpectedRow._fields)
    assert "closed_by" not in ExpectationClosureRow._fields


def test_of_two_closures_the_later_is_kept_in_either_order() -> None:
    lapsed = example_expected_arrival_closed()
    withdrawn = example_expected_arrival_closed(
        reason="withdrawn", closed_at=datetime(2024, 6, 12, 9, tzinfo=UTC)
    )

    kept = [
        rows_for(pair).expectation_closures for pair in ([lapsed, withdrawn], [withdrawn, lapsed])
    ]

    assert kept[0] == kept[1]
    assert [row.reason for row in kept[0]] == ["lapsed"]


def test_a_registration_keeps_the_expectation_it_confirmed_through_corrections() -> None:
    event = example_returnee_registered()
    linked = event.model_copy(update={"expected_id": event.returnee_id})

    [row] = rows_for([linked]).registrations
    moved = corrected(row, [FieldChange(row.returnee_id, "reception_centre", 2, "gao")])

    assert row.expected_id == event.returnee_id
    assert (moved.reception_centre, moved.expected_id) == ("gao", event.returnee_id)
    # The time to care counts from the arrival day: when intake recorded it is not kept.
    assert "registered_at" not in RegistrationRow._fields
