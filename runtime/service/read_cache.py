"""A short-lived cache of finished interactions, for clients that poll ``GET`` in a loop.

An interaction that left ``in_progress`` never changes again (answers to ``requires_action`` are
new interactions), so its rendered form can be reused; only deletion ends it. Deleting through
this process forgets it at once; a deletion elsewhere (another API process, retention) shows within
``ttl_seconds``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class ReadCache(Generic[V]):
    def __init__(self, *, ttl_seconds: float = 2.0, max_entries: int = 4096) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, ...], tuple[float, V]] = OrderedDict()

    def get(self, key: tuple[str, ...]) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: tuple[str, ...], value: V) -> None:
        if self._ttl <= 0:
            return
        self._entries[key] = (time.monotonic() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, *prefix: str) -> None:
        """Drop every entry whose key starts with ``prefix``."""
        for key in [k for k in self._entries if k[: len(prefix)] == prefix]:
            del self._entries[key]
