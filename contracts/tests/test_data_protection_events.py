"""returnee.erased and consent.changed: what they carry, and what they refuse."""

from typing import Any

import pytest
from pydantic import ValidationError

from retour_contracts import (
    CONSENT_CHANGED_V1,
    RETURNEE_ERASED_V1,
    RETURNEE_MERGED_V1,
    EventSpec,
    personal_field_names,
)
from retour_contracts.examples import (
    example_consent_changed,
    example_returnee_erased,
    example_returnee_merged,
)
from retour_contracts.personal import marked_field_names
from retour_contracts.schemas import event_json_schema


@pytest.mark.parametrize(
    "spec",
    [RETURNEE_ERASED_V1, CONSENT_CHANGED_V1, RETURNEE_MERGED_V1],
    ids=lambda spec: spec.name,
)
def test_the_events_that_protect_data_carry_none(spec: EventSpec[Any]) -> None:
    schema = event_json_schema(spec)

    assert marked_field_names(schema) == frozenset()
    assert set(schema["properties"]).isdisjoint(personal_field_names())


def test_a_consent_change_names_at_least_one_consent() -> None:
    with pytest.raises(ValidationError, match="sms_contact, partner_sharing or both"):
        example_consent_changed(sms_contact=None, partner_sharing=None)

    given_back = example_consent_changed(sms_contact=None, partner_sharing=True)
    assert (given_back.sms_contact, given_back.partner_sharing) == (None, True)


def test_an_erasure_carries_a_reason_code_never_free_text() -> None:
    with pytest.raises(ValidationError):
        example_returnee_erased(reason="she asked on 3 May, phone +22365012345")

    assert example_returnee_erased().reason == "data_subject_request"


def test_a_registration_is_never_merged_into_itself() -> None:
    merged = example_returnee_merged()
    assert merged.returnee_id != merged.merged_into

    with pytest.raises(ValidationError, match="not merged into itself"):
        example_returnee_merged(merged_into=str(merged.returnee_id))
