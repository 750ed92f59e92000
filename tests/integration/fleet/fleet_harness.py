"""A fleet of ``hangar serve`` processes sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from server_process import ServerProcess

from runtime.store import Store, StoredEvent


def wait_for(predicate: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Fleet:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.namespace = f"test-fleet-{secrets.token_hex(3)}"
        self.servers: list[ServerProcess] = []

    def add(self, model_url: str, data_dir: Path | None = None, **settings: str) -> ServerProcess:
        """Start one more server (short data dir: sandbox socket paths must fit). Servers given
        the same ``data_dir`` share it (and its sandbox state: one engine, one namespace)."""
        data_dir = data_dir or Path(tempfile.mkdtemp(prefix="hf-", dir="/tmp"))
        env = {
            "HANGAR_DATABASE_URL": self.database_url,
            "HANGAR_SANDBOX_NAMESPACE": self.namespace,
            "HANGAR_POLL_SECONDS": "0.2",
            **settings,
        }
        server = ServerProcess(data_dir, model_url, env=env, log_name=f"server-{len(self.servers)}.log")
        self.servers.append(server)
        server.start()
        return server

    def close(self, drop_volumes: Callable[[Path], None]) -> None:
        for server in self.servers:
            server.stop()
        for server in self.servers:
            drop_volumes(server.data_dir)
            shutil.rmtree(server.data_dir, ignore_errors=True)

    def events(self, interaction_id: str) -> list[StoredEvent]:
        return asyncio.run(_events(self.database_url, interaction_id))

    def project_key(self, project_id: str) -> str:
        """A new API key of ``project_id`` (created), straight in the shared database."""
        return asyncio.run(_project_key(self.database_url, project_id))

    def event_times(self, interaction_id: str) -> dict[int, float]:
        """When each event of the interaction was written (seq → epoch seconds)."""
        return asyncio.run(_event_times(self.database_url, interaction_id))


async def _events(url: str, interaction_id: str) -> list[StoredEvent]:
    store = Store(url)
    await store.open()
    try:
        return await store.interactions.events_after(interaction_id)
    finally:
        await store.close()


async def _event_times(url: str, interaction_id: str) -> dict[int, float]:
    from sqlalchemy import select

    from runtime.store.schema import interaction_events

    store = Store(url)
    await store.open()
    try:
        async with store.engine.connect() as conn:
            rows = await conn.execute(
                select(interaction_events.c.seq, interaction_events.c.created).where(
                    interaction_events.c.interaction_id == interaction_id
                )
            )
            return {int(row[0]): float(row[1]) for row in rows}
    finally:
        await store.close()


async def _project_key(url: str, project_id: str) -> str:
    store = Store(url)
    await store.open()
    try:
        _, plaintext = await store.keys.create(project_id, "fleet test")
        return plaintext
    finally:
        await store.close()
