"""ASGI middleware: request metrics, the request-size limit, and an optional deployment path prefix."""

from __future__ import annotations

import json
import time

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime import metrics
from runtime.api.body import RequestTooLarge

ROUTE_KEY = "hangar_route"


async def remember_route(request: Request) -> None:
    """App-wide dependency: note the matched route template for :class:`RequestMetrics` (the scope
    it sees is a copy, the ``state`` dict inside it is shared)."""
    route = request.scope.get("route")
    setattr(request.state, ROUTE_KEY, getattr(route, "path", "unmatched"))


class RequestMetrics:
    """Counts requests and their latency by route template (never by raw path: ids would explode
    the label set)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        state: dict[str, object] = scope.setdefault("state", {})  # shared with the copies below us

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = str(state.get(ROUTE_KEY, "unmatched"))
            method = scope["method"]
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)


class PathPrefix:
    """Serves ``{prefix}/…`` as ``/…`` (the prefix becomes the root path, so URLs the app builds,
    like upload session URLs, keep it); unprefixed requests pass unchanged."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and (
            path == self.prefix or path.startswith(self.prefix + "/")
        ):
            scope = dict(scope, root_path=scope.get("root_path", "") + self.prefix)
        await self.app(scope, receive, send)


UPLOAD_PREFIX = "/upload/"


class BodyLimit:
    """One request-size limit for every route, enforced while the body is read: a declared
    ``Content-Length`` over the limit is answered 413 before anything is read, and a body that
    grows past it (chunked, or lying about its length) makes the next ``receive`` raise
    :class:`RequestTooLarge` (413) — nothing past the limit is ever buffered. ``/upload/`` routes
    get ``upload_limit`` (their handlers keep their own, finer checks)."""

    def __init__(self, app: ASGIApp, *, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = max(upload_limit, limit)

    def limit_for(self, scope: Scope) -> int:
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        return self.upload_limit if path.startswith(UPLOAD_PREFIX) else self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        too_large = RequestTooLarge(f"request body is larger than {limit} bytes")
        declared = dict(scope.get("headers", ())).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _error(send, too_large)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large
            return message

        async def watch_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watch_start)
        except RequestTooLarge:
            if started:
                raise
            await _error(send, too_large)


async def _error(send: Send, error: RequestTooLarge) -> None:
    body = json.dumps({"error": {"code": error.code, "message": error.message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
