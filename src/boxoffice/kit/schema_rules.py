"""Rules across a request body's fields, as JSON Schema for the model's `json_schema_extra`.

A model's validator checks them; these put the same rules in the OpenAPI document, so what
it calls valid is what the API accepts (`tests/test_documented_rules.py` holds both to one
verdict). A field "given" is sent and not null; "unset" is absent or null.
"""

from collections.abc import Mapping
from typing import Any

Schema = dict[str, Any]

UNIQUE: Schema = {"uniqueItems": True}
"""For a list field's `json_schema_extra`, where the validator refuses repeats."""


def given(**kinds: str) -> Schema:
    """Each named field is sent, not null, of its JSON type."""
    return {"required": list(kinds), "properties": {n: {"type": k} for n, k in kinds.items()}}


def unset(*names: str) -> Schema:
    """None of the named fields carries a value."""
    return {"properties": {name: {"type": "null"} for name in names}}


def both(*schemas: Schema) -> Schema:
    """Every schema holds; `properties` and `required` merged into one schema."""
    merged: Schema = {"required": [], "properties": {}}
    for schema in schemas:
        merged["required"] += schema.get("required", [])
        merged["properties"] |= schema.get("properties", {})
    if not merged["required"]:
        del merged["required"]
    return merged


def one_way(*ways: Mapping[str, str]) -> Schema:
    """Exactly one way is taken: its fields given, every other way's fields unset."""
    names = [name for way in ways for name in way]
    return {
        "oneOf": [both(unset(*(n for n in names if n not in way)), given(**way)) for way in ways]
    }


def at_least_one(**kinds: str) -> Schema:
    """One or more of the named fields is given."""
    return {"anyOf": [given(**{name: kind}) for name, kind in kinds.items()]}


def all_or_none(**kinds: str) -> Schema:
    """The named fields are all given, or none of them is."""
    return {"anyOf": [given(**kinds), unset(*kinds)]}


def when(field: str, value: Any, then: Schema, otherwise: Schema | None = None) -> Schema:
    """`then` holds when `field` is sent with `value`; `otherwise` when it is not."""
    rule: Schema = {
        "if": {"required": [field], "properties": {field: {"const": value}}},
        "then": then,
    }
    if otherwise is not None:
        rule["else"] = otherwise
    return rule
