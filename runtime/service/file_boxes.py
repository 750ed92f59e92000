"""Short-lived sandboxes that give the API access to an environment's workspace volume.

File operations of ``/environments/{id}/files`` go through sandboxd in a box whose ``/workspace`` is
the environment's volume, so every path is confined to the workspace by sandboxd itself (``..``,
absolute paths and escaping symlinks are refused there). A box is kept for ``idle_seconds`` after
its last use so that a listing followed by a download costs one start, then stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import structlog

from runtime.errors import HangarError, InfraError
from runtime.sandbox.base import Provider, Sandbox, SandboxSpec, SandboxState

log = structlog.get_logger(__name__)


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    box: Sandbox | None = None
    creating: bool = False
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)


def _unusable(box: Sandbox) -> bool:
    """Dead, stopped, or retired for answering out of protocol: the next caller gets a new box."""
    return box.state in (SandboxState.DEAD, SandboxState.STOPPING, SandboxState.STOPPED)


class FileBoxes:
    """One file-access box per volume, started on demand and stopped when idle."""

    def __init__(
        self, provider: Provider | None, base_spec: SandboxSpec, *, idle_seconds: float = 60.0
    ) -> None:
        self._provider = provider
        self._spec = base_spec.model_copy(
            update={
                "cpus": 0.5, "memory_mb": 256, "network": "none", "idle_timeout_s": idle_seconds * 4,
                # The files API checks the quota of what it writes itself (uploads).
                "disk_quota_bytes": None, "disk_quota_entries": None,
            }
        )
        self._idle = idle_seconds
        self._entries: dict[str, _Entry] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._working: Counter[str] = Counter()
        self.admit: Callable[[str], AbstractAsyncContextManager[None]] | None = None
        """Entered with the volume before a box is started for it; raises to refuse (a limit). The
        box's place is taken (counted by :meth:`volumes`) inside it, so concurrent admissions see it."""

    def volumes(self) -> list[str]:
        """The volumes that have a box (or one being started): file boxes, then working boxes."""
        boxes = [v for v, e in self._entries.items() if e.box is not None or e.creating]
        return boxes + list(self._working.elements())

    def idle(self, volumes: list[str]) -> list[str]:
        """Those of ``volumes`` whose box nobody uses right now, least recently used first."""
        entries = [(self._entries[v], v) for v in dict.fromkeys(volumes) if v in self._entries]
        unused = [(e.last_used, v) for e, v in entries if e.box is not None and e.users == 0]
        return [v for _, v in sorted(unused)]

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await asyncio.gather(*(self.release(v) for v in list(self._entries)), return_exceptions=True)

    @contextlib.asynccontextmanager
    async def working(self, volume: str) -> AsyncIterator[None]:
        """Admit and count another box on ``volume`` while the body runs (a clone's or a fork's,
        which the caller starts and stops itself)."""
        async with self._admitted(volume):
            self._working[volume] += 1
        try:
            yield
        finally:
            self._working[volume] -= 1
            if self._working[volume] <= 0:
                del self._working[volume]

    def _admitted(self, volume: str) -> AbstractAsyncContextManager[None]:
        return self.admit(volume) if self.admit is not None else contextlib.nullcontext()

    @contextlib.asynccontextmanager
    async def open(self, volume: str, *, admit: bool = True) -> AsyncIterator[Sandbox]:
        """A ready box with ``volume`` at ``/workspace``; without ``admit`` a new box skips the live
        box limit (a read that must neither be refused nor stop other boxes). Raises
        :class:`InfraError` when sandboxes are unavailable on this server."""
        if self._provider is None:
            raise InfraError("environment files need sandboxes, which are off or unavailable on this server",
                             code="sandboxes_unavailable", retryable=False)
        while True:
            entry = self._entries.setdefault(volume, _Entry())
            async with entry.lock:
                if self._entries.get(volume) is not entry:
                    continue  # released while we waited for the lock
                if entry.box is not None and (entry.box.expired() is not None or _unusable(entry.box)):
                    await self._stop(entry)
                box = entry.box or await self._create(entry, volume, admit)
                entry.users += 1
                break
        try:
            yield box
        finally:
            entry.users -= 1
            entry.last_used = time.monotonic()

    async def _create(self, entry: _Entry, volume: str, admit: bool) -> Sandbox:
        assert self._provider is not None
        async with self._admitted(volume) if admit else contextlib.nullcontext():
            entry.creating = True  # counted from here, before the admission's lock is released
        try:
            spec = self._spec.model_copy(update={"workspace_volume": volume})
            entry.box = await self._provider.create(spec)
        finally:
            entry.creating = False
        return entry.box

    async def release_idle(self, volume: str) -> bool:
        """Stop the volume's box if nobody uses it (checked again under its lock; skipped while a
        request holds the lock); ``True`` when it was stopped."""
        entry = self._entries.get(volume)
        if entry is None or entry.lock.locked():
            return False
        async with entry.lock:
            if entry.users or entry.box is None or self._entries.get(volume) is not entry:
                return False
            del self._entries[volume]
            await self._stop(entry)
            return True

    async def release(self, volume: str) -> None:
        """Stop the volume's box (before the volume is removed)."""
        entry = self._entries.get(volume)
        if entry is not None:
            async with entry.lock:
                if self._entries.get(volume) is entry:
                    del self._entries[volume]
                await self._stop(entry)

    async def _stop(self, entry: _Entry) -> None:
        box, entry.box = entry.box, None
        if box is not None:
            try:
                await box.stop()
            except HangarError as e:
                log.warning("file_box_stop_failed", sandbox_id=box.id, error=e.message)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(self._idle, 10.0))
            now = time.monotonic()
            for volume, entry in list(self._entries.items()):
                if entry.users == 0 and now - entry.last_used > self._idle and not entry.lock.locked():
                    await self._release_idle(volume, entry)

    async def _release_idle(self, volume: str, entry: _Entry) -> None:
        async with entry.lock:
            if entry.users or time.monotonic() - entry.last_used <= self._idle:
                return
            if self._entries.get(volume) is entry:
                del self._entries[volume]
            await self._stop(entry)
