"""Waking a kept box ahead of its run, on real containers: ``wake`` resumes it before anybody asks
for it, the run's ``create`` takes it as it is (sessions intact), the sweep leaves a woken box
alone, and one nobody takes is paused again, still kept. A pooled box has run one call through the
daemon's request handlers before it is paused (they load in the background after start-up)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from runtime.sandbox import pooled as pooled_module
from runtime.sandbox.base import Sandbox, SandboxSpec, SandboxState
from runtime.sandbox.docker import DockerProvider
from runtime.sandbox.pool import PoolConfig, WarmPool
from runtime.sandbox.pooled import PooledProvider, WarmConfig

pytestmark = pytest.mark.docker


@pytest.fixture
async def volume(provider: DockerProvider) -> AsyncIterator[str]:
    name = f"hangar-ws-test-wake-{secrets.token_hex(4)}"
    yield name
    await provider.remove_volume(name)


@pytest.fixture
async def pooled(provider: DockerProvider, volume: str) -> AsyncIterator[PooledProvider]:
    config = WarmConfig(pool_size=0, keep_seconds=60, min_free_mb=0, sweep_interval_s=0.1)
    warm = PooledProvider(provider, config)
    await warm.start_warm()
    yield warm
    await warm.close_warm()


def paused_in_engine(docker_client: Any, box: Any) -> bool:
    return bool(docker_client.api.inspect_container(box.container_id)["State"]["Paused"])


async def until(condition: Callable[[], bool], limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def test_a_woken_box_is_running_before_its_run_asks_and_is_taken_as_it_is(
    pooled: PooledProvider, make_spec: Callable[..., SandboxSpec], volume: str, docker_client: Any,
) -> None:
    spec = make_spec(workspace_volume=volume)
    box = await pooled.create(spec)
    await box.client.python("answer = 42")
    await pooled.release(box)
    assert paused_in_engine(docker_client, box)

    pooled.wake(volume)
    await until(lambda: box.state is SandboxState.READY)
    assert not paused_in_engine(docker_client, box)  # resumed with nobody asking for it yet
    await asyncio.sleep(0.5)  # several sweeps: a woken box is not taken for an abandoned one
    assert pooled.kept(volume) is box

    again = await pooled.create(spec)
    try:
        assert again is box and again.state is SandboxState.READY
        assert "42" in (await again.client.python("print(answer)")).stdout
    finally:
        await pooled.release(again, keep=False)


async def test_a_woken_box_nobody_takes_is_paused_again_and_still_kept(
    pooled: PooledProvider, make_spec: Callable[..., SandboxSpec], volume: str, docker_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pooled_module, "WAKE_GRACE_S", 0.5)
    spec = make_spec(workspace_volume=volume)
    box = await pooled.create(spec)
    await box.client.shell("sleep 300 & echo $! > /tmp/bg.pid")
    await pooled.release(box)

    pooled.wake(volume)
    await until(lambda: box.state is SandboxState.READY)
    await until(lambda: box.state is SandboxState.PAUSED)  # the grace ran out: paused again
    assert paused_in_engine(docker_client, box)
    assert pooled.kept(volume) is box

    again = await pooled.create(spec)  # resumed the ordinary way
    try:
        assert again is box and again.state is SandboxState.READY
        alive = await again.client.shell("kill -0 $(cat /tmp/bg.pid) && echo alive")
        assert "alive" in alive.output
    finally:
        await pooled.release(again, keep=False)


async def test_a_woken_box_the_run_does_not_take_is_paused_at_once(
    pooled: PooledProvider, make_spec: Callable[..., SandboxSpec], volume: str, docker_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The environment's spec changed (e.g. its network was tightened): the run starts its own box,
    and the woken one, still holding the old spec, does not stay running next to it."""
    monkeypatch.setattr(pooled_module, "WAKE_GRACE_S", 600.0)  # only the mismatch can pause it
    box = await pooled.create(make_spec(workspace_volume=volume))
    await pooled.release(box)
    pooled.wake(volume)
    await until(lambda: box.state is SandboxState.READY)

    other = await pooled.create(make_spec(workspace_volume=volume, memory_mb=384))
    try:
        assert other is not box
        await until(lambda: box.state is SandboxState.PAUSED)
        assert paused_in_engine(docker_client, box)
    finally:
        await pooled.release(other, keep=False)


async def test_waking_a_volume_without_a_kept_box_does_nothing(pooled: PooledProvider) -> None:
    pooled.wake(f"hangar-ws-test-none-{secrets.token_hex(4)}")
    assert pooled._kept == {}


class _Recording:
    """The provider, noting what is done to each box it makes: ``stat`` through its client and
    ``pause``, in order."""

    def __init__(self, inner: DockerProvider) -> None:
        self.inner = inner
        self.calls: list[str] = []

    async def create(self, spec: SandboxSpec) -> Sandbox:
        box = await self.inner.create(spec)
        stat, pause = box.client.stat, box.pause

        async def noted_stat(path: str) -> Any:
            self.calls.append("stat")
            return await stat(path)

        async def noted_pause() -> None:
            self.calls.append("pause")
            await pause()

        box.client.stat = noted_stat  # type: ignore[method-assign]
        box.pause = noted_pause  # type: ignore[method-assign]
        return box


async def test_a_pooled_box_answers_a_call_before_it_is_paused(
    provider: DockerProvider, make_spec: Callable[..., SandboxSpec],
) -> None:
    recording = _Recording(provider)
    spec = make_spec(memory_mb=256, labels=(("test", "pool-settled"),))
    async with WarmPool(recording, PoolConfig(size=1)) as pool:  # type: ignore[arg-type]
        pool.warm(spec)
        await pool.wait_full(spec)
        assert recording.calls == ["stat", "pause"]
        assert pool._idle[spec.key()][0].box.state is SandboxState.PAUSED
