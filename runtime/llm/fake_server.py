"""``FakeGemini``: a scripted Gemini REST server on loopback, for tests, demos and offline use.

It serves the routes google-genai calls: ``POST /{version}/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse`` (``data: {json}\\r\\n\\r\\n`` frames, as the SDK's SSE reader
expects). Point the real client at it::

    async with FakeGemini([turn("hi")]) as fake:
        client = GeminiClient(api_key="fake", base_url=fake.base_url)
        ...
        fake.assert_done()

It fails loudly: a call past the end of the script gets HTTP 500 naming the problem, a failed
expectation gets HTTP 400 (not retried, so the test stops there), and both are recorded so that
:meth:`FakeGemini.assert_done` raises even if the code under test swallowed the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from runtime.llm.script import JsonDict, ResponseFunction, ScriptedTurn, ScriptRunner, dumps


class FakeGemini:
    """Replays a script (or a :data:`ResponseFunction`) over HTTP on ``127.0.0.1``.

    ``requests`` holds every request body as JSON, in order; ``paths`` the matching URL paths.
    """

    def __init__(self, script: Sequence[ScriptedTurn] | ResponseFunction, *, stream_pieces: int = 2) -> None:
        self.runner = ScriptRunner(script)
        self.paths: list[str] = []
        self._stream_pieces = stream_pieces
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._port = 0

    @property
    def base_url(self) -> str:
        """Give this to ``HttpOptions(base_url=...)`` / ``GeminiClient(base_url=...)``."""
        if not self._port:
            raise RuntimeError("FakeGemini is not started")
        return f"http://127.0.0.1:{self._port}/"

    @property
    def requests(self) -> list[JsonDict]:
        return self.runner.requests

    @property
    def failures(self) -> list[str]:
        return self.runner.failures

    def assert_done(self) -> None:
        """Raise ``AssertionError`` if a call was unexpected, an expectation failed or turns remain."""
        self.runner.assert_done()

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app(), log_config=None, log_level="warning", access_log=False, lifespan="off", ws="none",
            timeout_graceful_shutdown=2,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="fake-gemini")
        while not self._server.started:
            if self._task.done():
                await self._task  # surfaces the start-up error
                raise RuntimeError("FakeGemini stopped during start-up")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            self._server.exit_requested.set()
            await self._task
        self._server = self._task = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def app(self) -> Starlette:
        """The ASGI app alone (e.g. for ``httpx.ASGITransport``)."""
        return Starlette(routes=[Route("/{version}/models/{target:path}", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        target = request.path_params["target"]
        model, _, method = target.partition(":")
        self.paths.append(request.url.path)
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"FakeGemini: unknown method {method!r} in {request.url.path}")
        try:
            body: JsonDict = json.loads(await request.body())
        except json.JSONDecodeError as e:
            return _error(400, f"FakeGemini: request body is not JSON: {e}")
        turn, reason = await self.runner.next_turn(body)
        if turn is None:
            status = 500 if reason and "unexpected call" in reason else 400
            return _error(status, f"FakeGemini: {reason}")
        if turn.delay_s:
            await asyncio.sleep(turn.delay_s)
        if turn.status is not None:
            headers = {"Retry-After": _fmt(turn.retry_after)} if turn.retry_after is not None else None
            return JSONResponse(turn.error_json(), status_code=turn.status, headers=headers)
        if method == "generateContent":
            return Response(dumps(turn.response_json(model)), media_type="application/json")
        if request.query_params.get("alt") != "sse":
            return _error(400, "FakeGemini: streamGenerateContent without alt=sse is not supported")
        frames = turn.stream_json(model, pieces=self._stream_pieces)
        return StreamingResponse(_sse(frames), media_type="text/event-stream")


class _QuietServer(uvicorn.Server):
    """Leaves the process's signal handlers alone (the fake lives inside someone else's program)
    and stops as soon as asked, instead of on uvicorn's next 0.1 s tick."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        await self.on_tick(0)
        await self.exit_requested.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's own shutdown sleeps a fixed 0.1 s and polls every 0.1 s; a fake cannot afford it.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        for _ in range(40):
            if not (state.connections or state.tasks):
                return
            await asyncio.sleep(0.005)
        pending = list(state.tasks)  # still answering requests nobody waits for any more
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def _sse(frames: list[JsonDict]) -> AsyncIterator[bytes]:
    for frame in frames:
        yield f"data: {dumps(frame)}\r\n\r\n".encode()


def _error(status: int, message: str) -> JSONResponse:
    name = {400: "FAILED_PRECONDITION", 404: "NOT_FOUND"}.get(status, "INTERNAL")
    return JSONResponse({"error": {"code": status, "message": message, "status": name}}, status)


def _fmt(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
