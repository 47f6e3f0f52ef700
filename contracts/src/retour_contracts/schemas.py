"""JSON Schema (draft 2020-12) of each event version, as committed under contracts/schemas/."""

import json
from collections.abc import Iterable
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema

from retour_contracts.catalog import EventSpec
from retour_contracts.models import PERSONAL_DATA_MARK

DIALECT = "https://json-schema.org/draft/2020-12/schema"
GENERATED_NOTE = (
    "Generated from the retour_contracts models; do not edit. Regenerate with `make contracts`."
)


class ContractJsonSchema(GenerateJsonSchema):
    """pydantic's generator, keeping the personal-data mark next to a ``$ref``.

    pydantic drops sibling keys of a ``$ref`` that repeat the referenced definition; the mark is
    kept on the property too so a reader of the event schema sees it where the field is.
    """

    def handle_ref_overrides(self, json_schema: JsonSchemaValue) -> JsonSchemaValue:
        marked = json_schema.get(PERSONAL_DATA_MARK) is True
        result = super().handle_ref_overrides(json_schema)
        if marked and PERSONAL_DATA_MARK not in result:
            result = {**result, PERSONAL_DATA_MARK: True}
        return result


def event_json_schema(spec: EventSpec[Any]) -> dict[str, Any]:
    """Standalone JSON Schema of one event version, with ``$schema``, ``$id`` and metadata."""
    body = spec.model.model_json_schema(schema_generator=ContractJsonSchema)
    return {
        "$schema": DIALECT,
        "$id": spec.schema_id,
        "$comment": GENERATED_NOTE,
        "x-topic": spec.topic,
        "x-ce-type": spec.ce_type,
        "x-schema-version": spec.version,
        **body,
    }


def components_schemas(
    specs: Iterable[EventSpec[Any]], ref_template: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """Schemas of several events sharing one definitions table (AsyncAPI ``components``).

    Returns the ``$ref`` of each event by name, and the definitions.
    """
    specs = tuple(specs)
    refs, top = models_json_schema(
        [(spec.model, "validation") for spec in specs],
        ref_template=ref_template,
        schema_generator=ContractJsonSchema,
    )
    by_name = {spec.name: refs[(spec.model, "validation")]["$ref"] for spec in specs}
    return by_name, dict(top.get("$defs", {}))


def render_json(document: Any) -> str:
    """Stable text form: sorted keys, two-space indent, UTF-8 kept readable, final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
