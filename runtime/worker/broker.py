"""In-memory pub/sub of logged events, keyed by interaction id.

Only events already written to the log are published, so a subscriber can always fill a gap (or
anything published by another process) by re-reading the log. With :meth:`Broker.listen`, the
events other processes append (PostgreSQL ``NOTIFY``) are published here too, so a reader on this
process sees them at once; the same event published twice (written here, then announced) is
skipped by readers, who keep the last sequence number they delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator

from runtime.store import EventListener, Store, StoredEvent


class Broker:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[StoredEvent]]] = defaultdict(set)
        self._listener: EventListener | None = None

    async def listen(self, store: Store) -> None:
        """Also publish the events other processes append to ``store`` (when it can tell)."""
        self._listener = await store.listen(self.publish, self.wanted)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None

    def wanted(self, interaction_id: str) -> bool:
        """Whether somebody here follows ``interaction_id``."""
        return bool(self._subscribers.get(interaction_id))

    @contextlib.contextmanager
    def subscribe(self, interaction_id: str) -> Iterator[asyncio.Queue[StoredEvent]]:
        """A queue receiving every event published for ``interaction_id`` while the block runs."""
        queue: asyncio.Queue[StoredEvent] = asyncio.Queue()
        self._subscribers[interaction_id].add(queue)
        try:
            yield queue
        finally:
            subscribers = self._subscribers.get(interaction_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[interaction_id]

    def publish(self, interaction_id: str, event: StoredEvent) -> None:
        for queue in self._subscribers.get(interaction_id, ()):
            queue.put_nowait(event)
