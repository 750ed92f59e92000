"""Warm-path benchmark: the first tool result of a fresh and of a follow-up agent interaction
through the real API (real Docker boxes from the server's composition root, zero-latency model),
and idle capacity measured by actually holding N paused boxes.

Baselines, measured in the same run on the same engine: ``docker run`` + one exec of the same
image (for the first tool results), and N paused bare containers of the same image (for the
memory of a held box). Run with ``make bench`` or
``python -m tests.bench.bench_warm [--quick] [--capacity | --interactions]`` (``--capacity``: only
the held paused boxes; ``--interactions``: only the first tool results).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import structlog
from rich.console import Console
from rich.table import Table

from runtime.errors import InfraError
from runtime.sandbox.base import SandboxSpec, SandboxState
from runtime.sandbox.docker import DockerProvider, DockerProviderConfig, DockerSandbox
from runtime.sandbox.factory import get_provider
from runtime.sandbox.images import ensure_image
from runtime.worker.agent_runner import workspace_volume
from tests.bench.bench_api import HEADERS, pct, server, sse
from tests.bench.bench_sandbox import (
    MACHINE_MEMORY_GIB,
    baseline_cold,
    baseline_run_kwargs,
    container_memory_mb,
)

HOLD_COUNT = 100
"""Paused boxes held at once by the capacity measurement (``--quick``: 10)."""
HOLD_CONCURRENCY = 4
"""Boxes created (and removed) at a time: bounded, and kind to a loaded 2-core machine."""
PAUSE_ATTEMPTS = 3
"""Tries of a pause that the engine refused."""
SETTLE_S = 2.0
"""Wait after the last pause before reading memory (start-up allocations settle)."""
REFILL_PAUSE_S = 3.0
"""Time between two new environments (a cold box takes 0.5-2 s on the loaded 2-core machine)."""


async def first_result(client: httpx.AsyncClient, base: str, body: dict[str, Any]) -> tuple[float, str, str]:
    """(ms from create to the first tool result on the stream, interaction id, environment id)."""
    started = time.perf_counter()
    body = {**body, "background": True}
    response = await client.post(f"{base}/v1/interactions", json=body, headers=HEADERS)
    response.raise_for_status()
    created = response.json()
    first = 0.0
    async for event in sse(client, f"{base}/v1/interactions/{created['id']}"):
        step = event.get("step") or {}
        is_result = str(step.get("type", "")).endswith("_result")
        if not first and event.get("event_type") == "step.start" and is_result:
            first = (time.perf_counter() - started) * 1000
        if event.get("event_type") == "interaction.completed":
            status = (event.get("interaction") or {}).get("status")
            assert status == "completed", event
            break
    assert first, "no tool result on the stream"
    return first, created["id"], created.get("environment_id") or ""


async def interactions(base: str, image: str, n: int) -> tuple[list[float], list[float], list[str]]:
    fresh, follow, envs = [], [], []
    async with httpx.AsyncClient(timeout=120) as client:
        for i in range(n + 1):
            await asyncio.sleep(REFILL_PAUSE_S)  # new environments arrive apart: the pool refills between
            ms, first_id, env = await first_result(
                client, base, {"agent": "bench", "input": "list", "environment": "remote"}
            )
            envs.append(env)
            body = {"agent": "bench", "input": "again", "previous_interaction_id": first_id}
            body["environment"] = env
            ms2, _, _ = await first_result(client, base, body)
            if i:  # the first round warms the pool for the agent's spec
                fresh.append(ms)
                follow.append(ms2)
    return fresh, follow, envs


@dataclass
class Held:
    """Memory of ``count`` paused Hangar boxes held at once, and of as many paused bare containers."""

    count: int
    ours_mb: list[float]
    bare_mb: list[float]
    seconds: float


async def bounded(jobs: Iterable[Callable[[], Awaitable[None]]], concurrency: int) -> None:
    """Run ``jobs`` ``concurrency`` at a time. After a failure no new job starts, the running ones
    finish (a create cancelled half-way could leave its container behind), then the first error
    is raised."""
    gate = asyncio.Semaphore(concurrency)
    errors: list[BaseException] = []

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            if errors:
                return
            try:
                await job()
            except Exception as e:
                errors.append(e)

    await asyncio.gather(*(one(job) for job in jobs))
    if errors:
        raise errors[0]


async def retried(action: Callable[[], Awaitable[None]], attempts: int = PAUSE_ATTEMPTS) -> None:
    """``action``, tried again after an engine error (the freezer sometimes fails under load:
    "unable to freeze")."""
    for attempt in range(attempts):
        try:
            await action()
            return
        except (docker.errors.APIError, InfraError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


async def remove_all(jobs: Iterable[Callable[[], Awaitable[None]]], concurrency: int) -> None:
    """Like :func:`bounded`, but every job runs whatever the others do (clean-up)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            try:
                await job()
            except Exception as e:  # clean-up goes on; what is left is removed by label after
                print(f"clean-up failed: {e!r}")

    await asyncio.gather(*(one(job) for job in jobs))


async def held_boxes(client: Any, image: str, count: int) -> list[float]:
    """MB of each of ``count`` hardened boxes from the provider, all created and paused at once."""
    spec = SandboxSpec(image=image)
    namespace = f"bench-{secrets.token_hex(3)}"
    boxes: list[DockerSandbox] = []
    with tempfile.TemporaryDirectory(prefix="hangar-bench-held-") as state:
        provider = get_provider(DockerProviderConfig(state_dir=Path(state), namespace=namespace))
        assert isinstance(provider, DockerProvider)
        async with provider:

            async def hold() -> None:
                box = await provider.create(spec)
                boxes.append(box)
                await retried(box.pause)

            try:
                await bounded((hold for _ in range(count)), HOLD_CONCURRENCY)
                await asyncio.sleep(SETTLE_S)
                paused = [b for b in boxes if b.state is SandboxState.PAUSED]
                assert len(paused) == count, f"{len(paused)} of {count} boxes paused"
                return [await asyncio.to_thread(container_memory_mb, client, b.container_id) for b in boxes]
            finally:
                await remove_all((b.stop for b in boxes), HOLD_CONCURRENCY)
                await remove_leftovers(client, {"hangar.namespace": namespace})


async def held_bare(client: Any, image: str, count: int) -> list[float]:
    """MB of each of ``count`` paused bare containers of the same image, held at once."""
    label = {"hangar.bench.held": secrets.token_hex(4)}
    ctrs: list[Any] = []
    kwargs = baseline_run_kwargs(image)
    kwargs["labels"] = {**kwargs["labels"], **label}

    async def hold() -> None:
        ctr = await asyncio.to_thread(client.containers.run, **kwargs)
        ctrs.append(ctr)
        await retried(lambda: asyncio.to_thread(ctr.pause))

    try:
        await bounded((hold for _ in range(count)), HOLD_CONCURRENCY)
        await asyncio.sleep(SETTLE_S)
        return [await asyncio.to_thread(container_memory_mb, client, c.id) for c in ctrs]
    finally:
        removals = ((lambda c=c: asyncio.to_thread(c.remove, force=True)) for c in ctrs)
        await remove_all(removals, HOLD_CONCURRENCY)
        await remove_leftovers(client, label)


async def remove_leftovers(client: Any, labels: dict[str, str]) -> None:
    """Force-remove containers, then volumes, this run created (by its own label) that clean-up missed."""
    filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
    for ctr in await asyncio.to_thread(client.containers.list, all=True, filters=filters):
        print(f"removing leftover container {ctr.name}")
        with contextlib.suppress(docker.errors.APIError):
            await asyncio.to_thread(ctr.remove, force=True)
    for volume in await asyncio.to_thread(client.volumes.list, filters=filters):
        print(f"removing leftover volume {volume.name}")
        with contextlib.suppress(docker.errors.APIError):
            await asyncio.to_thread(volume.remove, force=True)


async def held_memory(image: str, count: int) -> Held:
    """Hold ``count`` paused boxes for real, then ``count`` paused bare containers (the baseline)."""
    client = docker.from_env()
    started = time.perf_counter()
    try:
        ours = await held_boxes(client, image, count)
        bare = await held_bare(client, image, count)
    finally:
        client.close()
    return Held(count, ours, bare, time.perf_counter() - started)


def capacity_line(held: Held) -> str:
    ours, bare = statistics.mean(held.ours_mb), statistics.mean(held.bare_mb)
    return (
        f"{held.count} paused boxes held at once (each a hardened box from the provider, then all "
        f"removed; {held.seconds:.0f} s): {ours:.1f} MB each (max {max(held.ours_mb):.1f}); a paused "
        f"bare container of the same image {bare:.1f} MB ({ours / bare:.2f}x); {MACHINE_MEMORY_GIB} GiB "
        f"holds ~{MACHINE_MEMORY_GIB * 1024 / ours:.0f} such boxes (goal ≥ 100)"
    )


async def remove_volumes(engine: Any, names: list[str], limit_s: float = 30.0) -> None:
    """Remove the run's workspaces once the boxes the stopped server left are gone."""
    deadline = time.monotonic() + limit_s
    for name in names:
        while True:
            try:
                await asyncio.to_thread(engine.api.remove_volume, name, force=True)
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError:
                if time.monotonic() > deadline:
                    print(f"could not remove volume {name}")
                    break
                await asyncio.sleep(0.5)


async def run(quick: bool = False, capacity_only: bool = False, interactions_only: bool = False) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    engine = docker.from_env()
    image = await asyncio.to_thread(ensure_image, engine, log=lambda _line: None)
    console = Console()
    if not capacity_only:
        console.print(await interaction_table(engine, image, 5 if quick else 15))
    engine.close()
    if not interactions_only:
        held = await held_memory(image, 10 if quick else HOLD_COUNT)
        console.print(capacity_line(held))
    if not capacity_only:
        console.print("goals: fresh ≤ 100 ms, follow-up ≤ 60 ms (p50)")


async def interaction_table(engine: Any, image: str, n: int) -> Table:
    baseline = [await asyncio.to_thread(baseline_cold, engine, image) for _ in range(n)]
    with tempfile.TemporaryDirectory(prefix="hangar-bench-warm-") as tmp:
        envs: list[str] = []
        try:
            with server(Path(tmp), "--docker", image) as base:
                fresh, follow, envs = await interactions(base, image, n)
        finally:
            await remove_volumes(engine, [workspace_volume(env) for env in envs])
    base50 = pct(baseline, 0.5)
    table = Table(title="Warm paths (ms; real Docker boxes through the API, zero-latency model)")
    for col in ("metric", "n", "p50", "p99", "p50 / docker run+exec"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, samples in (
        ("docker run + exec (baseline)", baseline),
        ("fresh interaction: create → first tool result", fresh),
        ("follow-up turn: create → first tool result", follow),
    ):
        table.add_row(name, str(len(samples)), f"{pct(samples, 0.5):.1f}", f"{pct(samples, 0.99):.1f}",
                      f"{pct(samples, 0.5) / base50:.2f}x")
    return table


def main() -> None:
    asyncio.run(run(
        quick="--quick" in sys.argv,
        capacity_only="--capacity" in sys.argv,
        interactions_only="--interactions" in sys.argv,
    ))


if __name__ == "__main__":
    main()
