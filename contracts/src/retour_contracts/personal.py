"""Which fields hold personal data, read from the ``x-personal-data`` marks of the schemas.

Derived rather than listed so that a field added to a personal object is automatically covered
by every check built on this list (reporting tests its catalogue against it).
"""

from collections.abc import Mapping
from functools import cache
from typing import Any

from retour_contracts.catalog import CATALOG
from retour_contracts.jsonref import DATA_KEYWORDS, resolve_ref
from retour_contracts.models import PERSONAL_DATA_MARK
from retour_contracts.schemas import event_json_schema


@cache
def personal_field_names() -> frozenset[str]:
    """Names of every field inside a personal-data object, in any event of the catalogue."""
    names: set[str] = set()
    for spec in CATALOG:
        schema = event_json_schema(spec)
        _collect(schema, schema, marked=False, names=names, seen=set())
    return frozenset(names)


def marked_field_names(schema: Mapping[str, Any]) -> frozenset[str]:
    """Field names inside objects marked as personal data in one JSON Schema document."""
    names: set[str] = set()
    _collect(schema, schema, marked=False, names=names, seen=set())
    return frozenset(names)


def _collect(
    node: Any,
    root: Mapping[str, Any],
    *,
    marked: bool,
    names: set[str],
    seen: set[tuple[str, bool]],
) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, root, marked=marked, names=names, seen=seen)
        return
    if not isinstance(node, Mapping):
        return
    marked = marked or node.get(PERSONAL_DATA_MARK) is True
    ref = node.get("$ref")
    if isinstance(ref, str) and (ref, marked) not in seen:
        seen.add((ref, marked))  # definitions may be recursive
        _collect(resolve_ref(root, ref), root, marked=marked, names=names, seen=seen)
    properties = node.get("properties")
    if isinstance(properties, Mapping):
        if marked:
            names.update(properties)
        for sub in properties.values():
            _collect(sub, root, marked=marked, names=names, seen=seen)
    for keyword, value in node.items():
        # Definitions are reached through $ref only, so an unused one adds nothing.
        if keyword in {"properties", "$defs", "definitions"} or keyword in DATA_KEYWORDS:
            continue
        _collect(value, root, marked=marked, names=names, seen=seen)
