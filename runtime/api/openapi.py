"""OpenAPI request bodies for routes that read their JSON themselves (to cap its size and turn
every problem into the API's 400): the schema is the one of the model the route validates with."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, TypeAdapter


def request_body(
    model: type[BaseModel] | TypeAdapter[Any], *, only: Collection[str] | None = None, required: bool = True
) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is validated with ``model`` (a model, or the
    ``TypeAdapter`` of a discriminated union); ``only``: the fields of it the route accepts (any
    other is refused); ``required=False``: an empty body is read as ``{}``."""
    if isinstance(model, TypeAdapter):
        schema = model.json_schema(by_alias=True)
    else:
        schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})
    schema.pop("$schema", None)
    if only is not None:
        schema["properties"] = {k: v for k, v in schema["properties"].items() if k in only}
        schema["required"] = [k for k in schema.get("required", []) if k in only]
        schema["additionalProperties"] = False
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": _inline(schema, defs)}},
        }
    }


def raw_body(description: str, *, required: bool = False) -> dict[str, Any]:
    """``openapi_extra`` for a route that streams its body as bytes (file uploads)."""
    schema = {"type": "string", "format": "binary"}
    return {
        "requestBody": {
            "required": required,
            "description": description,
            "content": {"application/octet-stream": {"schema": schema}},
        }
    }


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``#/$defs/...`` reference replaced by its definition (the models have
    no recursive definitions), so the schema stands alone inside the OpenAPI document."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**_inline(defs[ref.removeprefix("#/$defs/")], defs), **_inline(rest, defs)}
    return {key: _inline(_without_mapping(key, value), defs) for key, value in node.items()}


def _without_mapping(key: str, value: Any) -> Any:
    """A ``discriminator`` without its ``mapping``: that names ``$defs`` entries, which are inlined
    (the variants still tell themselves apart by their ``propertyName`` constant)."""
    if key == "discriminator" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "mapping"}
    return value
