"""``to_the_end``: a step that creates or removes resources is not abandoned by a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from runtime.sandbox.cleanup import to_the_end


async def test_a_cancelled_caller_waits_for_the_step_then_is_cancelled() -> None:
    started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def step() -> str:
        started.set()
        await release.wait()
        finished.set()
        return "made"

    caller = asyncio.create_task(to_the_end(step()))
    await started.wait()
    caller.cancel()
    await asyncio.sleep(0)
    caller.cancel()  # cancelled again while it waits: still waits
    await asyncio.sleep(0)
    assert not caller.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert finished.is_set()


async def test_a_cancelled_caller_is_cancelled_even_when_the_step_failed() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def step() -> None:
        started.set()
        await release.wait()
        raise ValueError("boom")

    caller = asyncio.create_task(to_the_end(step()))
    await started.wait()
    caller.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_without_a_cancellation_the_result_or_error_is_the_steps() -> None:
    async def ok() -> int:
        return 7

    async def bad() -> None:
        raise ValueError("boom")

    assert await to_the_end(ok()) == 7
    with pytest.raises(ValueError, match="boom"):
        await to_the_end(bad())
