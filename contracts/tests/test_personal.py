"""Personal data is marked in the schema and the field list is derived from the marks."""

from typing import Any

from retour_contracts import PersonalData, personal_field_names
from retour_contracts.catalog import RETURNEE_REGISTERED_V1
from retour_contracts.personal import marked_field_names
from retour_contracts.schemas import event_json_schema


def test_personal_field_names() -> None:
    assert personal_field_names() == frozenset(
        {"given_name", "family_name", "other_names", "date_of_birth", "phone", "national_id"}
    )
    assert personal_field_names() == frozenset(PersonalData.model_fields)


def test_categories_stay_outside_the_personal_object() -> None:
    assert personal_field_names().isdisjoint(
        {"sex", "age_years", "region_of_origin", "returnee_id", "host_country"}
    )


def test_marks_on_property_and_definition() -> None:
    schema = event_json_schema(RETURNEE_REGISTERED_V1)
    assert schema["properties"]["personal"]["x-personal-data"] is True
    assert schema["$defs"]["PersonalData"]["x-personal-data"] is True


def test_names_follow_the_marks_not_a_list() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "case": {"$ref": "#/$defs/Case"},
            "contacts": {"type": "array", "items": {"$ref": "#/$defs/Contact"}},
        },
        "$defs": {
            "Case": {"type": "object", "properties": {"region": {"type": "string"}}},
            "Contact": {
                "type": "object",
                "x-personal-data": True,
                "properties": {
                    "email": {"type": "string"},
                    "next_of_kin": {"$ref": "#/$defs/Kin"},
                },
            },
            "Kin": {"type": "object", "properties": {"kin_name": {"type": "string"}}},
            "Unused": {"type": "object", "x-personal-data": True, "properties": {"x": {}}},
        },
    }
    assert marked_field_names(schema) == {"email", "next_of_kin", "kin_name"}
