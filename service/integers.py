"""JSON Schema's integers: ``5.0`` is the integer 5, as the document promises.

JSON Schema counts any number without a fraction as an ``integer``, so ``{"epochs": 5.0}`` fits the
API document; pydantic's strict mode, which keeps ``true`` and ``"5"`` out of integer fields,
refuses it. Before strict validation, each integral float standing where the model's JSON schema
admits an integer and no other number becomes an int. Where a number could mean either (a
dataset's targets: 1 is a class label, 1.0 a value) the float stays a float.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel


def integral_floats_as_ints(model: type[BaseModel], document: Any) -> tuple[Any, bool]:
    """``document`` with its integral floats in integer-only places as ints, and whether any changed."""
    schema = _schema(model)
    changed = [False]
    converted = _convert(document, schema, schema.get("$defs", {}), changed)
    return converted, changed[0]


@cache
def _schema(model: type[BaseModel]) -> dict:
    return model.model_json_schema()


def _resolve(node: dict, definitions: dict) -> dict:
    while "$ref" in node:
        node = definitions[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _types(node: dict, definitions: dict) -> set[str]:
    """The JSON types a value may have where ``node`` applies."""
    node = _resolve(node, definitions)
    if "type" in node:
        return set(node["type"]) if isinstance(node["type"], list) else {node["type"]}
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        return set().union(*(_types(branch, definitions) for branch in branches))
    return {"array", "boolean", "integer", "null", "number", "object", "string"}  # No constraint.


def _convert(value: Any, node: dict, definitions: dict, changed: list[bool]) -> Any:
    node = _resolve(node, definitions)
    if isinstance(value, float):
        if value.is_integer() and _types(node, definitions) & {"integer", "number"} == {"integer"}:
            changed[0] = True
            return int(value)
        return value
    branch = _branch(value, node, definitions)
    if branch is not node:
        return value if branch is None else _convert(value, branch, definitions, changed)
    if isinstance(value, dict):
        properties, extra = node.get("properties", {}), node.get("additionalProperties")
        for key, item in value.items():
            child = properties.get(key, extra if isinstance(extra, dict) else None)
            if child is not None:
                value[key] = _convert(item, child, definitions, changed)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        items = node["items"]
        if _may_hold_integer(items, definitions):  # Rows of plain numbers are skipped whole.
            value[:] = [_convert(item, items, definitions, changed) for item in value]
    return value


def _branch(value: Any, node: dict, definitions: dict) -> dict | None:
    """The one union member an object or array ``value`` can be (``node`` itself when no union; None when unclear)."""
    branches = node.get("anyOf") or node.get("oneOf")
    if not branches:
        return node
    discriminator = node.get("discriminator")
    if discriminator and isinstance(value, dict):
        tag = value.get(discriminator["propertyName"])
        reference = discriminator.get("mapping", {}).get(tag) if isinstance(tag, str) else None
        return None if reference is None else _resolve({"$ref": reference}, definitions)
    kind = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else None
    fitting = [branch for branch in branches if kind in _types(branch, definitions)]
    return _resolve(fitting[0], definitions) if len(fitting) == 1 else None


def _may_hold_integer(node: dict, definitions: dict, seen: frozenset = frozenset()) -> bool:
    """Whether an integer-only place can occur in a value where ``node`` applies."""
    if "$ref" in node:
        if node["$ref"] in seen:
            return True
        seen = seen | {node["$ref"]}
    node = _resolve(node, definitions)
    types = _types(node, definitions)
    if "integer" in types and "number" not in types:
        return True
    children = [*node.get("properties", {}).values(), *(node.get("anyOf") or node.get("oneOf") or [])]
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            children.append(node[key])
    return any(_may_hold_integer(child, definitions, seen) for child in children)
