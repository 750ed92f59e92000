"""Retention: finished interactions expire after ``retention_seconds`` with their events, and the
environments only they used go with them (the row, if the environment was created through the API,
and its workspace volume).

An environment still named by any stored interaction is kept. Running interactions never expire.

Environments have a lifecycle of their own (``environment_retention_seconds``, Google's "an offline
environment is kept 7 days"): one not used or changed for that long expires. It is marked expired
first, in one statement that re-checks it is idle and runs nothing (so its id answers 404 from
then on and no new run can start in it), then its volume is removed. A volume that cannot be
removed now (still mounted) is left to ``hangar gc``, which removes volumes no live environment names.
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
    """Environments removed with the interactions that used them."""
    expired: list[str] = field(default_factory=list)
    """Environments expired for being idle past ``environment_keep_seconds``."""


class Retention:
    """``await retention.sweep()`` once, or ``start()``/``stop()`` a sweep every ``every`` seconds."""

    def __init__(
        self,
        store: Store,
        *,
        keep_seconds: float | None,
        every: float = 300.0,
        remove_volume: RemoveVolume | None = None,
        environment_keep_seconds: float | None = None,
        release_volume: RemoveVolume | None = None,
    ) -> None:
        """``keep_seconds``: finished interactions older than this go (``None``: kept);
        ``environment_keep_seconds``: idle environments older than this expire (``None``: kept);
        ``release_volume``: called before a volume is removed (closes a file box that mounts it)."""
        self._store = store
        self._keep = keep_seconds
        self._environment_keep = environment_keep_seconds
        self._release_volume = release_volume
        self._every = every
        self._remove_volume = remove_volume
        self._task: asyncio.Task[None] | None = None

    async def sweep(self, now: float | None = None) -> Swept:
        now = time.time() if now is None else now
        swept = Swept()
        if self._keep is not None:
            await self._sweep_interactions(now - self._keep, swept)
        if self._environment_keep is not None:
            swept.expired = await self.expire_environments(now)
        return swept

    async def expire_environments(self, now: float | None = None) -> list[str]:
        """Expire the environments idle past ``environment_keep_seconds``; returns their ids."""
        if self._environment_keep is None:
            return []
        now = time.time() if now is None else now
        before, expired = now - self._environment_keep, list[str]()
        repo = self._store.environments
        while True:
            batch = await repo.idle_since(before, BATCH)
            done = len(expired)
            for record in batch:
                if await repo.expire(record.id, before, now):
                    await self._drop_volume(record.id, record.volume)
                    expired.append(record.id)
            if len(batch) < BATCH or len(expired) == done:  # (a full batch of busy ones: next sweep)
                break
        if expired:
            log.info("retention.environments_expired", environments=len(expired))
        return expired

    async def _sweep_interactions(self, before: float, swept: Swept) -> None:
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

    async def _remove_environment(self, environment_id: str, project_id: str) -> None:
        environments = self._store.environments
        record = await environments.get(environment_id, project_id)
        volume = record.volume if record is not None else workspace_volume(environment_id)
        await self._drop_volume(environment_id, volume)
        if record is not None:
            await environments.delete(environment_id, project_id)

    async def _drop_volume(self, environment_id: str, volume: str) -> None:
        try:
            if self._release_volume is not None:
                await self._release_volume(volume)
            if self._remove_volume is not None:
                await self._remove_volume(volume)
        except Exception:  # the row goes (or is expired) anyway; `hangar gc` removes the volume later
            log.exception("retention.volume_not_removed", environment_id=environment_id, volume=volume)

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
