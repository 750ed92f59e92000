"""API benchmark: a real Hangar server process on loopback (SQLite, zero-latency scripted model,
in-process boxes that are ready at once like warm ones), driven with an httpx async client.

- create background → first step visible to a streaming reader (goal p50 ≤ 100 ms);
- GET interaction: latency and requests/s (goal ≥ 1,000 req/s on 2 cores), against a bare FastAPI
  hello endpoint served by the same uvicorn in another process (the baseline);
- SSE delivery: model turn made → its step read from the stream;
- 20 concurrent runs end to end, against one run alone.

Run with ``python -m tests.bench.bench_api`` (``--quick``); about a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from tests.bench.api_server import KEY

HEADERS = {"x-goog-api-key": KEY}
LOAD_SECONDS = 5.0
LOAD_CONCURRENCY = 8


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextlib.contextmanager
def server(data_dir: Path, *flags: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.api_server", str(data_dir), *flags],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url + "/healthz" if not flags else url + "/hello", timeout=1)
                break
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def sse(client: httpx.AsyncClient, url: str) -> AsyncIterator[dict[str, Any]]:
    async with client.stream("GET", url, params={"stream": "true"}, headers=HEADERS) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                yield json.loads(line[5:])


async def create(client: httpx.AsyncClient, base: str) -> str:
    body = {"agent": "bench", "input": "list the files", "background": True}
    response = await client.post(f"{base}/v1/interactions", json=body, headers=HEADERS)
    response.raise_for_status()
    interaction_id: str = response.json()["id"]
    return interaction_id


async def first_step(client: httpx.AsyncClient, base: str) -> tuple[float, list[float]]:
    """(ms from create to the first agent step on the stream, SSE delivery ms of each call step)."""
    started = time.perf_counter()
    interaction_id = await create(client, base)
    first = 0.0
    delivery = []
    async for event in sse(client, f"{base}/v1/interactions/{interaction_id}"):
        kind = event.get("event_type")
        if kind == "step.start" and event["index"] >= 1:
            first = first or (time.perf_counter() - started) * 1000
            step_id = str(event["step"].get("id", ""))
            if step_id.startswith("t"):
                delivery.append((time.time() - float(step_id[1:])) * 1000)
        if kind == "interaction.completed":
            break
    return first, delivery


async def load(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> tuple[list[float], float]:
    """Latencies (ms) and requests/s of ``LOAD_CONCURRENCY`` loops GETting ``url`` for a while."""
    latencies: list[float] = []
    deadline = time.perf_counter() + LOAD_SECONDS

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get(url, headers=headers)
            response.raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(LOAD_CONCURRENCY)))
    return latencies, len(latencies) / (time.perf_counter() - started)


async def end_to_end(client: httpx.AsyncClient, base: str, runs: int) -> tuple[list[float], float]:
    """Per-run ms from create to completed, and the wall ms of all ``runs`` started together."""

    async def one() -> float:
        started = time.perf_counter()
        interaction_id = await create(client, base)
        async for event in sse(client, f"{base}/v1/interactions/{interaction_id}"):
            if event.get("event_type") == "interaction.completed":
                assert event["interaction"]["status"] == "completed", event
                break
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    each = await asyncio.gather(*(one() for _ in range(runs)))
    return list(each), (time.perf_counter() - started) * 1000


async def run(quick: bool = False) -> None:
    n = 10 if quick else 30
    rows: list[tuple[str, list[float], str]] = []
    notes = []
    limits = httpx.Limits(max_connections=LOAD_CONCURRENCY + 25)
    with tempfile.TemporaryDirectory(prefix="hangar-bench-api-") as tmp:
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            with server(Path(tmp) / "hello", "--hello") as hello:
                base_lat, base_rps = await load(client, f"{hello}/hello", {})
            with server(Path(tmp) / "hangar") as base:
                await first_step(client, base)  # warm-up
                firsts, delivery = [], []
                for _ in range(n):
                    ms, delivered = await first_step(client, base)
                    firsts.append(ms)
                    delivery += delivered
                interaction_id = await create(client, base)
                get_lat, get_rps = await load(client, f"{base}/v1/interactions/{interaction_id}", HEADERS)
                alone, _ = await end_to_end(client, base, 1)
                each, wall = await end_to_end(client, base, 20)
    rows += [
        ("create → first agent step on the stream", firsts, ""),
        ("SSE delivery: model turn → step read", delivery, ""),
        ("GET /v1/interactions/{id}", get_lat, f"hello p50 {pct(base_lat, 0.5):.2f}"),
        ("one run alone, create → completed (5 tool steps)", alone, ""),
        ("20 concurrent runs, each create → completed", each, f"alone {alone[0]:.1f}"),
    ]
    table = Table(title="Hangar API benchmark (ms; SQLite, zero-latency model, boxes ready at once)")
    for col in ("metric", "n", "p50", "p99", "baseline"):
        table.add_column(col, justify="left" if col in ("metric", "baseline") else "right")
    for name, samples, baseline in rows:
        p50, p99 = pct(samples, 0.5), pct(samples, 0.99)
        table.add_row(name, str(len(samples)), f"{p50:.2f}", f"{p99:.2f}", baseline)
    console = Console()
    console.print(table)
    notes += [
        f"GET interaction: {get_rps:,.0f} req/s vs bare FastAPI hello {base_rps:,.0f} req/s "
        f"({get_rps / base_rps:.0%}); goal ≥ 1,000 req/s; {LOAD_CONCURRENCY} client loops for "
        f"{LOAD_SECONDS:g} s, client and server on the same cores",
        f"20 concurrent runs: all done in {wall:.0f} ms (one alone {alone[0]:.0f} ms)",
        f"first step p50 {pct(firsts, 0.5):.1f} ms: goal ≤ 100 ms",
    ]
    for note in notes:
        console.print(note)


def main() -> None:
    asyncio.run(run(quick="--quick" in sys.argv))


if __name__ == "__main__":
    main()
