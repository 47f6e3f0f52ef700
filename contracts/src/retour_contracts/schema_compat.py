"""Rule-based backward-compatibility diff of two JSON Schemas of the same event version.

Within one schema version, an old consumer must keep reading what a new producer writes and a
new consumer must keep reading the records already retained in Kafka. The rules flag what breaks
that for the schemas pydantic generates:

* a field removed or renamed;
* a type changed: JSON type, ``format``, ``$ref`` target, or nullable -> non-null;
* a new required field (or an optional field becoming required);
* an enum value removed (or a free value restricted to an enum);
* ``additionalProperties: false`` introduced (old producers' extra fields become invalid).

Adding an optional field or an enum value is compatible. Constraints such as ``pattern``,
``minimum`` or ``maxLength`` are not compared: review those by hand.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from retour_contracts.jsonref import resolve_ref

Schema = Mapping[str, Any]
ROOT = "(root)"


@dataclass(frozen=True)
class BreakingChange:
    """One incompatibility; ``path`` names the field (``amount.currency``, ``shares[].amount``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"field '{self.path}' {self.message}"


@dataclass(frozen=True)
class _Variant:
    """One non-null alternative of a (possibly nullable, possibly union) schema."""

    schema: Schema
    ref: str | None
    type: str | None
    format: str | None

    @property
    def signature(self) -> tuple[str | None, str | None, str | None]:
        return (self.ref, self.type, self.format)

    @property
    def is_any(self) -> bool:
        return self.ref is None and self.type is None and not _enum_of(self.schema)

    def describe(self) -> str:
        if self.ref is not None:
            return f"$ref {self.ref.rsplit('/', 1)[-1]}"
        text = self.type or "any"
        return f"{text} ({self.format})" if self.format else text


def breaking_changes(old: Schema, new: Schema) -> list[BreakingChange]:
    """Every change from ``old`` to ``new`` that breaks producers or consumers of ``old``."""
    differ = _Differ(old, new)
    differ.compare(old, new, "")
    return differ.changes


class _Differ:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.changes: list[BreakingChange] = []
        # $ref pairs on the current descent path: stops recursive definitions from looping
        # while still reporting a shared definition (Money) at every place it is used.
        self._stack: set[tuple[str | None, str | None]] = set()

    def report(self, path: str, message: str) -> None:
        self.changes.append(BreakingChange(path or ROOT, message))

    def compare(self, old: Schema, new: Schema, path: str) -> None:
        old_variants, old_nullable = _split(old, self.old_root)
        new_variants, new_nullable = _split(new, self.new_root)
        if old_nullable and not new_nullable:
            self.report(path, "changed from nullable to non-null")
        if any(variant.is_any for variant in new_variants):
            return  # the new schema accepts anything there
        if len(old_variants) == 1 and len(new_variants) == 1:
            self._compare_variant(old_variants[0], new_variants[0], path)
            return
        for old_variant in old_variants:
            match = next((v for v in new_variants if v.signature == old_variant.signature), None)
            if match is None:
                choices = " | ".join(v.describe() for v in new_variants) or "null"
                self.report(path, f"type changed from {old_variant.describe()} to {choices}")
            else:
                self._compare_variant(old_variant, match, path)

    def _compare_variant(self, old: _Variant, new: _Variant, path: str) -> None:
        if old.signature != new.signature:
            self.report(path, f"type changed from {old.describe()} to {new.describe()}")
            return
        refs = (old.ref, new.ref)
        if old.ref is not None and refs in self._stack:
            return
        self._stack.add(refs)
        try:
            self._compare_enum(old.schema, new.schema, path)
            self._compare_object(old.schema, new.schema, path)
            old_items, new_items = old.schema.get("items"), new.schema.get("items")
            if isinstance(old_items, Mapping) and isinstance(new_items, Mapping):
                self.compare(old_items, new_items, f"{path}[]")
        finally:
            self._stack.discard(refs)

    def _compare_enum(self, old: Schema, new: Schema, path: str) -> None:
        old_values, new_values = _enum_of(old), _enum_of(new)
        if new_values is None:
            return
        if old_values is None:
            self.report(path, f"restricted to the values {new_values}")
            return
        for value in old_values:
            if value not in new_values:
                self.report(path, f"enum value {value!r} removed")

    def _compare_object(self, old: Schema, new: Schema, path: str) -> None:
        old_props: Mapping[str, Schema] = old.get("properties", {})
        new_props: Mapping[str, Schema] = new.get("properties", {})
        for name, old_prop in old_props.items():
            child = f"{path}.{name}" if path else name
            if name not in new_props:
                self.report(child, "removed or renamed")
            else:
                self.compare(old_prop, new_props[name], child)
        old_required = set(old.get("required", ()))
        for name in new.get("required", ()):
            if name not in old_required:
                child = f"{path}.{name}" if path else name
                was = "optional field became" if name in old_props else "new field is"
                self.report(child, f"{was} required")
        if old.get("additionalProperties", True) is not False and (
            new.get("additionalProperties") is False
        ):
            self.report(path, "additionalProperties false introduced")


def _enum_of(schema: Schema) -> list[Any] | None:
    if "enum" in schema:
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    return None


def _split(node: Schema, root: Schema) -> tuple[list[_Variant], bool]:
    """Non-null alternatives of ``node`` (refs resolved, unions flattened) and its nullability."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        return [_variant(resolve_ref(root, ref), ref)], False
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:  # older pydantic wraps a $ref this way
        return _split(all_of[0], root)
    for keyword in ("anyOf", "oneOf"):
        options = node.get(keyword)
        if isinstance(options, list):
            variants: list[_Variant] = []
            nullable = False
            for option in options:
                option_variants, option_nullable = _split(option, root)
                variants.extend(option_variants)
                nullable = nullable or option_nullable
            return variants, nullable
    types = node.get("type")
    if isinstance(types, list):
        concrete = [t for t in types if t != "null"]
        return [_variant({**node, "type": t}, None) for t in concrete], "null" in types
    if types == "null":
        return [], True
    return [_variant(node, None)], False


def _variant(schema: Schema, ref: str | None) -> _Variant:
    kind = schema.get("type")
    fmt = schema.get("format")
    return _Variant(
        schema=schema,
        ref=ref,
        type=kind if isinstance(kind, str) else None,
        format=fmt if isinstance(fmt, str) else None,
    )
