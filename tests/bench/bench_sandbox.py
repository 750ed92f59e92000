"""Sandbox benchmark: start-up, warm pool, exec, sessions, files, browser, idle memory.

Every number is measured against a baseline taken in the same run on the same engine: the docker
SDK's own ``containers.run`` + ``exec_run``. Run with ``make bench`` (``python -m tests.bench``) or
``python -m tests.bench.bench_sandbox``; takes one to two minutes on two cores.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import structlog
from rich.console import Console
from rich.table import Table

from runtime.sandbox.base import Sandbox, SandboxSpec
from runtime.sandbox.docker import DockerProvider, DockerProviderConfig
from runtime.sandbox.factory import get_provider
from runtime.sandbox.images import ensure_image
from runtime.sandbox.pool import PoolConfig, WarmPool
from runtime.sandboxd.protocol import Navigate

MACHINE_MEMORY_GIB = 24
PAGE = b"<!doctype html><title>bench</title><h1>Hello</h1><p>first page</p>"


@dataclass
class Row:
    name: str
    samples: list[float]
    baseline: list[float] | None = None
    baseline_name: str = ""

    @staticmethod
    def p(samples: list[float], q: float) -> float:
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(fn: Callable[[], Awaitable[Any]], n: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        await fn()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def sync_timed(fn: Callable[[], Any], n: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def baseline_run_kwargs(image: str) -> dict[str, Any]:
    return {
        "image": image, "entrypoint": ["sleep", "infinity"], "detach": True, "network_mode": "none",
        "user": "1000:1000", "read_only": True, "cap_drop": ["ALL"], "labels": {"hangar.bench": "baseline"},
    }


def baseline_cold(client: Any, image: str) -> float:
    started = time.perf_counter()
    ctr = client.containers.run(**baseline_run_kwargs(image))
    ctr.exec_run(["true"])
    elapsed = (time.perf_counter() - started) * 1000
    ctr.remove(force=True)
    return elapsed


CGROUP_MEMORY_DIRS = (
    "/sys/fs/cgroup/memory/docker/{id}",  # cgroup v1, cgroupfs driver
    "/sys/fs/cgroup/system.slice/docker-{id}.scope",  # cgroup v2, systemd driver
    "/sys/fs/cgroup/docker/{id}",  # cgroup v2, cgroupfs driver
)


def cgroup_memory_mb(container_id: str) -> float | None:
    """``docker stats``' figure (usage minus inactive page cache) read from the container's cgroup
    files, without the engine's one-second sampling; ``None`` when they are not on this host."""
    for template in CGROUP_MEMORY_DIRS:
        base = Path(template.format(id=container_id))
        for usage_file, cache_key in (("memory.usage_in_bytes", "total_inactive_file"),
                                      ("memory.current", "inactive_file")):
            try:
                usage = int((base / usage_file).read_text())
                stat = dict(line.split() for line in (base / "memory.stat").read_text().splitlines())
            except (OSError, ValueError):
                continue
            return float(usage - int(stat.get(cache_key, 0))) / 2**20
    return None


def container_memory_mb(client: Any, container_id: str) -> float:
    from_cgroup = cgroup_memory_mb(container_id)
    if from_cgroup is not None:
        return from_cgroup
    stats = client.api.stats(container_id, stream=False)["memory_stats"]
    detail = stats.get("stats", {})
    # What `docker stats` shows: usage minus page cache (cgroup v1 "cache", v2 "inactive_file").
    cache = detail.get("total_inactive_file", detail.get("inactive_file", detail.get("cache", 0)))
    return float(stats.get("usage", 0) - cache) / 2**20


async def bench_cold(provider: DockerProvider, spec: SandboxSpec, client: Any, n: int) -> list[Row]:
    create_ms, create_exec_ms = [], []
    for _ in range(n):
        started = time.perf_counter()
        box = await provider.create(spec)
        create_ms.append((time.perf_counter() - started) * 1000)
        await box.client.exec(["true"])
        create_exec_ms.append((time.perf_counter() - started) * 1000)
        await box.stop()
    base = [await asyncio.to_thread(baseline_cold, client, spec.image) for _ in range(n)]
    return [
        Row("cold start to ready", create_ms, base, "run+exec_run"),
        Row("cold start + first exec", create_exec_ms, base, "run+exec_run"),
    ]


async def bench_pool(provider: DockerProvider, spec: SandboxSpec, n: int, paused: bool) -> list[Row]:
    """Acquire alone, then the first exec: the pool's refill starts at once and competes for CPU."""
    acquire, first_exec = [], []
    async with WarmPool(provider, PoolConfig(size=1, paused=paused)) as pool:
        for _ in range(n):
            pool.warm(spec)
            await pool.wait_full(spec)
            started = time.perf_counter()
            box = await pool.acquire(spec)
            acquired = time.perf_counter()
            await box.client.exec(["true"])
            acquire.append((acquired - started) * 1000)
            first_exec.append((time.perf_counter() - acquired) * 1000)
            await box.stop()
    how = "paused" if paused else "running"
    return [Row(f"warm acquire ({how})", acquire), Row(f"  then first exec ({how})", first_exec)]


async def bench_ops(box: Sandbox, client: Any, image: str, n: int) -> list[Row]:
    c = box.client
    baseline_ctr = await asyncio.to_thread(client.containers.run, **baseline_run_kwargs(image))
    try:
        exec_base = await asyncio.to_thread(sync_timed, lambda: baseline_ctr.exec_run(["true"]), n)
    finally:
        await asyncio.to_thread(baseline_ctr.remove, force=True)
    data = b"x" * 2**20

    async def write_read() -> None:
        await c.write_file("bench.bin", data)
        assert len(await c.read_file("bench.bin")) == len(data)

    base = "exec_run"
    return [
        Row("exec `true` round trip", await timed(lambda: c.exec(["true"]), n), exec_base, base),
        Row("shell session command", await timed(lambda: c.shell("true"), n), exec_base, base),
        Row("python session statement", await timed(lambda: c.python("x = 1"), n), exec_base, base),
        Row("1 MB file write + read", await timed(write_read, n)),
        Row("health (transport floor)", await timed(c.health, n)),
    ]


async def bench_browser(provider: DockerProvider, spec: SandboxSpec, n: int) -> tuple[Row, float]:
    out, memory = [], 0.0
    for _ in range(n):
        async with await provider.create(spec) as box:
            await box.client.write_file("page.html", PAGE)
            started = time.perf_counter()
            result = await box.client.browser(Navigate(url="file:///workspace/page.html"))
            out.append((time.perf_counter() - started) * 1000)
            assert result.title == "bench", result
            memory = await asyncio.to_thread(container_memory_mb, provider.engine.client, box.container_id)
    return Row("browser launch + first page", out), memory


async def bench_memory(provider: DockerProvider, spec: SandboxSpec, count: int) -> tuple[float, float]:
    boxes = await asyncio.gather(*(provider.create(spec) for _ in range(count)))
    try:
        await asyncio.sleep(3)  # let start-up work (warm imports) settle
        client = provider.engine.client
        running = [await asyncio.to_thread(container_memory_mb, client, b.container_id) for b in boxes]
        return statistics.mean(running), max(running)
    finally:
        await asyncio.gather(*(b.stop() for b in boxes))


def render(rows: list[Row], notes: list[str]) -> None:
    table = Table(title="Hangar sandbox benchmark (ms)")
    table.add_column("metric", no_wrap=True)
    for col in ("n", "p50", "p99", "baseline", "base p50", "ratio p50"):
        table.add_column(col, justify="left" if col == "baseline" else "right")
    for r in rows:
        p50, p99 = Row.p(r.samples, 0.5), Row.p(r.samples, 0.99)
        base = Row.p(r.baseline, 0.5) if r.baseline else None
        table.add_row(
            r.name, str(len(r.samples)), f"{p50:.1f}", f"{p99:.1f}", r.baseline_name,
            f"{base:.1f}" if base else "", f"{p50 / base:.2f}x" if base else "",
        )
    console = Console()
    console.print(table)
    for note in notes:
        console.print(note)


async def run(quick: bool = False) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    client = docker.from_env()
    image = await asyncio.to_thread(ensure_image, client, log=lambda _line: None)
    spec = SandboxSpec(image=image)
    n = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="hangar-bench-") as state:
        config = DockerProviderConfig(state_dir=Path(state), namespace=f"bench-{secrets.token_hex(3)}")
        provider = get_provider(config)
        assert isinstance(provider, DockerProvider)
        async with provider:
            rows = await bench_cold(provider, spec, client, n)
            rows += await bench_pool(provider, spec, n, paused=True)
            rows += await bench_pool(provider, spec, n, paused=False)
            async with await provider.create(spec) as box:
                rows += await bench_ops(box, client, image, 10 if quick else 50)
            browser_row, browser_mb = await bench_browser(provider, spec, 2 if quick else 5)
            rows.append(browser_row)
            mean_mb, max_mb = await bench_memory(provider, spec, 3 if quick else 5)
    client.close()
    capacity = MACHINE_MEMORY_GIB * 1024 / mean_mb
    render(rows, [
        f"idle memory per box: mean {mean_mb:.1f} MB, max {max_mb:.1f} MB "
        "(docker stats, page cache excluded)",
        f"with Chromium running and one page open: {browser_mb:.1f} MB",
        f"estimate: a {MACHINE_MEMORY_GIB} GiB machine holds ~{capacity:.0f} idle boxes by memory "
        f"(~{MACHINE_MEMORY_GIB * 1024 / browser_mb:.0f} with a browser open each); "
        "p99 of 15 samples is close to the max",
    ])


def main() -> None:
    import sys

    asyncio.run(run(quick="--quick" in sys.argv))


if __name__ == "__main__":
    main()
