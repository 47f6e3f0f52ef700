"""One rule for the whole path: whatever intake's API accepts builds a valid event.

The commands are generated from the JSON Schema the API publishes for ``POST /returnees``
(the request body of its OpenAPI document), so they are what any client may send. Each one is
either refused (a 422 naming the field, from the model or the programme-period check) or
builds a ``returnee.registered`` that the contract accepts back from the wire; nothing in
between raises.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from pydantic import ValidationError

from retour_contracts import ReturneeRegistered
from retour_intake.domain.commands import (
    DEFAULT_PROGRAMME_START,
    EXAMPLE,
    InvalidField,
    RegisterReturnee,
)
from retour_intake.domain.duplicates import DuplicateAssessment
from retour_intake.domain.registration import Registrar, register

API_SCHEMA = RegisterReturnee.model_json_schema()


def built_event(command: RegisterReturnee) -> ReturneeRegistered:
    return register(
        command,
        returnee_id=uuid.uuid4(),
        registered_at=datetime.now(UTC),
        duplicates=DuplicateAssessment(),
        registrar=Registrar("registrar.test"),
    )


def accepted(body: dict[str, Any]) -> RegisterReturnee | None:
    """The command the API would go on with, or None for a 422."""
    try:
        command = RegisterReturnee.model_validate(body)
        command.check_arrival_in_programme(DEFAULT_PROGRAMME_START)
    except (ValidationError, InvalidField):
        return None
    return command


# Mostly the example with one or two fields replaced by anything the schema allows (so most
# commands get far enough to build an event), and some bodies generated whole.
def near_example() -> st.SearchStrategy[dict[str, Any]]:
    fields = st.sampled_from(sorted(API_SCHEMA["properties"]))
    personal_fields = st.sampled_from(sorted(EXAMPLE["personal"]))

    @st.composite
    def body(draw: st.DrawFn) -> dict[str, Any]:
        data: dict[str, Any] = {**EXAMPLE, "personal": {**EXAMPLE["personal"]}}
        for _ in range(draw(st.integers(1, 2))):
            if draw(st.booleans()):
                name = draw(personal_fields)
                schema = {**API_SCHEMA["$defs"]["PersonalDataEntered"]["properties"][name]}
                data["personal"][name] = draw(from_schema({**schema, "$defs": API_SCHEMA["$defs"]}))
            else:
                name = draw(fields)
                schema = {**API_SCHEMA["properties"][name], "$defs": API_SCHEMA["$defs"]}
                data[name] = draw(from_schema(schema))
        return data

    return body()


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(st.one_of(near_example(), from_schema(API_SCHEMA)))
def test_an_accepted_command_always_builds_a_valid_event(body: dict[str, Any]) -> None:
    command = accepted(body)
    if command is None:
        return
    event = built_event(command)

    again = ReturneeRegistered.model_validate_json(event.model_dump_json())
    assert again == event
    assert "\\u0000" not in event.model_dump_json()  # Postgres refuses NUL in jsonb


def test_the_generator_reaches_events_not_only_refusals() -> None:
    """The property above proves something only if many commands get through."""
    built = 0

    @settings(max_examples=100, deadline=None, database=None)
    @given(near_example())
    def count(body: dict[str, Any]) -> None:
        nonlocal built
        if accepted(body) is not None:
            built += 1

    count()
    assert built >= 20


def body_with(**changes: Any) -> dict[str, Any]:
    personal = {**EXAMPLE["personal"], **changes.pop("personal", {})}
    return {**EXAMPLE, "personal": personal, **changes}


def refused_at(body: dict[str, Any]) -> tuple[str | int, ...]:
    with pytest.raises(ValidationError) as refused:
        RegisterReturnee.model_validate(body)
    [problem] = refused.value.errors()
    return problem["loc"]


class TestWhatFuzzersFound:
    def test_a_date_of_birth_258_years_before_arrival_is_refused(self) -> None:
        body = body_with(arrival_date="2024-03-02", personal={"date_of_birth": "1766-03-01"})

        assert refused_at(body) == ("personal",)

    def test_an_age_of_120_at_arrival_is_accepted(self) -> None:
        body = body_with(arrival_date="2024-03-02", personal={"date_of_birth": "1904-03-02"})

        command = RegisterReturnee.model_validate(body)

        assert built_event(command).age_years == 120

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("given_name", "Mou\x00ssa"),
            ("family_name", "Ma\tïga"),
            ("other_names", "A\x85li"),
            ("national_id", "NINA\x1b123"),
        ],
    )
    def test_control_characters_are_refused_in_every_text_field(
        self, field: str, value: str
    ) -> None:
        assert refused_at(body_with(personal={field: value})) == ("personal", field)

    @pytest.mark.parametrize("year", [147, 238, 542, 1166, 1999])
    def test_an_arrival_before_the_programme_is_refused(self, year: int) -> None:
        command = RegisterReturnee.model_validate(
            body_with(
                arrival_date=date(year, 3, 2).isoformat(),
                personal={"date_of_birth": None},
                age_estimate=30,
            )
        )

        with pytest.raises(InvalidField) as refused:
            command.check_arrival_in_programme(DEFAULT_PROGRAMME_START)
        assert refused.value.field == "arrival_date"

    def test_the_programme_start_is_the_first_day_accepted(self) -> None:
        start = date(2020, 1, 1)
        on_the_day = RegisterReturnee.model_validate(body_with(arrival_date=start.isoformat()))
        day_before = RegisterReturnee.model_validate(
            body_with(arrival_date=(start - timedelta(days=1)).isoformat())
        )

        on_the_day.check_arrival_in_programme(start)
        with pytest.raises(InvalidField):
            day_before.check_arrival_in_programme(start)
