"""This server process as a node: its id (the owner label of what it creates) and its heartbeat.

``start()`` registers the node and renews its heartbeat every ``every`` seconds; ``stop()`` records
a clean stop (after the provider removed its boxes). :meth:`live_owners` is what the reaper asks:
the ids of the namespace's nodes whose heartbeat is fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time

import structlog

from runtime.store import NodeRecord, Store

log = structlog.get_logger(__name__)


def new_node_id() -> str:
    return f"node-{secrets.token_hex(6)}"


class NodeHeartbeat:
    def __init__(
        self, store: Store, node_id: str, namespace: str, *, every: float, dead_after: float
    ) -> None:
        self.node_id = node_id
        self.namespace = namespace
        self.dead_after = dead_after
        self._store = store
        self._every = every
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        now = time.time()
        await self._store.nodes.register(NodeRecord(
            id=self.node_id, namespace=self.namespace, hostname=socket.gethostname()[:255],
            started=now, heartbeat=now,
        ))
        self._task = asyncio.create_task(self._loop(), name="hangar-node-heartbeat")
        log.info("node.started", node_id=self.node_id, namespace=self.namespace)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await self._store.nodes.stopped(self.node_id, time.time())

    async def live_owners(self) -> set[str]:
        """Ids of the namespace's live nodes (this one included)."""
        return await self._store.nodes.live(self.namespace, time.time(), self.dead_after)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                if not await self._store.nodes.beat(self.node_id, time.time()):
                    log.warning("node.heartbeat_refused", node_id=self.node_id)
            except Exception as e:  # a database hiccup: the next beat tries again
                log.warning("node.heartbeat_failed", node_id=self.node_id, error=str(e))
