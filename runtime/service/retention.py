"""Retention: finished interactions expire after ``retention_seconds`` with their events, and the
environments only they used go with them (the row, if the environment was created through the API,
and its workspace volume).

An environment still named by any stored interaction is kept. Running interactions never expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from runtime.store import Store
from runtime.worker.agent_runner import workspace_volume

log = structlog.get_logger(__name__)

RemoveVolume = Callable[[str], Awaitable[None]]
BATCH = 500


@dataclass
class Swept:
    interactions: int = 0
    environments: list[str] = field(default_factory=list)


class Retention:
    """``await retention.sweep()`` once, or ``start()``/``stop()`` a sweep every ``every`` seconds."""

    def __init__(
        self,
        store: Store,
        *,
        keep_seconds: float,
        every: float = 300.0,
        remove_volume: RemoveVolume | None = None,
    ) -> None:
        self._store = store
        self._keep = keep_seconds
        self._every = every
        self._remove_volume = remove_volume
        self._task: asyncio.Task[None] | None = None

    async def sweep(self, now: float | None = None) -> Swept:
        swept = Swept()
        before = (time.time() if now is None else now) - self._keep
        projects: dict[str, str] = {}
        while True:
            purged = await self._store.interactions.purge_finished(before, BATCH)
            swept.interactions += len(purged)
            projects.update({r.environment_id: r.project_id for r in purged if r.environment_id})
            if len(purged) < BATCH:
                break
        in_use = await self._store.interactions.environments_in_use(list(projects))
        for environment_id, project_id in projects.items():
            if environment_id not in in_use:
                await self._remove_environment(environment_id, project_id)
                swept.environments.append(environment_id)
        if swept.interactions:
            log.info("retention.swept", interactions=swept.interactions, environments=len(swept.environments))
        return swept

    async def _remove_environment(self, environment_id: str, project_id: str) -> None:
        environments = self._store.environments
        record = await environments.get(environment_id, project_id)
        volume = record.volume if record is not None else workspace_volume(environment_id)
        if self._remove_volume is not None:
            try:
                await self._remove_volume(volume)
            except Exception:  # the row goes anyway; the volume is logged for a manual clean-up
                log.exception("retention.volume_not_removed", environment_id=environment_id, volume=volume)
        if record is not None:
            await environments.delete(environment_id, project_id)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="hangar-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("retention.sweep_failed")
            await asyncio.sleep(self._every)
