"""Workspace volumes made before Hangar labelled them: attributed to the store by their name.

Until the owner labels existed, an environment's workspace was a volume the engine created on
first mount, with no label at all, named by :func:`~runtime.worker.agent_runner.workspace_volume`:
``hangar-ws-<environment id>-<first 8 hex digits of the id's SHA-256>``. That name checks itself:
a volume is taken for Hangar's only when it carries no ``hangar.*`` label and its name is exactly
the one ``workspace_volume`` gives the environment id the store records for it (the store's
``volume`` column), or, with no row, the id spelled in the name (the digest must match it).
Any other volume, however it is named, is never looked at.

An attributed volume is removed when no container (of any state) uses it and its environment's
row in this store is expired; it is kept while its environment is live or a container mounts it.
A volume whose environment has no row here is kept by default: the name proves it is a Hangar
workspace, not that it is this deployment's (deployments with separate stores may share an engine,
and these volumes carry no namespace). Only with ``include_unknown`` (``hangar gc
--include-unknown``) is such a volume removed, and then only when no stored interaction names its
environment and it was made after the store's first record (a new deployment never takes the old
workspaces of one that used the engine before).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runtime.sandbox import engine as eng
from runtime.store import Store
from runtime.worker.agent_runner import workspace_volume

NAME = re.compile(r"^hangar-ws-([a-zA-Z0-9_.-]{1,40})-([0-9a-f]{8})$")


@dataclass(frozen=True)
class Unlabelled:
    """One unlabelled workspace volume and what gc does with it."""

    volume: str
    environment_id: str
    remove: bool
    reason: str


@dataclass
class Candidate:
    created: float | None
    """When the engine made it (``None``: the engine does not say)."""
    users: list[str]
    """Containers (any state) that mount it."""


def candidates(client: Any) -> dict[str, Candidate]:
    """Volumes with no ``hangar.*`` label named like a workspace."""
    volumes = client.api.volumes().get("Volumes") or []
    found = {
        v["Name"]: Candidate(_epoch(v.get("CreatedAt")), []) for v in volumes
        if NAME.match(v.get("Name", "")) and not _hangar_labelled(v.get("Labels"))
    }
    for name, users in mounted_volumes(client).items():
        if name in found:
            found[name].users.extend(users)
    return found


def mounted_volumes(client: Any) -> dict[str, list[str]]:
    """Volumes that containers (of any state) mount: name -> the containers' names."""
    users: dict[str, list[str]] = {}
    for row in client.api.containers(all=True):
        container = (row.get("Names") or [row["Id"][:12]])[0].lstrip("/")
        for mount in row.get("Mounts") or []:
            if mount.get("Type") == "volume" and mount.get("Name"):
                users.setdefault(mount["Name"], []).append(container)
    return users


def _epoch(created: object) -> float | None:
    try:
        return datetime.fromisoformat(str(created)).timestamp()
    except ValueError:
        return None


def _hangar_labelled(labels: dict[str, str] | None) -> bool:
    return any(key.startswith("hangar.") for key in labels or {})


def spelled_environment(name: str) -> str | None:
    """The environment id a workspace name spells, if the name is exactly that id's."""
    match = NAME.match(name)
    if match is None or workspace_volume(match[1]) != name:
        return None
    return match[1]


async def attribute(store: Store, engine: eng.Engine, *, include_unknown: bool = False) -> list[Unlabelled]:
    """Every unlabelled workspace volume Hangar can prove is its own, with gc's verdict;
    ``include_unknown``: judge those with no environment row here too (else they are kept)."""
    volumes = await engine.run(candidates, engine.client)
    recorded = await store.environments.of_volumes(sorted(volumes))
    spelled = {n: e for n in volumes if n not in recorded and (e := spelled_environment(n)) is not None}
    named = await store.interactions.environments_in_use(sorted(set(spelled.values())))
    since = await store.environments.history_start()
    found = []
    for name, volume in sorted(volumes.items()):
        if name in recorded:
            environment_id, expired = recorded[name]
            verdict = (True, f"environment {environment_id} expired") if expired else (
                False, f"environment {environment_id} is live")
        elif name in spelled:
            environment_id = spelled[name]
            verdict = _unknown(environment_id, environment_id in named, volume, since, include_unknown)
        else:
            continue  # named like a workspace, but not by Hangar's rule: not ours to judge
        if volume.users and verdict[0]:
            verdict = (False, f"{verdict[1]}, but container {volume.users[0]} uses it")
        found.append(Unlabelled(name, environment_id, *verdict))
    return found


def _unknown(
    environment_id: str, named: bool, volume: Candidate, since: float | None, include_unknown: bool
) -> tuple[bool, str]:
    """The verdict on a workspace whose environment has no row in the store."""
    if not include_unknown:
        return False, f"no environment {environment_id} in this store (--include-unknown removes it)"
    if named:
        return False, f"interactions of environment {environment_id} are stored"
    # (the engine's times have whole seconds)
    if since is None or volume.created is None or volume.created < math.floor(since):
        return False, f"no environment {environment_id} in the store, but the volume is older than the store"
    return True, f"no environment {environment_id} in the store"
