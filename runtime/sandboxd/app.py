"""The sandboxd ASGI application: token check, a small router, one error format.

Plain ASGI (no web framework) so the daemon answers within milliseconds of starting: this module
imports only the standard library and ``runtime.errors``. The route handlers (``routes``) and the
pydantic wire models load on the first request that needs them (``__main__`` warms them in the
background right after the socket listens).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import importlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from runtime.errors import HangarError, InfraError, InputError, NotFound
from runtime.sandboxd.paths import Workspace

if TYPE_CHECKING:
    from runtime.sandboxd.browser import Browser
    from runtime.sandboxd.procs import Children
    from runtime.sandboxd.pysession import PythonSessions
    from runtime.sandboxd.shell import ShellSessions

VERSION = "0.1.0"
MAX_JSON_BODY = 32 * 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("sandboxd")


class Unauthorized(InputError):
    code = "unauthorized"
    http_status = 401


class ClientGone(Exception):
    """The client disconnected before the request body was read."""


@dataclass(frozen=True)
class Config:
    token: str
    workspace: str = "/workspace"
    reap_all_children: bool = False
    """Reap every child on SIGCHLD (the daemon, PID 1 of its box); off when running in-process."""


@dataclass
class Response:
    body: bytes | AsyncIterator[bytes] = b"{}"
    status: int = 200
    content_type: str = "application/json"


def json_response(data: object, status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":")).encode(), status)


def error_response(err: HangarError) -> Response:
    return json_response(err.to_body(), err.http_status)


class Request:
    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self._receive = receive
        self._body_done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The request body, streamed."""
        while not self._body_done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            self._body_done = not message.get("more_body", False)
            if body := message.get("body"):
                yield body

    async def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise InputError(f"request body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def disconnected(self) -> None:
        """Return when the client goes away (after the body was read)."""
        with contextlib.suppress(ClientGone):
            async for _ in self.chunks():
                pass
        while (await self._receive())["type"] != "http.disconnect":
            pass


Handler = Callable[["Daemon", Request], Awaitable[Response]]

ROUTES: dict[str, tuple[str, str]] = {
    "/health": ("GET", "runtime.sandboxd.app:health"),
    "/shutdown": ("POST", "runtime.sandboxd.app:shutdown"),
    "/exec": ("POST", "runtime.sandboxd.routes:exec_command"),
    "/shell/run": ("POST", "runtime.sandboxd.routes:shell_run"),
    "/shell/close": ("POST", "runtime.sandboxd.routes:shell_close"),
    "/python/run": ("POST", "runtime.sandboxd.routes:python_run"),
    "/python/close": ("POST", "runtime.sandboxd.routes:python_close"),
    "/files/list": ("POST", "runtime.sandboxd.routes:files_list"),
    "/files/stat": ("POST", "runtime.sandboxd.routes:files_stat"),
    "/files/read": ("POST", "runtime.sandboxd.routes:files_read"),
    "/files/write": ("POST", "runtime.sandboxd.routes:files_write"),
    "/files/mkdir": ("POST", "runtime.sandboxd.routes:files_mkdir"),
    "/files/move": ("POST", "runtime.sandboxd.routes:files_move"),
    "/files/delete": ("POST", "runtime.sandboxd.routes:files_delete"),
    "/files/upload": ("POST", "runtime.sandboxd.routes:files_upload"),
    "/files/download": ("POST", "runtime.sandboxd.routes:files_download"),
    "/files/usage": ("POST", "runtime.sandboxd.routes:files_usage"),
    "/browser": ("POST", "runtime.sandboxd.routes:browser_action"),
}


def _load(target: str) -> Handler:
    module, _, name = target.partition(":")
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


@dataclass
class Daemon:
    """State shared by the handlers: config, child watcher, sessions, the browser."""

    config: Config
    started: float = field(default_factory=time.monotonic)
    shutdown_requested: asyncio.Event = field(default_factory=asyncio.Event)
    children: Children | None = None
    shells: ShellSessions | None = None
    pythons: PythonSessions | None = None
    browser: Browser | None = None
    workspace: Workspace = field(init=False)

    def __post_init__(self) -> None:
        self.workspace = Workspace(self.config.workspace)

    def get_children(self) -> Children:
        if self.children is None:
            from runtime.sandboxd.procs import Children

            self.children = Children(reap_all=self.config.reap_all_children)
            self.children.start()
        return self.children

    async def aclose(self) -> None:
        """Stop every session and the browser (idempotent)."""
        for sessions in (self.shells, self.pythons):
            if sessions is not None:
                await sessions.close_all()
        if self.browser is not None:
            browser, self.browser = self.browser, None
            try:
                await browser.close()
            except Exception:
                log.exception("closing the browser failed")
        if self.children is not None:
            self.children.close()
            self.children = None


async def health(daemon: Daemon, req: Request) -> Response:
    browser = daemon.browser.state if daemon.browser is not None else "stopped"
    return json_response({
        "status": "ok", "version": VERSION, "pid": os.getpid(),
        "uptime_s": time.monotonic() - daemon.started, "browser": browser,
    })


async def shutdown(daemon: Daemon, req: Request) -> Response:
    daemon.shutdown_requested.set()
    return json_response({})


class App:
    """The ASGI callable. ``daemon`` holds the state; ``aclose`` stops sessions and the browser."""

    def __init__(self, config: Config) -> None:
        self.daemon = Daemon(config)
        self._token = f"Bearer {config.token}".encode()
        self._handlers: dict[str, Handler] = {}

    async def aclose(self) -> None:
        await self.daemon.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        req = Request(scope, receive)
        try:
            response = await self._dispatch(req)
        except ClientGone:
            return
        await _send(response, req, send)

    async def _dispatch(self, req: Request) -> Response:
        try:
            self._authorize(req)
            return await self._handler(req)(self.daemon, req)
        except HangarError as e:
            return error_response(e)
        except ClientGone:
            raise
        except OSError as e:
            return error_response(_os_error(e))
        except Exception as e:
            if type(e).__module__.startswith("pydantic"):  # a ValidationError; pydantic loads lazily
                return error_response(InputError(_validation_message(e)))
            log.exception("unexpected error in %s %s", req.method, req.path)
            return error_response(HangarError(f"internal error: {type(e).__name__}: {e}"))

    def _authorize(self, req: Request) -> None:
        given = req.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, self._token):
            raise Unauthorized("missing or wrong sandboxd token" if given else "missing sandboxd token")

    def _handler(self, req: Request) -> Handler:
        route = ROUTES.get(req.path)
        if route is None:
            raise NotFound(f"no route {req.path!r}")
        method, target = route
        if req.method != method:
            raise InputError(f"{req.path} expects {method}, not {req.method}")
        if target not in self._handlers:
            self._handlers[target] = _load(target)
        return self._handlers[target]


def _os_error(e: OSError) -> HangarError:
    """File-system failures: the caller's doing (permissions, read-only paths) or the box's (full disk)."""
    where = f": {e.filename}" if e.filename else ""
    message = f"{e.strerror or type(e).__name__}{where}"
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EMFILE):
        return InfraError(message, retryable=False)
    return InputError(message)


def _validation_message(e: Exception) -> str:
    errors: list[dict[str, Any]] = e.errors()  # type: ignore[attr-defined]
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


async def _send(response: Response, req: Request, send: Send) -> None:
    headers = [(b"content-type", response.content_type.encode())]
    if isinstance(response.body, bytes):
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
        return
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await _stream(response.body, req, send)


async def _stream(body: AsyncIterator[bytes], req: Request, send: Send) -> None:
    """Send chunks as they come; when the client disconnects, cancel the producer (which kills
    whatever it was running) instead of waiting for its next chunk."""

    async def pump() -> None:
        async for chunk in body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    pumping = asyncio.create_task(pump())
    watching = asyncio.create_task(req.disconnected())
    try:
        await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watching.cancel()
        if not pumping.done():
            pumping.cancel()
        await asyncio.gather(pumping, watching, return_exceptions=True)
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
    if pumping.cancelled():
        return
    if (error := pumping.exception()) is not None:
        log.error("response stream of %s failed: %r", req.path, error)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(config: Config) -> App:
    return App(config)
