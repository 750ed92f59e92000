"""Reading request bodies: untrusted input, so size-capped while streaming and parsed strictly."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from runtime.errors import InputError


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, at most ``max_request_bytes`` (checked against Content-Length
    first, then while reading). Raises :class:`InputError` (HTTP 400) for anything else."""
    limit: int = request.app.state.settings.max_request_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise InputError(f"request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InputError(f"request body is larger than {limit} bytes")
    try:
        data: Any = json.loads(body or b"null")
    except ValueError as e:
        raise InputError(f"request body is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise InputError("request body must be a JSON object")
    return data
