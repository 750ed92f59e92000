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


async def test_idle_environments_expire_and_busy_or_recent_ones_stay(store: Store) -> None:
    now = time.time()
    old = now - 7200
    for env_id, when in (("env_idle", old), ("env_recent", now), ("env_busy", old)):
        record = EnvironmentRecord(DEFAULT_PROJECT, env_id, {}, f"vol-{env_id}", old, old)
        await store.environments.insert(record)
        await store.environments.accessed(env_id, when)
    await insert(store, "int_busy", environment_id="env_busy")  # in_progress
    removed: list[str] = []

    async def remove_volume(name: str) -> None:
        removed.append(name)

    retention = Retention(
        store, keep_seconds=None, environment_keep_seconds=3600, remove_volume=remove_volume
    )
    swept = await retention.sweep(now=now)
    assert (swept.interactions, swept.expired, removed) == (0, ["env_idle"], ["vol-env_idle"])
    expired = await store.environments.get("env_idle", DEFAULT_PROJECT)
    assert expired is not None and expired.expired == now  # a tombstone: the id answers 404
    assert "env_idle" not in [e.id for e in await store.environments.page(DEFAULT_PROJECT, 0, 100)]
    assert "vol-env_idle" not in await store.environments.volumes()
    assert (await retention.sweep(now=now)).expired == []  # once


async def test_expiry_rechecks_use_in_the_same_statement(store: Store) -> None:
    now = time.time()
    await store.environments.insert(
        EnvironmentRecord(DEFAULT_PROJECT, "env_x", {}, "vol-x", now - 99, now - 99)
    )
    await store.environments.accessed("env_x", now)  # used after the sweep listed it
    assert not await store.environments.expire("env_x", before=now - 50, when=now)


async def test_nodes_are_live_until_their_heartbeat_ages_or_they_stop(store: Store) -> None:
    from runtime.store import NodeRecord

    now = time.time()
    await store.nodes.register(NodeRecord("n1", "ns", "h", now, now))
    await store.nodes.register(NodeRecord("n2", "ns", "h", now, now - 100))
    await store.nodes.register(NodeRecord("n3", "other", "h", now, now))
    assert await store.nodes.live("ns", now, dead_after=30) == {"n1"}
    assert await store.nodes.beat("n2", now)
    assert await store.nodes.live("ns", now, dead_after=30) == {"n1", "n2"}
    await store.nodes.stopped("n1", now)
    assert not await store.nodes.beat("n1", now)  # a stopped node stays dead
    assert await store.nodes.live("ns", now, dead_after=30) == {"n2"}


async def test_a_stale_node_is_declared_dead_once_and_stays_dead(store: Store) -> None:
    from runtime.service.nodes import NodeHeartbeat
    from runtime.store import NodeRecord

    now = time.time()
    await store.nodes.register(NodeRecord("stale", "ns", "h", now - 100, now - 100))
    await store.nodes.register(NodeRecord("fresh", "ns", "h", now, now))
    await store.nodes.register(NodeRecord("elsewhere", "other", "h", now - 100, now - 100))
    long_ago = now - 90_000
    await store.nodes.register(NodeRecord("ancient", "ns", "h", long_ago, long_ago, stopped=long_ago))
    declared: list[list[str]] = []

    async def on_dead(ids: list[str]) -> None:
        declared.append(ids)

    live = NodeHeartbeat(store, "fresh", "ns", every=60, dead_after=30, on_dead=on_dead)
    assert await live.beat() == ["stale"]
    await live.reaped()
    assert declared == [["stale"]]
    assert {n.id for n in await store.nodes.of_namespace("ns")} == {"stale", "fresh"}  # "ancient": forgotten
    assert await live.beat() == []  # declared once: a second live node would find nothing either
    assert await store.nodes.live("ns", time.time(), dead_after=30) == {"fresh"}
    assert await store.nodes.live("other", time.time(), dead_after=3600) == {"elsewhere"}  # not its namespace
    # The stale node was only stalled: its beat is refused, and it registers a new life.
    stalled = NodeHeartbeat(store, "stale", "ns", every=60, dead_after=30)
    await stalled.beat()
    assert await store.nodes.live("ns", time.time(), dead_after=30) == {"fresh", "stale"}
