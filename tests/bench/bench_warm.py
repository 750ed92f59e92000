"""Warm-path benchmark: the first tool result of a fresh and of a follow-up agent interaction
through the real API (real Docker boxes from the server's composition root, zero-latency model),
and idle capacity measured by actually holding N paused boxes.

Baselines, measured in the same run on the same engine: ``docker run`` + one exec of the same
image (for the first tool results), and N paused bare containers of the same image (for the
memory of a held box). Run with ``make bench`` or ``python -m tests.bench.bench_warm [--quick]``.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import httpx
import structlog
from rich.console import Console
from rich.table import Table

from runtime.sandbox.base import SandboxSpec
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


async def held_memory(image: str, count: int) -> tuple[float, float]:
    """Mean MB of ``count`` paused Hangar boxes held at once, and of ``count`` paused bare containers."""
    client = docker.from_env()
    spec = SandboxSpec(image=image)
    with tempfile.TemporaryDirectory(prefix="hangar-bench-held-") as state:
        config = DockerProviderConfig(state_dir=Path(state), namespace=f"bench-{secrets.token_hex(3)}")
        provider = get_provider(config)
        assert isinstance(provider, DockerProvider)
        async with provider:
            boxes: list[DockerSandbox] = []
            try:
                for _ in range(count):
                    box = await provider.create(spec)
                    boxes.append(box)
                    await box.pause()
                await asyncio.sleep(2)  # let start-up allocations settle
                ours = [await asyncio.to_thread(container_memory_mb, client, b.container_id) for b in boxes]
            finally:
                await asyncio.gather(*(b.stop() for b in boxes), return_exceptions=True)
    bare = []
    try:
        for _ in range(count):
            ctr = await asyncio.to_thread(client.containers.run, **baseline_run_kwargs(image))
            bare.append(ctr)
            await asyncio.to_thread(ctr.pause)
        await asyncio.sleep(2)
        theirs = [await asyncio.to_thread(container_memory_mb, client, c.id) for c in bare]
    finally:
        for ctr in bare:
            await asyncio.to_thread(ctr.remove, force=True)
        client.close()
    return statistics.mean(ours), statistics.mean(theirs)


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


async def run(quick: bool = False) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    engine = docker.from_env()
    image = await asyncio.to_thread(ensure_image, engine, log=lambda _line: None)
    n = 5 if quick else 15
    baseline = [await asyncio.to_thread(baseline_cold, engine, image) for _ in range(n)]
    with tempfile.TemporaryDirectory(prefix="hangar-bench-warm-") as tmp:
        envs: list[str] = []
        try:
            with server(Path(tmp), "--docker", image) as base:
                fresh, follow, envs = await interactions(base, image, n)
        finally:
            await remove_volumes(engine, [workspace_volume(env) for env in envs])
    count = 10 if quick else 40
    ours, bare = await held_memory(image, count)
    engine.close()
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
    console = Console()
    console.print(table)
    console.print(
        f"{count} paused boxes held at once: {ours:.1f} MB each (bare paused container {bare:.1f} MB, "
        f"{ours / bare:.2f}x); {MACHINE_MEMORY_GIB} GiB holds ~{MACHINE_MEMORY_GIB * 1024 / ours:.0f} "
        "of them "
        "(goal ≥ 100); goals: fresh ≤ 100 ms, follow-up ≤ 60 ms (p50)"
    )


def main() -> None:
    asyncio.run(run(quick="--quick" in sys.argv))


if __name__ == "__main__":
    main()
