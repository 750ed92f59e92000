"""A warm pool: ready sandboxes kept per spec so an interaction starts in milliseconds.

Pooled boxes are paused (no CPU) unless ``paused=False``. One background task refills every spec
the pool has seen (``warm`` or ``acquire``) with bounded concurrency and replaces boxes older than
``max_age_s``. ``acquire`` hands out the oldest fresh box after resuming it; a box that fails to
resume is discarded and the next one tried; an empty pool falls back to a cold ``provider.create``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog
from pydantic import BaseModel, ConfigDict, Field

from runtime.errors import HangarError
from runtime.sandbox.base import Provider, Sandbox, SandboxSpec, SandboxState

log = structlog.get_logger(__name__)


class PoolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = Field(default=2, ge=0)
    """Idle boxes kept per spec."""
    max_age_s: float = Field(default=600.0, gt=0)
    """Pooled boxes older than this are replaced (fresh image, bounded drift)."""
    concurrency: int = Field(default=2, ge=1)
    """Boxes created at once by the refill task."""
    paused: bool = True
    """Pause idle boxes (no CPU while pooled; resuming costs ~20 ms)."""
    check_interval_s: float = Field(default=10.0, gt=0)
    """How often the refill task looks for aged boxes when nothing wakes it."""
    min_free_mb: int = Field(default=0, ge=0)
    """No refill while the host has less memory available than this (``MemAvailable``)."""


def host_free_mb() -> int | None:
    """The host's available memory (``MemAvailable`` of ``/proc/meminfo``), ``None`` when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_tight(min_free_mb: int) -> bool:
    """Whether the host has less than ``min_free_mb`` available."""
    free = host_free_mb()
    return min_free_mb > 0 and free is not None and free < min_free_mb


class _Pooled:
    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.pooled_at = time.monotonic()


class WarmPool:
    def __init__(
        self, provider: Provider, config: PoolConfig | None = None, *,
        prepare: Callable[[SandboxSpec], SandboxSpec] | None = None,
        on_discard: Callable[[Sandbox], Awaitable[None]] | None = None,
    ) -> None:
        """``prepare`` turns the pool's spec into each new box's own (e.g. a workspace volume of
        its own); ``on_discard`` runs after a box the pool never handed out was stopped."""
        self.provider = provider
        self.config = config or PoolConfig()
        self._prepare = prepare
        self._on_discard = on_discard
        self._specs: dict[str, SandboxSpec] = {}
        self._idle: dict[str, collections.deque[_Pooled]] = {}
        self._wake = asyncio.Event()
        self._refilled = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._refill_forever())

    async def close(self) -> None:
        """Stop the refill task and every pooled box."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        boxes = [p.box for q in self._idle.values() for p in q]
        self._idle.clear()
        await asyncio.gather(*(self._stop(b) for b in boxes), *self._background, return_exceptions=True)

    async def __aenter__(self) -> WarmPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def warm(self, spec: SandboxSpec) -> None:
        """Keep ``size`` boxes of this spec ready from now on."""
        key = spec.key()
        if key not in self._specs:
            self._specs[key] = spec
            self._idle[key] = collections.deque()
        self._wake.set()

    def forget(self, spec: SandboxSpec) -> None:
        """Keep no more boxes of this spec: its idle boxes are stopped (and discarded), and one
        still starting is when it is ready."""
        key = spec.key()
        self._specs.pop(key, None)
        for pooled in self._idle.pop(key, ()):
            self._discard(pooled.box, "forgotten")

    def available(self, spec: SandboxSpec) -> int:
        return len(self._idle.get(spec.key(), ()))

    async def wait_full(self, spec: SandboxSpec, timeout_s: float = 60.0) -> None:
        """Return when the spec's pool holds ``size`` boxes (for tests and warm-up at start)."""
        async with asyncio.timeout(timeout_s), self._refilled:
            await self._refilled.wait_for(lambda: self.available(spec) >= self.config.size)

    def claim(self, spec: SandboxSpec) -> Sandbox | None:
        """A pooled box of ``spec`` as it is (paused when the pool pauses), or ``None``; the caller
        owns it from now on."""
        queue = self._idle.get(spec.key())
        while queue:
            pooled = queue.popleft()
            self._wake.set()
            if time.monotonic() - pooled.pooled_at <= self.config.max_age_s and pooled.box.state in (
                SandboxState.PAUSED, SandboxState.READY
            ):
                return pooled.box
            self._discard(pooled.box, "aged")
        return None

    async def acquire(self, spec: SandboxSpec) -> Sandbox:
        """A ready, running sandbox of ``spec``: from the pool when one is warm, else cold."""
        self.warm(spec)
        queue = self._idle[spec.key()]
        while queue:
            pooled = queue.popleft()
            if time.monotonic() - pooled.pooled_at > self.config.max_age_s:
                self._discard(pooled.box, "aged")
                continue
            try:
                if self.config.paused:
                    await pooled.box.resume()
                else:
                    await pooled.box.check_alive()
            except HangarError as e:
                log.warning("pooled sandbox unusable", sandbox_id=pooled.box.id, error=str(e))
                self._discard(pooled.box, "unusable")
                continue
            # The caller's lifetime and idle clocks start now, not when the box was pooled.
            pooled.box.created_at = pooled.box.last_active = time.monotonic()
            self._wake.set()  # refill only now: starting a box competes with the resume for CPU
            return pooled.box
        self._wake.set()
        return await self.provider.create(spec)

    def _discard(self, box: Sandbox, why: str) -> None:
        log.info("discarding pooled sandbox", sandbox_id=box.id, reason=why)
        self._wake.set()
        task = asyncio.create_task(self._stop(box))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _refill_forever(self) -> None:
        limit = asyncio.Semaphore(self.config.concurrency)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.check_interval_s)
            self._wake.clear()
            if memory_tight(self.config.min_free_mb):
                log.info("warm pool not refilled: host memory is tight", free_mb=host_free_mb())
                continue
            jobs = []
            for key, spec in list(self._specs.items()):
                queue = self._idle[key]
                self._drop_aged(queue)
                for pooled in queue:
                    pooled.box.touch()  # pooled boxes are idle on purpose; don't let the watchdog take them
                jobs += [self._add_one(key, spec, limit) for _ in range(self.config.size - len(queue))]
            await asyncio.gather(*jobs)

    def _drop_aged(self, queue: collections.deque[_Pooled]) -> None:
        now = time.monotonic()
        for pooled in [p for p in queue if now - p.pooled_at > self.config.max_age_s]:
            queue.remove(pooled)
            self._discard(pooled.box, "aged")

    async def _stop(self, box: Sandbox) -> None:
        await box.stop()
        if self._on_discard is not None:
            await self._on_discard(box)

    async def _add_one(self, key: str, spec: SandboxSpec, limit: asyncio.Semaphore) -> None:
        async with limit:
            box: Sandbox | None = None
            try:
                box = await self.provider.create(self._prepare(spec) if self._prepare else spec)
                # One call through the request handlers first: they load in the background after
                # the daemon answers, and a box paused mid-load finished it on its first call
                # (100-250 ms of the first tool result on a loaded 2-core machine).
                await box.client.stat(".")
                if self.config.paused:
                    await box.pause()
            except BaseException as e:  # a refill cancelled (the pool closing) leaves no box behind
                if box is not None:
                    await self._stop(box)
                if not isinstance(e, HangarError):
                    raise
                log.warning("warm pool refill failed", spec_key=key, error=str(e))
                await asyncio.sleep(1.0)  # don't spin on a broken image or engine
                return
        queue = self._idle.get(key)
        if queue is None:  # forgotten while it started
            await self._stop(box)
            return
        queue.append(_Pooled(box))
        async with self._refilled:
            self._refilled.notify_all()
