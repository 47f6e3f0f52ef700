"""returnee.updated: what a correction carries, and how its personal block is protected."""

import pytest
from pydantic import ValidationError

from retour_contracts import (
    RETURNEE_UPDATED_V1,
    RegistrationField,
    SealBrokenError,
    open_update,
    personal_field_names,
)
from retour_contracts.examples import (
    EXAMPLE_DATA_KEY,
    EXAMPLE_EVENT_ID,
    RETURNEE_ID,
    example_returnee_registered_v2,
    example_returnee_updated,
)
from retour_contracts.personal import marked_field_names
from retour_contracts.schemas import event_json_schema
from retour_contracts.sealing import open_personal


def test_the_personal_block_after_the_change_opens_with_the_returnees_key() -> None:
    updated = example_returnee_updated()

    personal = open_update(updated, EXAMPLE_DATA_KEY, event_id=EXAMPLE_EVENT_ID)

    assert personal is not None
    assert personal.phone == "+22376012345"
    assert personal.given_name == "Aminata"
    assert RETURNEE_UPDATED_V1.key(updated) == str(RETURNEE_ID)


def test_a_sealed_block_opens_only_in_the_kind_of_event_it_was_sealed_for() -> None:
    updated = example_returnee_updated()
    registered = example_returnee_registered_v2()
    assert updated.sealed_personal is not None

    with pytest.raises(SealBrokenError):
        open_personal(updated.sealed_personal, EXAMPLE_DATA_KEY, event_id=EXAMPLE_EVENT_ID)
    moved = updated.model_copy(update={"sealed_personal": registered.sealed_personal})
    with pytest.raises(SealBrokenError):
        open_update(moved, EXAMPLE_DATA_KEY, event_id=EXAMPLE_EVENT_ID)
    with pytest.raises(SealBrokenError):
        open_update(updated, EXAMPLE_DATA_KEY, event_id="another-event")


def test_changed_names_exactly_what_the_event_carries() -> None:
    with pytest.raises(ValidationError, match="facts must carry exactly"):
        example_returnee_updated(changed=["personal.phone"])  # language carried, not named
    with pytest.raises(ValidationError, match="facts must carry exactly"):
        example_returnee_updated(changed=["preferred_language", "sex", "personal.phone"])
    with pytest.raises(ValidationError, match="sealed_personal is present exactly"):
        example_returnee_updated(changed=["preferred_language"])
    with pytest.raises(ValidationError, match="sealed_personal is present exactly"):
        example_returnee_updated(
            changed=["reception_centre", "personal.phone"],
            facts={"preferred_language": None, "reception_centre": "gao"},
            sealed_personal=None,
        )
    with pytest.raises(ValidationError):
        example_returnee_updated(changed=[])
    with pytest.raises(ValidationError):
        example_returnee_updated(changed=["consents", "preferred_language", "personal.phone"])


def test_a_transfer_is_a_change_of_reception_centre() -> None:
    transfer = example_returnee_updated(
        changed=["reception_centre"],
        facts={"preferred_language": None, "reception_centre": "gao"},
        sealed_personal=None,
        reason="relocation",
    )

    assert transfer.is_transfer
    assert not example_returnee_updated().is_transfer
    with pytest.raises(ValidationError):
        example_returnee_updated(reason="she moved to her uncle in Gao")
    with pytest.raises(ValidationError):
        example_returnee_updated(version=1)


def test_the_event_carries_no_personal_data_in_clear() -> None:
    schema = event_json_schema(RETURNEE_UPDATED_V1)

    assert marked_field_names(schema) == frozenset()
    facts = set(schema["$defs"]["FactChanges"]["properties"])
    assert facts.isdisjoint(personal_field_names())
    # Every personal field can be corrected, and only under personal.*; every fact too.
    named = {field.value for field in RegistrationField}
    assert named == facts | {f"personal.{name}" for name in personal_field_names()}
