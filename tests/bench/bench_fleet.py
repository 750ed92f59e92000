"""Fleet benchmark: two real ``hangar serve`` processes on one throwaway PostgreSQL, the model a
zero-latency fake Gemini (in a thread of this process), no sandboxes.

- cross-process SSE delivery: an event written by server A's worker → read from a stream on
  server B (both poll every 30 s, so only ``LISTEN/NOTIFY`` can deliver it); p50 / p99;
- runs per second: model interactions created half on each server, until all completed.

Run with ``python -m tests.bench.bench_fleet`` (``--quick``); needs PostgreSQL's server binaries
(``make host-tools``).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent
for harness in ("api", "store"):  # server_process.py, pg_cluster.py
    sys.path.insert(0, str(HERE.parent / "integration" / harness))

from pg_cluster import running_cluster  # noqa: E402
from server_process import ServerProcess, fake_gemini  # noqa: E402
from sqlalchemy import select  # noqa: E402

from runtime.llm.script import turn  # noqa: E402
from runtime.store import Store  # noqa: E402
from runtime.store.schema import interaction_events  # noqa: E402

MODEL = "gemini-3-flash-preview"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def written_at(url: str, interaction_id: str) -> dict[int, float]:
    store = Store(url)
    await store.open()
    try:
        async with store.engine.connect() as conn:
            rows = await conn.execute(
                select(interaction_events.c.seq, interaction_events.c.created).where(
                    interaction_events.c.interaction_id == interaction_id
                )
            )
            return {int(r[0]): float(r[1]) for r in rows}
    finally:
        await store.close()


def delivery_ms(writer: ServerProcess, reader: ServerProcess, url: str, runs: int) -> list[float]:
    """Write-to-read ms of each event written after the reader subscribed."""
    samples: list[float] = []
    writer_client, reader_client = writer.client(), reader.client()
    for n in range(runs):
        created = writer_client.interactions.create(model=MODEL, input=f"slow {n}", background=True)
        received: dict[int, float] = {}
        subscribed = time.time()
        for event in reader_client.interactions.get(created.id, stream=True):
            received[int(event.event_id or 0)] = time.time()
        written = asyncio.run(written_at(url, created.id))
        samples += [(received[s] - written[s]) * 1000 for s in received if written[s] > subscribed + 0.05]
    return samples


def runs_per_second(servers: list[ServerProcess], runs: int) -> float:
    clients = [s.client() for s in servers]
    started = time.perf_counter()
    ids: list[tuple[int, str]] = []

    def create(k: int) -> None:
        for n in range(k, runs, len(clients)):
            ids.append((k, clients[k].interactions.create(model=MODEL, input=f"n{n}", background=True).id))

    threads = [threading.Thread(target=create, args=(k,)) for k in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pending = list(ids)
    while pending:
        pending = [(k, i) for k, i in pending if clients[k].interactions.get(i).status == "in_progress"]
        time.sleep(0.02)
    return runs / (time.perf_counter() - started)


def script_turn(request: object) -> object:
    # "slow" runs wait 0.3 s for the model, so a reader on the other server subscribes first.
    return turn("answer", thought="thinking", delay_s=0.3 if "slow" in str(request) else 0.0)


def run(quick: bool = False) -> None:
    env = {"HANGAR_SANDBOXES": "false", "HANGAR_POLL_SECONDS": "30", "HANGAR_WORKER_CONCURRENCY": "16"}
    with running_cluster() as cluster, fake_gemini(script_turn) as fake:  # type: ignore[arg-type]
        url = cluster.url(asyncio.run(cluster.create_database()))
        env["HANGAR_DATABASE_URL"] = url
        dirs = [Path(tempfile.mkdtemp(prefix="hb-")) for _ in range(2)]
        servers = [ServerProcess(data_dir, fake.base_url, env=env) for data_dir in dirs]
        try:
            for server in servers:
                server.start()
            latency = delivery_ms(servers[0], servers[1], url, 3 if quick else 15)
            rate = runs_per_second(servers, 20 if quick else 100)
        finally:
            for server in servers:
                server.stop()
                shutil.rmtree(server.data_dir, ignore_errors=True)
    table = Table(title="Hangar fleet benchmark (2 servers, one PostgreSQL, zero-latency model)")
    for column in ("measure", "p50", "p99", "n"):
        table.add_column(column)
    table.add_row("cross-process SSE delivery (ms)", f"{pct(latency, 0.5):.1f}", f"{pct(latency, 0.99):.1f}",
                  str(len(latency)))
    table.add_row("runs per second, two servers", f"{rate:.1f}", "", str(20 if quick else 100))
    Console().print(table)


def main() -> None:
    run(quick="--quick" in sys.argv)


if __name__ == "__main__":
    main()
