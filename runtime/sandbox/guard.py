"""A transport that knows which sandbox it talks to, so a dead box never hangs or confuses its caller.

Before each request it refuses to talk to a stopped, dead or paused box; when a request or a
streamed response fails at the transport level it asks the box whether its container died, which
turns a bare ``ReadError`` into ``SandboxGone("killed: out of memory (limit 256 MB)")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import httpx


class Watched(Protocol):
    def guard(self) -> None:
        """Raise when the box cannot take requests now."""

    async def on_transport_error(self, error: httpx.TransportError) -> None:
        """Raise ``SandboxGone`` when the box died; return to let ``error`` propagate."""


class GuardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self._box: Watched | None = None

    def bind(self, box: Watched) -> None:
        self._box = box

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._box is None:
            return await self._inner.handle_async_request(request)
        self._box.guard()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError as e:
            await self._box.on_transport_error(e)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code, headers=response.headers, extensions=response.extensions,
            stream=_GuardedStream(response.stream, self._box),
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _GuardedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, box: Watched) -> None:
        self._inner = inner
        self._box = box

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except httpx.TransportError as e:
            await self._box.on_transport_error(e)
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()
