"""The warm pool on real containers: fast acquire of a resumed box, cold fallback, refill, ageing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from runtime.sandbox.base import SandboxSpec, SandboxState
from runtime.sandbox.docker import DockerProvider, DockerSandbox
from runtime.sandbox.pool import PoolConfig, WarmPool

pytestmark = pytest.mark.docker


@pytest.fixture
def pool_spec(make_spec: Callable[..., SandboxSpec]) -> SandboxSpec:
    # A spec of its own (distinct key) so pools of different tests never share boxes.
    return make_spec(memory_mb=256, labels=(("test", "pool"),))


async def test_acquire_from_the_pool_is_fast_and_refills(
    provider: DockerProvider, pool_spec: SandboxSpec
) -> None:
    async with WarmPool(provider, PoolConfig(size=1)) as pool:
        pool.warm(pool_spec)
        await pool.wait_full(pool_spec)
        pooled = pool._idle[pool_spec.key()][0].box
        assert pooled.state is SandboxState.PAUSED

        started = time.monotonic()
        box = await pool.acquire(pool_spec)
        elapsed = time.monotonic() - started
        async with box:
            assert box is pooled
            assert box.state is SandboxState.READY
            assert elapsed < 0.5, f"warm acquire took {elapsed:.3f} s"
            assert (await box.client.exec(["echo", "warm"])).stdout == "warm\n"
            await pool.wait_full(pool_spec)  # refilled in the background
            assert pool.available(pool_spec) == 1


async def test_empty_pool_falls_back_to_a_cold_start(
    provider: DockerProvider, pool_spec: SandboxSpec
) -> None:
    async with WarmPool(provider, PoolConfig(size=0)) as pool, await pool.acquire(pool_spec) as box:
        assert box.state is SandboxState.READY
        assert (await box.client.exec(["true"])).exit_code == 0


async def test_dead_pooled_box_is_discarded(
    provider: DockerProvider, pool_spec: SandboxSpec, docker_client: Any
) -> None:
    async with WarmPool(provider, PoolConfig(size=1)) as pool:
        pool.warm(pool_spec)
        await pool.wait_full(pool_spec)
        doomed = pool._idle[pool_spec.key()][0].box
        assert isinstance(doomed, DockerSandbox)
        await asyncio.to_thread(docker_client.api.remove_container, doomed.container_id, force=True)
        async with await pool.acquire(pool_spec) as box:
            assert box is not doomed
            assert (await box.client.exec(["echo", "fine"])).stdout == "fine\n"


async def test_aged_boxes_are_replaced(provider: DockerProvider, pool_spec: SandboxSpec) -> None:
    # an age of a second: long enough that a loaded engine is not kept creating and removing boxes
    # back to back (a 0.3 s age once left dockerd stalled on a start), short enough for the test
    async with WarmPool(provider, PoolConfig(size=1, max_age_s=1.0, check_interval_s=0.2)) as pool:
        pool.warm(pool_spec)
        await pool.wait_full(pool_spec)
        first = pool._idle[pool_spec.key()][0].box
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            queue = pool._idle[pool_spec.key()]
            if queue and queue[0].box is not first:
                break
            await asyncio.sleep(0.05)
        assert pool._idle[pool_spec.key()][0].box is not first
        assert first.state is not SandboxState.PAUSED  # stopped (or stopping)
