"""The committed documents are valid: JSON Schemas (2020-12) and AsyncAPI 3.0.0."""

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from retour_contracts import CATALOG, EventSpec
from retour_contracts.catalog import PARTNERS
from retour_contracts.examples import example_for
from retour_contracts.jsonref import resolve_ref

REPO = Path(__file__).resolve().parents[2]
ASYNCAPI_SCHEMA = Path(__file__).parent / "data" / "asyncapi-3.0.0-without-id.json"


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "docs/asyncapi.yaml").read_text("utf-8"))
    return document


@pytest.fixture(scope="module")
def asyncapi_validator() -> Any:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema"
    return jsonschema.Draft7Validator(schema)


def _committed_schema(spec: EventSpec[Any]) -> dict[str, Any]:
    path = REPO / "contracts" / "schemas" / spec.schema_file
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_json_schema_is_valid_2020_12(spec: EventSpec[Any]) -> None:
    schema = _committed_schema(spec)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == spec.schema_id
    assert schema["title"] == spec.model.__name__


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_examples_match_committed_schema(spec: EventSpec[Any]) -> None:
    validator = jsonschema.Draft202012Validator(
        _committed_schema(spec), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    payload = json.loads(example_for(spec.model).model_dump_json())
    validator.validate(payload)
    payload["unknown_future_field"] = 1  # open content model: extra fields stay valid
    validator.validate(payload)


def test_asyncapi_is_valid(asyncapi: dict[str, Any], asyncapi_validator: Any) -> None:
    errors = [error.message for error in asyncapi_validator.iter_errors(asyncapi)]
    assert errors == []


def test_asyncapi_validator_catches_mistakes(
    asyncapi: dict[str, Any], asyncapi_validator: Any
) -> None:
    broken = copy.deepcopy(asyncapi)
    broken["operations"]["intake.send.returnee.registered"]["action"] = "publish"
    assert not asyncapi_validator.is_valid(broken)


def test_asyncapi_references_resolve(asyncapi: dict[str, Any]) -> None:
    refs = set(_refs(asyncapi))
    assert refs
    for ref in refs:
        resolve_ref(asyncapi, ref)


def test_asyncapi_channels_and_operations(asyncapi: dict[str, Any]) -> None:
    channels = asyncapi["channels"]
    topics = {spec.topic for spec in CATALOG} | {spec.dlq_topic for spec in CATALOG}
    assert sorted(channels) == sorted(topics)
    assert sorted(channels["returnee.registered"]["messages"]) == [
        "returnee.registered.v1",
        "returnee.registered.v2",
    ]
    assert all(channels[name]["address"] == name for name in channels)
    assert asyncapi["servers"]["local"] == {
        "host": "127.0.0.1:9092",
        "protocol": "kafka",
        "description": "Local Kafka broker of the development stack (make up).",
        "security": [{"$ref": "#/components/securitySchemes/saslScram"}],
    }
    assert asyncapi["components"]["securitySchemes"]["saslScram"]["type"] == "scramSha512"
    expected = set()
    for spec in CATALOG:
        expected.add(f"{spec.producer}.send.{spec.topic}")
        for consumer in spec.consumers:
            expected |= {f"{consumer}.receive.{spec.topic}", f"{consumer}.send.{spec.dlq_topic}"}
    partners = {f"{p.name}.receive.{topic}" for p in PARTNERS for topic in p.reads}
    assert set(asyncapi["operations"]) == expected | partners
    assert "reporting.receive.aid.granted" in expected
    assert "partner-example.receive.returnee.registered" in partners


def test_asyncapi_receive_operations_name_the_consumer_groups_the_acls_allow(
    asyncapi: dict[str, Any],
) -> None:
    """Each receiver's consumer groups are those named after its principal (kafka_acls)."""
    for name, operation in asyncapi["operations"].items():
        if operation["action"] != "receive":
            continue
        receiver = name.split(".receive.")[0]
        group = operation["bindings"]["kafka"]["groupId"]
        assert group["pattern"] == f"^{receiver}", name
    reporting = asyncapi["operations"]["reporting.receive.aid.granted"]["bindings"]["kafka"]
    assert re.match(reporting["groupId"]["pattern"], "reporting-rebuild")
    assert not re.match(reporting["groupId"]["pattern"], "notifications")


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_asyncapi_message_examples(asyncapi: dict[str, Any], spec: EventSpec[Any]) -> None:
    message = asyncapi["components"]["messages"][f"{spec.name}.v{spec.version}"]
    headers_schema = resolve_ref(asyncapi, message["headers"]["$ref"])
    example = message["examples"][0]
    jsonschema.Draft7Validator(headers_schema).validate(example["headers"])
    assert example["headers"]["ce_type"] == spec.ce_type
    assert example["payload"] == json.loads(example_for(spec.model).model_dump_json())
    assert message["bindings"]["kafka"]["key"]["type"] == "string"
