"""In-memory pub/sub of logged events, keyed by interaction id.

Only events already written to the log are published, so a subscriber can always fill a gap (or
anything published by another process) by re-reading the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator

from runtime.store import StoredEvent


class Broker:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[StoredEvent]]] = defaultdict(set)

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
