"""ASGI middleware: request metrics, and an optional deployment path prefix."""

from __future__ import annotations

import time

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime import metrics

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
