"""``hangar gc``: what an operator's clean-up removes, listed first (a dry run removes nothing).

Three kinds of leftovers in the server's namespace on this engine:
- expired environments: idle past ``environment_retention_seconds`` (a server's retention sweep
  expires them too; gc does it now), with their workspace volumes;
- orphan volumes: labelled workspace volumes that no live environment in the store names (an
  expired environment's volume that could not be removed, a store that was reset);
- dead nodes' boxes: containers, volumes, networks and socket directories of owners whose
  heartbeat in the store is stale, or that carry no owner (see :mod:`runtime.sandbox.reaper`);
- unlabelled workspace volumes, made before Hangar labelled them, attributed to the store by
  their name (see :mod:`runtime.service.gc_unlabelled`); the kept ones are listed with why. Those
  whose environment has no row in this store are only removed with ``include_unknown``.
A namespace must belong to one store: gc trusts the store's list of environments and nodes.

:func:`reap_dead_nodes` is what a server runs the moment its heartbeat declared nodes dead: the
reaper's pass, then the dead nodes' workspace volumes that no environment names (the empty
workspace of a pre-started box never claimed), which the reaper alone never removes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog

from runtime.config import Settings
from runtime.sandbox import engine as eng
from runtime.sandbox.reaper import Owned, Reaper, list_workspaces
from runtime.service.gc_unlabelled import Unlabelled, attribute, mounted_volumes
from runtime.service.retention import Retention
from runtime.store import Store

log = structlog.get_logger(__name__)


@dataclass
class GcReport:
    expired_environments: dict[str, str] = field(default_factory=dict)
    """Environment id -> its volume."""
    orphan_volumes: list[str] = field(default_factory=list)
    dead_boxes: Owned = field(default_factory=Owned)
    owners: dict[str, str] = field(default_factory=dict)
    """Dead box's sandbox id -> its owner (``""``: unlabelled)."""
    unlabelled: list[Unlabelled] = field(default_factory=list)
    """Unlabelled workspace volumes attributed to the store: removed (or to be) and kept, with why."""
    failed: dict[str, str] = field(default_factory=dict)
    """What could not be removed -> why (a volume still mounted)."""

    def empty(self) -> bool:
        going = any(u.remove for u in self.unlabelled)
        return not (self.expired_environments or self.orphan_volumes or self.dead_boxes or going)


class Collector:
    def __init__(
        self, settings: Settings, store: Store, engine: eng.Engine, *, include_unknown: bool = False
    ) -> None:
        """``include_unknown``: also remove unlabelled workspaces of environments this store has no
        row for (they may be another deployment's, on a shared engine)."""
        self._settings = settings
        self._include_unknown = include_unknown
        self._store = store
        self._engine = engine
        sockets_dir = settings.data_dir / "sandbox" / "sockets" / settings.sandbox_namespace
        self._reaper = Reaper(
            engine, settings.sandbox_namespace, sockets_dir, set, live_owners=self._live_owners
        )

    async def _live_owners(self) -> set[str]:
        return await self._store.nodes.live(
            self._settings.sandbox_namespace, time.time(), self._settings.node_dead_after_seconds
        )

    async def plan(self) -> GcReport:
        """What :meth:`collect` would remove now; removes nothing."""
        report = GcReport(expired_environments=await self._expiring())
        report.orphan_volumes = await self._orphan_volumes(set(report.expired_environments.values()))
        report.dead_boxes = await self._reaper.orphans()
        report.owners = dict(report.dead_boxes.owners)
        report.unlabelled = await attribute(self._store, self._engine, include_unknown=self._include_unknown)
        return report

    async def collect(self) -> GcReport:
        """Remove the leftovers; returns what was removed (and what could not be)."""
        volumes = await self._expiring()
        report = GcReport()
        retention = Retention(
            self._store, keep_seconds=None, remove_volume=self._remove_volume,
            environment_keep_seconds=self._settings.environment_retention_seconds,
        )
        for environment_id in await retention.expire_environments():
            report.expired_environments[environment_id] = volumes.get(environment_id, "")
        for name in await self._orphan_volumes(set()):
            try:
                await self._remove_volume(name)
                report.orphan_volumes.append(name)
            except Exception as e:  # in use: reported, kept
                report.failed[name] = str(e)
        report.dead_boxes = await self._reaper.reap_once()
        report.owners = dict(report.dead_boxes.owners)
        for found in await attribute(self._store, self._engine, include_unknown=self._include_unknown):
            try:
                if found.remove:
                    await self._remove_volume(found.volume)
                report.unlabelled.append(found)
            except Exception as e:  # mounted meanwhile: reported, kept
                report.failed[found.volume] = str(e)
        return report

    async def _expiring(self) -> dict[str, str]:
        """Environments idle past retention that run nothing: id -> volume."""
        keep = self._settings.environment_retention_seconds
        if keep is None:
            return {}
        repo, found = self._store.environments, {}
        for record in await repo.idle_since(time.time() - keep, 10_000):
            if not await repo.running_interactions(record.id):
                found[record.id] = record.volume
        return found

    async def _orphan_volumes(self, going: set[str]) -> list[str]:
        namespace = self._settings.sandbox_namespace
        return sorted(await unnamed_workspaces(self._store, self._engine, namespace, going))

    async def _remove_volume(self, name: str) -> None:
        """Raises ``InfraError`` when the volume is in use (a missing one is fine)."""
        await self._engine.run(eng.remove_volume, self._engine.client, name)


async def unnamed_workspaces(
    store: Store, engine: eng.Engine, namespace: str, going: set[str] | None = None
) -> dict[str, str]:
    """The namespace's labelled workspace volumes that no environment names (but those of
    ``going``, being expired) and no container mounts: name -> owner label. (A mounted one is no
    orphan: a live node's pre-started box, whose environment is not made yet.)"""
    found = await engine.run(list_workspaces, engine.client, namespace)
    named = await store.environments.volumes() - (going or set())
    mounted = await engine.run(mounted_volumes, engine.client)
    return {name: owner for name, owner in found.items() if name not in named and name not in mounted}


async def reap_dead_nodes(
    dead: list[str], *, reaper: Reaper, store: Store, engine: eng.Engine, namespace: str
) -> list[str]:
    """Remove what the ``dead`` nodes left: their boxes (the reaper's pass, which also takes any
    other orphan) and their workspace volumes no environment names; returns those volumes.

    A dead node may have registered again under its id since (a stalled node, a restart with its
    stable id) and made a workspace for a box whose container is not created yet: the live owners
    are asked after the listing, so such a node's volumes (all made after it registered) stay."""
    await reaper.reap_once()
    found = await unnamed_workspaces(store, engine, namespace)
    live = await reaper.live_owners() if reaper.live_owners is not None else set()
    removed = []
    for name, owner in sorted(found.items()):
        if owner not in dead or owner in live:
            continue
        try:
            await engine.run(eng.remove_volume, engine.client, name)
            removed.append(name)
        except Exception as e:  # still mounted: `hangar gc` removes it later
            log.warning("gc.volume_kept", volume=name, owner=owner, error=str(e))
    if removed:
        log.info("gc.dead_nodes_volumes_removed", dead=dead, volumes=removed)
    return removed
