"""SSE framing of an interaction's events, with keep-alive comments on quiet streams."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from fastapi.responses import StreamingResponse

from runtime.service import StoredEvent, render_event

KEEPALIVE = ": keep-alive\n\n"


async def frames(
    events: AsyncIterator[StoredEvent | None],
    keepalive_seconds: float,
    on_close: Callable[[], None] | None = None,
) -> AsyncIterator[str]:
    last_write = time.monotonic()
    try:
        async for event in events:
            if event is not None:
                yield render_event(event.seq, event.event)
            elif time.monotonic() - last_write >= keepalive_seconds:
                yield KEEPALIVE
            else:
                continue
            last_write = time.monotonic()
    finally:
        if on_close is not None:
            on_close()


def sse_response(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
