"""Removes what a namespace owns on the engine but its provider no longer tracks.

Orphans come from a Hangar process that was killed (``kill -9``, a crash, a reboot of the host
process) while its boxes ran. Containers and fresh workspace volumes are found by their labels
(``hangar.managed=1`` and ``hangar.namespace=<ns>``, checked again in Python after the engine's
filter), socket directories under ``sockets/<namespace>/``. The namespace's egress proxy is reaped
the same way: its container, network and state directory carry the owner id ``egress-proxy``; a
box's egress rule and proxy socket directory (``egress-proxy/policy/<id>.json``,
``egress-proxy/boxes/<id>``) go with the box. Another namespace's objects are never listed, let
alone removed.

A reap lists first and asks the provider what it tracks afterwards: ids are registered before
their resources exist, so whatever the listing saw belongs either to a tracked id or to nobody.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from runtime.sandbox import engine as eng
from runtime.sandbox.egress import PROXY_ID
from runtime.sandboxd.egress_policy import POLICY_SUFFIX

log = structlog.get_logger(__name__)


@dataclass
class Owned:
    """What one namespace has on the engine and the host, by sandbox id."""

    containers: dict[str, str] = field(default_factory=dict)
    """Container id -> sandbox id."""
    volumes: dict[str, str] = field(default_factory=dict)
    """Volume name -> sandbox id."""
    socket_dirs: dict[Path, str] = field(default_factory=dict)
    networks: dict[str, str] = field(default_factory=dict)
    """Network name -> owner id (the egress proxy's network)."""
    egress_entries: dict[Path, str] = field(default_factory=dict)
    """A box's egress rule file or proxy socket directory -> sandbox id."""

    def without(self, keep: set[str]) -> Owned:
        return Owned(
            {k: v for k, v in self.containers.items() if v not in keep},
            {k: v for k, v in self.volumes.items() if v not in keep},
            {k: v for k, v in self.socket_dirs.items() if v not in keep},
            {k: v for k, v in self.networks.items() if v not in keep},
            {k: v for k, v in self.egress_entries.items() if v not in keep},
        )

    def only(self, sandbox_id: str) -> Owned:
        return self.without({v for v in self._ids() if v != sandbox_id})

    def _ids(self) -> set[str]:
        return (
            set(self.containers.values()) | set(self.volumes.values()) | set(self.socket_dirs.values())
            | set(self.networks.values()) | set(self.egress_entries.values())
        )

    def __bool__(self) -> bool:
        return any((self.containers, self.volumes, self.socket_dirs, self.networks, self.egress_entries))


def list_owned(client: Any, namespace: str, sockets_dir: Path) -> Owned:
    owned = Owned()
    filters = eng.namespace_filter(namespace)
    for row in client.api.containers(all=True, filters=filters):
        labels = row.get("Labels") or {}
        if eng.owned_by(labels, namespace):
            owned.containers[row["Id"]] = labels.get(eng.LABEL_ID, "")
    for vol in client.api.volumes(filters=filters).get("Volumes") or []:
        labels = vol.get("Labels") or {}
        if eng.owned_by(labels, namespace):
            owned.volumes[vol["Name"]] = labels.get(eng.LABEL_ID, "")
    for net in client.api.networks(filters=filters):
        labels = net.get("Labels") or {}
        if eng.owned_by(labels, namespace):
            owned.networks[net["Name"]] = labels.get(eng.LABEL_ID, "")
    if sockets_dir.is_dir():
        for path in sockets_dir.iterdir():
            if path.is_dir():
                owned.socket_dirs[path] = path.name
    _list_egress_entries(sockets_dir / PROXY_ID, owned)
    return owned


def _list_egress_entries(state_dir: Path, owned: Owned) -> None:
    policy, boxes = state_dir / "policy", state_dir / "boxes"
    if policy.is_dir():
        for path in policy.glob(f"*{POLICY_SUFFIX}"):
            owned.egress_entries[path] = path.name.removesuffix(POLICY_SUFFIX)
    if boxes.is_dir():
        for path in boxes.iterdir():
            owned.egress_entries[path] = path.name


def remove_owned(client: Any, owned: Owned) -> None:
    # Containers first: a volume in use cannot be removed.
    for container_id in owned.containers:
        eng.remove_container(client, container_id)
    for name in owned.volumes:
        eng.remove_volume(client, name)
    for name in owned.networks:
        eng.remove_network(client, name)
    for path in owned.socket_dirs:
        shutil.rmtree(path, ignore_errors=True)
    for path in owned.egress_entries:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


class Reaper:
    def __init__(
        self, engine: eng.Engine, namespace: str, sockets_dir: Path, tracked: Callable[[], set[str]]
    ) -> None:
        self._engine = engine
        self._namespace = namespace
        self._sockets_dir = sockets_dir
        self._tracked = tracked

    async def _list(self) -> Owned:
        return await self._engine.run(list_owned, self._engine.client, self._namespace, self._sockets_dir)

    async def reap_once(self) -> Owned:
        """Remove the namespace's untracked containers, volumes and socket dirs; returns them."""
        orphans = (await self._list()).without(self._tracked())
        if orphans:
            await self._engine.run(remove_owned, self._engine.client, orphans)
            log.info(
                "reaped orphaned sandboxes", namespace=self._namespace,
                sandbox_ids=sorted(set(orphans.containers.values()) | set(orphans.volumes.values())),
                containers=len(orphans.containers), volumes=len(orphans.volumes),
                socket_dirs=len(orphans.socket_dirs),
            )
        return orphans

    async def remove(self, sandbox_id: str) -> None:
        """Remove one untracked sandbox's resources (idempotent)."""
        owned = (await self._list()).only(sandbox_id)
        await self._engine.run(remove_owned, self._engine.client, owned)

    async def run_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reap_once()
            except Exception as e:
                log.warning("reap failed", namespace=self._namespace, error=str(e))
