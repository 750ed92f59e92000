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

Several nodes (server processes) may share a namespace and an engine. Every object carries its
creator's ``hangar.owner`` label; given ``live_owners`` (the nodes whose heartbeat in the store is
fresh), a reap leaves alone what a live other node owns and takes what this node no longer tracks,
what a dead node left, and unlabelled leftovers. Host-side entries (socket directories, egress
rules) carry no label: with owners in play one is taken with its box's objects, or on its own once
it is older than ``entry_grace_s`` (another node's box may be starting). The egress proxy is shared
by the namespace's nodes: it stays, whoever started it, while a box that stays has a rule on it.
An environment's named workspace volume (``hangar.role=workspace``) is kept data, never reaped:
retention and ``hangar gc`` remove those.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from runtime.sandbox import engine as eng
from runtime.sandbox.egress import PROXY_ID
from runtime.sandboxd.egress_policy import POLICY_SUFFIX

log = structlog.get_logger(__name__)

LiveOwners = Callable[[], Awaitable[set[str]]]
ENTRY_GRACE_S = 600.0


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
    owners: dict[str, str] = field(default_factory=dict)
    """Sandbox id -> the owner label of its containers, volumes and networks (``""``: none)."""

    def without(self, keep: set[str]) -> Owned:
        return Owned(
            {k: v for k, v in self.containers.items() if v not in keep},
            {k: v for k, v in self.volumes.items() if v not in keep},
            {k: v for k, v in self.socket_dirs.items() if v not in keep},
            {k: v for k, v in self.networks.items() if v not in keep},
            {k: v for k, v in self.egress_entries.items() if v not in keep},
            {k: v for k, v in self.owners.items() if k not in keep},
        )

    def host_only(self) -> set[str]:
        """Ids that have host-side entries but no object on the engine."""
        on_engine = set(self.containers.values()) | set(self.volumes.values()) | set(self.networks.values())
        return self._ids() - on_engine

    def sandbox_ids(self) -> list[str]:
        return sorted(set(self.containers.values()) | set(self.volumes.values()))

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
    """What the namespace has, environments' workspace volumes excepted (see :func:`list_workspaces`)."""
    owned = Owned()
    filters = eng.namespace_filter(namespace)
    for row in client.api.containers(all=True, filters=filters):
        labels = row.get("Labels") or {}
        if eng.owned_by(labels, namespace):
            owned.containers[row["Id"]] = _note_owner(owned, labels)
    for vol in client.api.volumes(filters=filters).get("Volumes") or []:
        labels = vol.get("Labels") or {}
        if eng.owned_by(labels, namespace) and labels.get(eng.LABEL_ROLE) != eng.ROLE_WORKSPACE:
            owned.volumes[vol["Name"]] = _note_owner(owned, labels)
    for net in client.api.networks(filters=filters):
        labels = net.get("Labels") or {}
        if eng.owned_by(labels, namespace):
            owned.networks[net["Name"]] = _note_owner(owned, labels)
    if sockets_dir.is_dir():
        for path in sockets_dir.iterdir():
            if path.is_dir():
                owned.socket_dirs[path] = path.name
    _list_egress_entries(sockets_dir / PROXY_ID, owned)
    return owned


def _note_owner(owned: Owned, labels: dict[str, str]) -> str:
    sandbox_id = labels.get(eng.LABEL_ID, "")
    owned.owners.setdefault(sandbox_id, labels.get(eng.LABEL_OWNER, ""))
    return sandbox_id


def list_workspaces(client: Any, namespace: str) -> dict[str, str]:
    """The namespace's labelled workspace volumes: name -> owner label."""
    filters = eng.namespace_filter(namespace, **{eng.LABEL_ROLE: eng.ROLE_WORKSPACE})
    found = {}
    for vol in client.api.volumes(filters=filters).get("Volumes") or []:
        labels = vol.get("Labels") or {}
        if eng.owned_by(labels, namespace) and labels.get(eng.LABEL_ROLE) == eng.ROLE_WORKSPACE:
            found[vol["Name"]] = labels.get(eng.LABEL_OWNER, "")
    return found


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.lstat().st_mtime > seconds
    except FileNotFoundError:
        return False


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


def _serves_a_staying_box(listed: Owned, orphans: Owned, keep: set[str]) -> bool:
    """Whether the namespace's egress proxy has a rule of a box that is not reaped now: the proxy
    serves every node's boxes, whichever node started it (its owner label names that one)."""
    going = orphans._ids() - keep
    return any(i not in going for i in listed.egress_entries.values() if i != PROXY_ID)


class Reaper:
    """Reaps the namespace's orphans. ``owner``: this node's id; ``live_owners`` (set it once the
    store is open): the ids of live nodes, whose boxes are left alone. Without ``live_owners``,
    everything of the namespace that this provider does not track is an orphan."""

    def __init__(
        self, engine: eng.Engine, namespace: str, sockets_dir: Path, tracked: Callable[[], set[str]],
        *, owner: str | None = None, live_owners: LiveOwners | None = None,
        entry_grace_s: float = ENTRY_GRACE_S,
    ) -> None:
        self._engine = engine
        self._namespace = namespace
        self._sockets_dir = sockets_dir
        self._tracked = tracked
        self.owner = owner
        self.live_owners = live_owners
        self.entry_grace_s = entry_grace_s

    async def _list(self) -> Owned:
        return await self._engine.run(list_owned, self._engine.client, self._namespace, self._sockets_dir)

    async def orphans(self) -> Owned:
        """What a reap would remove now (nothing is removed)."""
        listed = await self._list()
        live = await self.live_owners() if self.live_owners is not None else None
        orphans = listed.without(self._tracked())
        if live is None:
            return orphans
        others = live - {self.owner} if self.owner else live
        keep = {i for i, owner in orphans.owners.items() if owner and owner in others}
        keep |= {i for i in orphans.host_only() if not self._stale_entry(orphans, i)}
        if _serves_a_staying_box(listed, orphans, keep):
            keep.add(PROXY_ID)
        return orphans.without(keep)

    def _stale_entry(self, owned: Owned, sandbox_id: str) -> bool:
        paths = [p for p, i in owned.socket_dirs.items() if i == sandbox_id]
        paths += [p for p, i in owned.egress_entries.items() if i == sandbox_id]
        return all(_older_than(p, self.entry_grace_s) for p in paths)

    async def reap_once(self) -> Owned:
        """Remove the namespace's orphans (see the class doc); returns them."""
        orphans = await self.orphans()
        if orphans:
            await self._engine.run(remove_owned, self._engine.client, orphans)
            log.info(
                "reaped orphaned sandboxes", namespace=self._namespace, sandbox_ids=orphans.sandbox_ids(),
                owners=sorted({o for o in orphans.owners.values() if o}),
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
