"""Reading request bodies: untrusted input, so size-capped while streaming (by
:class:`~runtime.api.middleware.BodyLimit` for every route) and parsed strictly, nesting bounded."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from runtime.errors import InputError
from runtime.wire import describe

M = TypeVar("M", bound=BaseModel)


class RequestTooLarge(InputError):
    """The request body is larger than the route's limit (HTTP 413)."""

    code = "request_too_large"
    http_status = 413


async def json_object(request: Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The body as a JSON object, at most ``max_request_bytes`` and ``max_json_depth`` deep.
    Raises :class:`InputError` (HTTP 400) for anything else, :class:`RequestTooLarge` (413)."""
    settings = request.app.state.settings
    limit: int = settings.max_request_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLarge(f"request body is larger than {limit} bytes")
    if empty_ok and not body.strip():
        return {}
    return parse_object(bytes(body), max_depth=settings.max_json_depth)


async def json_model(request: Request, model: type[M], *, empty_ok: bool = False) -> M:
    """The body validated as ``model`` (read like :func:`json_object`; call it after the caller is
    authenticated). An empty body is ``{}`` when ``empty_ok``. Raises :class:`InputError` naming
    the field."""
    data = await json_object(request, empty_ok=empty_ok)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InputError(describe(e) or "invalid request body") from e


def parse_object(body: bytes, *, max_depth: int) -> dict[str, Any]:
    """``body`` as a JSON object nested at most ``max_depth`` levels. Raises :class:`InputError`."""
    too_deep = InputError(f"request body is nested deeper than {max_depth} levels")
    try:
        data: Any = json.loads(body or b"null")
    except RecursionError as e:
        raise too_deep from e
    except ValueError as e:
        raise InputError(f"request body is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise InputError("request body must be a JSON object")
    if depth_exceeds(data, max_depth):
        raise too_deep
    return data


def depth_exceeds(value: object, max_depth: int) -> bool:
    """Whether ``value`` nests containers deeper than ``max_depth`` (walked without recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: list[Any] | None = None
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        if children is None:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
