"""A Hangar server inside the calling process (``hangar demo``, tests, benchmarks): uvicorn on a
free loopback port, served on the caller's event loop, so the caller talks to it over real HTTP
with the real google-genai client."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Self

import uvicorn

from runtime.config import Settings
from runtime.errors import InfraError


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the signals belong to the program that hosts this server


class LocalServer:
    """``async with LocalServer(settings) as server: server.url``. The lifespan (store, worker,
    sandbox provider) runs on start; stop waits for it to close."""

    def __init__(self, settings: Settings, *, start_timeout_s: float = 60.0) -> None:
        self.settings = settings
        self.start_timeout_s = start_timeout_s
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._port = 0

    @property
    def url(self) -> str:
        if not self._port:
            raise InfraError("the local server is not started", retryable=False)
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        from runtime.api import create_app

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else 40 ms Nagle stalls
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.settings), log_config=None, log_level="warning", access_log=False,
            ws="none", timeout_graceful_shutdown=3,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="hangar-local-server")
        async with asyncio.timeout(self.start_timeout_s):
            while not self._server.started:  # uvicorn has no start-up event
                if self._task.done():
                    break
                await asyncio.sleep(0.01)
        if not self._server.started:
            await self.stop()
            raise InfraError("the Hangar server did not start (see the log above)", retryable=False)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task
        self._server = self._task = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
