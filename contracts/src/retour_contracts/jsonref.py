"""Resolve local ``$ref`` pointers (``#/$defs/Money``) inside one JSON Schema document."""

from collections.abc import Mapping
from typing import Any

# Keywords whose values are data, not subschemas: never walk into them looking for fields.
DATA_KEYWORDS = frozenset({"default", "examples", "const", "enum"})


def resolve_ref(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    """The subschema ``ref`` points to; ``KeyError`` for a remote or dangling reference."""
    if not ref.startswith("#"):
        raise KeyError(f"only local references are supported, got {ref!r}")
    node: Any = root
    for raw in ref[1:].split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")  # RFC 6901 escapes
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"dangling reference {ref!r}")
        node = node[part]
    if not isinstance(node, Mapping):
        raise KeyError(f"reference {ref!r} does not point to a schema object")
    return node
