"""The rule-based compatibility diff, one test per rule, on hand-made and committed schemas."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from retour_contracts.catalog import CATALOG
from retour_contracts.schema_compat import BreakingChange, breaking_changes

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def _schema() -> dict[str, Any]:
    """A small event in pydantic's style: $defs, $refs, nullable anyOf, enums, arrays."""
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "at": {"type": "string", "format": "date-time"},
            "kind": {"$ref": "#/$defs/Kind"},
            "amount": {"anyOf": [{"$ref": "#/$defs/Money"}, {"type": "null"}], "default": None},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "shares": {"type": "array", "items": {"$ref": "#/$defs/Share"}},
        },
        "required": ["id", "at", "kind"],
        "$defs": {
            "Kind": {"type": "string", "enum": ["cash", "food"]},
            "Money": {
                "type": "object",
                "properties": {
                    "amount": {"type": "string"},
                    "currency": {"type": "string", "default": "XOF"},
                },
                "required": ["amount"],
            },
            "Share": {
                "type": "object",
                "properties": {"who": {"type": "string"}, "amount": {"$ref": "#/$defs/Money"}},
                "required": ["who", "amount"],
            },
        },
    }


def _messages(new: dict[str, Any]) -> list[str]:
    return [str(change) for change in breaking_changes(_schema(), new)]


def test_identical_schemas_are_compatible() -> None:
    assert breaking_changes(_schema(), _schema()) == []


def test_adding_an_optional_field_is_compatible() -> None:
    new = _schema()
    new["properties"]["channel"] = {"type": "string", "default": "sms"}
    new["$defs"]["Money"]["properties"]["rate"] = {"type": "number"}
    assert _messages(new) == []


def test_adding_an_enum_value_is_compatible() -> None:
    new = _schema()
    new["$defs"]["Kind"]["enum"].append("housing")
    assert _messages(new) == []


def test_non_null_to_nullable_is_compatible() -> None:
    new = _schema()
    new["properties"]["at"] = {
        "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]
    }
    assert _messages(new) == []


def test_field_removed() -> None:
    new = _schema()
    del new["properties"]["note"]
    assert _messages(new) == ["field 'note' removed or renamed"]


def test_field_renamed() -> None:
    new = _schema()
    new["$defs"]["Money"]["properties"]["ccy"] = new["$defs"]["Money"]["properties"].pop("currency")
    assert _messages(new) == [
        "field 'amount.currency' removed or renamed",
        "field 'shares[].amount.currency' removed or renamed",
    ]


def test_type_changed() -> None:
    new = _schema()
    new["$defs"]["Money"]["properties"]["currency"] = {"type": "integer"}
    assert "field 'amount.currency' type changed from string to integer" in _messages(new)


def test_format_changed() -> None:
    new = _schema()
    new["properties"]["at"]["format"] = "date"
    assert _messages(new) == ["field 'at' type changed from string (date-time) to string (date)"]


def test_ref_target_changed() -> None:
    new = _schema()
    new["$defs"]["Amount"] = new["$defs"]["Money"]
    new["properties"]["amount"]["anyOf"][0] = {"$ref": "#/$defs/Amount"}
    assert _messages(new) == ["field 'amount' type changed from $ref Money to $ref Amount"]


def test_nullable_to_non_null() -> None:
    new = _schema()
    new["properties"]["note"] = {"type": "string"}
    assert _messages(new) == ["field 'note' changed from nullable to non-null"]


def test_type_list_nullable_form() -> None:
    old = _schema()
    old["properties"]["note"] = {"type": ["string", "null"]}
    new = _schema()
    new["properties"]["note"] = {"type": "string"}
    assert [str(c) for c in breaking_changes(old, new)] == [
        "field 'note' changed from nullable to non-null"
    ]


def test_new_required_field() -> None:
    new = _schema()
    new["properties"]["channel"] = {"type": "string"}
    new["required"].append("channel")
    assert _messages(new) == ["field 'channel' new field is required"]


def test_optional_field_became_required() -> None:
    new = _schema()
    new["$defs"]["Money"]["required"].append("currency")
    assert "field 'amount.currency' optional field became required" in _messages(new)


def test_enum_value_removed() -> None:
    new = _schema()
    new["$defs"]["Kind"]["enum"] = ["cash"]
    assert _messages(new) == ["field 'kind' enum value 'food' removed"]


def test_free_value_restricted_to_an_enum() -> None:
    new = _schema()
    new["properties"]["note"]["anyOf"][0]["enum"] = ["a", "b"]
    assert _messages(new) == ["field 'note' restricted to the values ['a', 'b']"]


def test_additional_properties_false_introduced() -> None:
    new = _schema()
    new["$defs"]["Share"]["additionalProperties"] = False
    new["additionalProperties"] = False
    assert _messages(new) == [
        "field 'shares[]' additionalProperties false introduced",
        "field '(root)' additionalProperties false introduced",
    ]


def test_array_item_type_changed() -> None:
    new = _schema()
    new["properties"]["shares"]["items"] = {"type": "string"}
    assert _messages(new) == ["field 'shares[]' type changed from $ref Share to string"]


def test_union_variant_removed() -> None:
    old = _schema()
    old["properties"]["note"] = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    new = _schema()
    new["properties"]["note"] = {"anyOf": [{"type": "string"}, {"type": "boolean"}]}
    assert [str(c) for c in breaking_changes(old, new)] == [
        "field 'note' type changed from integer to string | boolean"
    ]


def test_recursive_definitions_terminate() -> None:
    node: dict[str, Any] = {
        "type": "object",
        "properties": {"child": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}},
    }
    old: dict[str, Any] = {"$ref": "#/$defs/Node", "$defs": {"Node": node}}
    new = copy.deepcopy(old)
    new["$defs"]["Node"]["properties"]["child"] = {"$ref": "#/$defs/Node"}
    assert [str(c) for c in breaking_changes(old, new)] == [
        "field 'child' changed from nullable to non-null"
    ]


def test_breaking_change_names_its_path() -> None:
    change = BreakingChange("amount.currency", "type changed from string to integer")
    assert str(change) == "field 'amount.currency' type changed from string to integer"


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_committed_schemas_are_self_compatible(spec: Any) -> None:
    committed = json.loads((SCHEMAS / spec.schema_file).read_text(encoding="utf-8"))
    assert breaking_changes(committed, committed) == []


def test_type_change_in_a_copy_of_a_committed_schema() -> None:
    committed = json.loads((SCHEMAS / "aid.granted.v1.json").read_text(encoding="utf-8"))
    changed = copy.deepcopy(committed)
    changed["$defs"]["Money"]["properties"]["currency"]["type"] = "integer"
    changed["properties"]["granted_by"]["type"] = "integer"
    assert [str(c) for c in breaking_changes(committed, changed)] == [
        "field 'amount.currency' type changed from string to integer",
        "field 'granted_by' type changed from string to integer",
    ]


def test_enum_removal_in_a_copy_of_a_committed_schema() -> None:
    committed = json.loads((SCHEMAS / "returnee.registered.v1.json").read_text(encoding="utf-8"))
    changed = copy.deepcopy(committed)
    changed["$defs"]["Vulnerability"]["enum"].remove("elderly")
    del changed["$defs"]["PersonalData"]["properties"]["national_id"]
    assert sorted(str(c) for c in breaking_changes(committed, changed)) == [
        "field 'personal.national_id' removed or renamed",
        "field 'vulnerabilities[]' enum value 'elderly' removed",
    ]
