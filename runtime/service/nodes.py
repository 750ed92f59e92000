"""This server process as a node: its id (the owner label of what it creates) and its heartbeat.

The default id is stable for one data directory and namespace on one host, held under a file lock
for the process's life: a server restarted after a crash (the kernel dropped its lock) is the same
node, so its start-up reap removes its previous life's boxes at once instead of waiting for that
node's heartbeat to age. A second process on the same data directory finds the lock taken and is a
node of its own (a random id), so neither takes the other's boxes.

``start()`` registers the node and renews its heartbeat every ``every`` seconds; ``stop()`` records
a clean stop (after the provider removed its boxes). :meth:`live_owners` is what the reaper asks:
the ids of the namespace's nodes whose heartbeat is fresh.

Each beat also looks for nodes of the namespace whose heartbeat aged past ``dead_after`` and
declares them dead in the store (one conditional update: exactly one live node declares each), then
starts ``on_dead`` (the server's reaper) at once, beside the beats, so a killed node's boxes go
within a heartbeat of its death being certain, not at the next periodic reap. One reap runs at a
time: nodes declared while one is in flight wait in a queue and get a pass of their own right
after it (each node is declared once, and only ``on_dead`` removes a dead node's unclaimed
workspaces; the periodic reaper leaves workspace volumes alone). A node declared dead
stays dead: should it still be running (stalled past the window), its next beat is refused and it
registers again, a new life whose earlier boxes may already be gone.

Each beat also publishes, in the same update as the heartbeat, what ``publish`` returns: per
project, this node's boxes ``HANGAR_PROJECT_MAX_LIVE_BOXES`` counts besides the project's runs
(the volumes of its kept boxes, how many file boxes; see :mod:`runtime.service.live_boxes`).
:meth:`boxes_elsewhere` is the other half: the project's boxes the namespace's other live nodes
published, as of their last beat (so up to one heartbeat behind). A failed (or slower than a beat)
``publish`` leaves the last published numbers in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from runtime.store import NodeRecord, Store
from runtime.store.nodes import ProjectBoxes

log = structlog.get_logger(__name__)

OnDead = Callable[[list[str]], Awaitable[Any]]
Publish = Callable[[], Awaitable[Mapping[str, ProjectBoxes]]]
Elsewhere = Callable[[str, str | None], Awaitable[int]]
"""``(project_id, taking)`` -> the project's boxes on the other live nodes (see
:meth:`NodeHeartbeat.boxes_elsewhere`)."""
FORGET_AFTER_S = 24 * 3600.0
"""Rows of nodes silent this long are dropped (their boxes were reaped long ago; an owner with no
row counts as dead all the same)."""


def new_node_id() -> str:
    return f"node-{secrets.token_hex(6)}"


def claim_node_id(data_dir: Path, namespace: str) -> tuple[str, int | None]:
    """The stable id of this host, data directory and namespace with the lock that holds it, or a
    random id (and ``None``) when another live process holds it."""
    seed = f"{socket.gethostname()}|{data_dir.resolve()}|{namespace}"
    stable = f"node-{hashlib.sha256(seed.encode()).hexdigest()[:12]}"
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / f".node-{namespace}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return new_node_id(), None
    return stable, fd


class NodeHeartbeat:
    def __init__(
        self, store: Store, node_id: str, namespace: str, *, every: float, dead_after: float,
        lock_fd: int | None = None, on_dead: OnDead | None = None, publish: Publish | None = None,
    ) -> None:
        """``lock_fd``: the lock holding a stable id (released by :meth:`stop`); ``on_dead``: called
        with the ids of the nodes this one just declared dead; ``publish``: this node's live boxes
        by project, published with each beat."""
        self.node_id = node_id
        self._lock_fd = lock_fd
        self.namespace = namespace
        self.dead_after = dead_after
        self._store = store
        self._every = every
        self.on_dead = on_dead
        self.publish = publish
        self._task: asyncio.Task[None] | None = None
        self._reaping: asyncio.Task[None] | None = None
        self._pending: list[str] = []
        """Nodes declared dead whose reap has not started yet."""

    async def start(self) -> None:
        await self._register()
        self._task = asyncio.create_task(self._loop(), name="hangar-node-heartbeat")
        log.info("node.started", node_id=self.node_id, namespace=self.namespace)

    async def stop(self) -> None:
        if self._reaping is not None:
            self._reaping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaping
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await self._store.nodes.stopped(self.node_id, time.time())
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # (closing releases the lock)
            self._lock_fd = None

    async def live_owners(self) -> set[str]:
        """Ids of the namespace's live nodes (this one included)."""
        return await self._store.nodes.live(self.namespace, time.time(), self.dead_after)

    async def boxes_elsewhere(self, project_id: str, taking: str | None = None) -> int:
        """The project's live boxes (kept warm, serving files) the namespace's other live nodes
        published with their last beat, less one kept for the volume ``taking`` (a follow-up
        run's, which takes it)."""
        return await self._store.nodes.boxes_elsewhere(
            self.namespace, project_id, exclude=self.node_id, now=time.time(), dead_after=self.dead_after,
            taking=taking,
        )

    async def _register(self, live_boxes: Mapping[str, ProjectBoxes] | None = None) -> None:
        now = time.time()
        await self._store.nodes.register(NodeRecord(
            id=self.node_id, namespace=self.namespace, hostname=socket.gethostname()[:255],
            started=now, heartbeat=now, live_boxes=dict(live_boxes) if live_boxes is not None else None,
        ))

    async def _published(self) -> Mapping[str, ProjectBoxes] | None:
        """What to publish with this beat; ``None`` (the row keeps its last numbers) when there is
        no publisher or it failed."""
        if self.publish is None:
            return None
        try:
            # Bounded: a slow count must not hold back the heartbeat itself.
            return await asyncio.wait_for(self.publish(), timeout=self._every)
        except Exception as e:  # the next beat tries again
            log.warning("node.publish_failed", node_id=self.node_id, error=str(e))
            return None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.beat()
            except Exception as e:  # a database hiccup: the next beat tries again
                log.warning("node.heartbeat_failed", node_id=self.node_id, error=str(e))

    async def beat(self) -> list[str]:
        """Renew the heartbeat and declare the namespace's stale nodes dead; returns their ids."""
        published = await self._published()
        if not await self._store.nodes.beat(self.node_id, time.time(), published):
            log.warning("node.heartbeat_refused", node_id=self.node_id, reason="declared dead")
            await self._register(published)
        now = time.time()
        dead = await self._store.nodes.declare_dead(self.namespace, now, self.dead_after)
        await self._store.nodes.forget_dead(self.namespace, now - max(FORGET_AFTER_S, 2 * self.dead_after))
        dead = [node_id for node_id in dead if node_id != self.node_id]
        if dead:
            log.warning("node.declared_dead", node_id=self.node_id, dead=dead, dead_after=self.dead_after)
            # Not awaited here: a long reap must not hold back this node's own next beat. One at a
            # time: a reap in flight takes these in a pass of their own once it is done.
            if self.on_dead is not None:
                self._pending.extend(dead)
                if self._reaping is None or self._reaping.done():
                    self._reaping = asyncio.create_task(self._reap(self.on_dead), name="hangar-node-reap")
        return dead

    async def reaped(self) -> None:
        """Wait for the reaps of the nodes declared dead so far, if one is running."""
        if self._reaping is not None:
            await asyncio.shield(self._reaping)

    async def _reap(self, on_dead: OnDead) -> None:
        """Passes until no declared node waits (no await between the last check and the end, so
        a beat either sees this task running and queues, or sees it done and starts another)."""
        while self._pending:
            dead, self._pending = self._pending, []
            try:
                await on_dead(dead)
            except Exception as e:  # their boxes: the periodic reaper; their workspaces: `hangar gc`
                log.warning("node.reap_failed", node_id=self.node_id, dead=dead, error=str(e))
