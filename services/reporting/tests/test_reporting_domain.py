"""The pure rules of reporting: what a projection keeps, age groups, periods, small cells."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from retour_contracts import personal_field_names
from retour_contracts.examples import (
    example_activity_launched,
    example_aid_granted,
    example_returnee_registered,
)
from retour_reporting.domain.categories import AgeGroup, age_group
from retour_reporting.domain.disclosure import is_small_cell
from retour_reporting.domain.outcomes import CohortOutcomes, Share
from retour_reporting.domain.projection import (
    ActivityRow,
    AidRow,
    ParticipantRow,
    RegistrationRow,
    rows_for,
)
from retour_reporting.domain.queries import InvalidPeriodError, Period, ReturneeFilters


class TestWhatAProjectionKeeps:
    def test_no_row_has_a_field_the_contracts_mark_as_personal(self) -> None:
        rows = (RegistrationRow, AidRow, ActivityRow, ParticipantRow)
        fields = {name for row in rows for name in row._fields}

        assert fields.isdisjoint(personal_field_names())
        assert "age_years" not in fields

    def test_a_registration_keeps_categories_and_an_age_group(self) -> None:
        event = example_returnee_registered(age_years=17, personal={"date_of_birth": None})

        [row] = rows_for([event]).registrations

        assert row.age_group == "0-17"
        assert row.reception_centre == "bamako"
        assert row.vulnerabilities == ("pregnant_or_lactating",)
        assert "Aminata" not in repr(row)

    def test_an_activity_gives_one_participant_row_per_returnee(self) -> None:
        first, second = uuid4(), uuid4()
        event = example_activity_launched(returnee_ids=[first, second], level="collective")

        rows = rows_for([event])

        assert [p.returnee_id for p in rows.participants] == [first, second]
        assert rows.activities[0].funding_currency == "XOF"

    def test_a_business_id_seen_twice_keeps_its_first_event(self) -> None:
        aid_id = uuid4()
        first = example_aid_granted(aid_id=aid_id, category="cash")
        second = example_aid_granted(aid_id=aid_id, category="food", amount=None)

        rows = rows_for([first, second])

        assert [row.category for row in rows.aid] == ["cash"]

    def test_aid_without_money_has_no_amount_nor_currency(self) -> None:
        event = example_aid_granted(category="food", phase="immediate", amount=None)

        [row] = rows_for([event]).aid

        assert (row.amount, row.currency) == (None, None)


@pytest.mark.parametrize(
    ("age", "group"),
    [
        (0, AgeGroup.CHILD),
        (17, AgeGroup.CHILD),
        (18, AgeGroup.ADULT),
        (44, AgeGroup.ADULT),
        (45, AgeGroup.OLDER),
        (120, AgeGroup.OLDER),
    ],
)
def test_age_groups_follow_the_published_bands(age: int, group: AgeGroup) -> None:
    assert age_group(age) is group


@pytest.mark.parametrize(("people", "small"), [(0, False), (1, True), (4, True), (5, False)])
def test_a_small_cell_counts_one_to_four_people(people: int, small: bool) -> None:
    assert is_small_cell(people) is small


class TestPeriods:
    def test_the_last_day_is_included_up_to_midnight(self) -> None:
        period = Period(date(2024, 1, 1), date(2024, 6, 30))

        assert period.starts_at == datetime(2024, 1, 1, tzinfo=UTC)
        assert period.ends_before == datetime(2024, 7, 1, tzinfo=UTC)

    def test_an_open_period_has_no_bounds(self) -> None:
        assert (Period().starts_at, Period().ends_before) == (None, None)

    def test_a_period_cannot_end_before_it_starts(self) -> None:
        with pytest.raises(InvalidPeriodError):
            Period(date(2024, 2, 1), date(2024, 1, 31))


def test_returnee_filters_know_when_one_is_set() -> None:
    assert not ReturneeFilters().is_set
    assert ReturneeFilters(host_country="CI").is_set


class TestOutcomes:
    def test_a_share_is_small_when_either_count_is(self) -> None:
        assert Share(3, 200).small
        assert Share(3, 4).small
        assert not Share(0, 200).small
        assert Share(0, 0).value is None

    def test_the_funnel_narrows_at_each_stage(self) -> None:
        outcomes = CohortOutcomes(
            cohort=100,
            aided=80,
            immediate_within_72h=60,
            reintegration_aided=50,
            with_activity=30,
            aided_with_activity=25,
            median_hours_to_first_aid=20.0,
        )

        assert outcomes.funnel() == [("registered", 100), ("aided", 80), ("activity_launched", 25)]
        assert outcomes.launched_activity.value == 0.3
