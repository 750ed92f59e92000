"""Retention on every backend: old finished interactions go with their events, and environments
only they used go with them (row and volume); environments still in use stay."""

from __future__ import annotations

import time

from test_store_interactions import insert

from runtime.service.retention import Retention
from runtime.store import DEFAULT_PROJECT, EnvironmentRecord, Store
from runtime.worker.agent_runner import workspace_volume


async def finished(store: Store, interaction_id: str, environment_id: str) -> None:
    await insert(store, interaction_id, environment_id=environment_id)
    assert await store.interactions.claim("w", 30, interaction_id) is not None
    assert await store.interactions.finish(interaction_id, "completed", owner="w")


async def test_sweep_removes_expired_interactions_and_their_unused_environments(store: Store) -> None:
    now = time.time()
    await store.environments.insert(
        EnvironmentRecord(DEFAULT_PROJECT, "env_api", {}, "vol-api", now, now)
    )
    await finished(store, "int_a", "env_api")
    await finished(store, "int_b", "env_implicit")
    await finished(store, "int_c", "env_shared")
    await insert(store, "int_running", environment_id="env_shared")
    removed: list[str] = []

    async def remove_volume(name: str) -> None:
        removed.append(name)

    retention = Retention(store, keep_seconds=3600, remove_volume=remove_volume)
    assert (await retention.sweep()).interactions == 0  # nothing is old enough yet
    swept = await retention.sweep(now=time.time() + 7200)
    assert swept.interactions == 3
    assert sorted(swept.environments) == ["env_api", "env_implicit"]
    assert sorted(removed) == sorted(["vol-api", workspace_volume("env_implicit")])
    assert await store.environments.get("env_api", DEFAULT_PROJECT) is None
    for gone in ("int_a", "int_b", "int_c"):
        assert await store.interactions.get(gone) is None
        assert await store.interactions.events_after(gone) == []
    assert await store.interactions.get("int_running") is not None
