"""Steps that create or remove resources run to their end even when their caller is cancelled.

A cancelled ``await`` of a blocking engine call does not stop the call: the container or volume it
creates appears a moment later, after any cleanup that ran at once. :func:`to_the_end` waits for
the step (cancellations meanwhile included) and only then lets the cancellation propagate, so the
cleanup that follows knows what exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def to_the_end(step: Awaitable[T]) -> T:
    """``await step``, shielded: a cancellation of the caller waits until the step ended, then is
    raised (as ``CancelledError``, whatever the step's outcome)."""
    task = asyncio.ensure_future(step)
    interrupted = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            interrupted = True
        except BaseException:
            break  # the step failed: its error is raised below (or the cancellation is)
    if interrupted:
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller sees
        raise asyncio.CancelledError
    return task.result()
