"""Pydantic argument models -> the strict JSON Schema OpenAI function calling accepts.

Strict mode wants every object closed (`additionalProperties: false`), every property
listed in `required` (optional ones are nullable instead), no `$ref` with siblings, and
only the keywords it supports. Length limits are not among them, so they move into the
description; the executor enforces them anyway when it parses the arguments.
"""

from typing import Any

from pydantic import BaseModel

_DROPPED = frozenset({"title", "default", "examples"})
_MOVED_TO_DESCRIPTION = {
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
}


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return _strict(schema, definitions)


def _strict(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        resolved = definitions[node["$ref"].rsplit("/", 1)[-1]]
        node = {**resolved, **{k: v for k, v in node.items() if k != "$ref"}}
    result: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key in _MOVED_TO_DESCRIPTION:
            notes[key] = _MOVED_TO_DESCRIPTION[key].format(value)
        elif key == "properties":
            result[key] = {name: _strict(sub, definitions) for name, sub in value.items()}
        elif key == "items":
            result[key] = _strict(value, definitions)
        elif key == "anyOf":
            result[key] = [_strict(variant, definitions) for variant in value]
        else:
            result[key] = value
    if result.get("type") == "object":
        result["additionalProperties"] = False
        result["required"] = list(result.get("properties", {}))
    if notes:
        described = result.get("description", "").rstrip(". ")
        limits = ", ".join(notes[key] for key in _MOVED_TO_DESCRIPTION if key in notes)
        result["description"] = f"{described} ({limits})".strip()
    return result
