"""Per-project limits and fair claiming, on every backend."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from test_store_interactions import record

from runtime.errors import QuotaExceeded
from runtime.store import Store
from runtime.store.environments import EnvironmentRecord
from runtime.store.quotas import RunLimits

CREATED = {"event_type": "interaction.created", "interaction": {}}


async def add(store: Store, project: str, interaction_id: str, created: float, **limits: int) -> None:
    row = dataclasses.replace(record(interaction_id, created=created), project_id=project)
    await store.interactions.insert(row, CREATED, limits=RunLimits(**limits) if limits else None)


async def test_a_long_queue_of_one_project_does_not_starve_another(store: Store) -> None:
    for project in ("busy", "small"):
        await store.keys.ensure_project(project)
    for n in range(10):
        await add(store, "busy", f"int_busy{n}", created=1.0 + n)
    for n in range(2):
        await add(store, "small", f"int_small{n}", created=100.0 + n)  # queued last
    order = []
    for _ in range(6):
        claimed = await store.interactions.claim("w", 30)
        assert claimed is not None
        order.append(claimed.project_id)
    # Oldest-first would give six "busy"; fair claiming alternates while "small" has work.
    assert order == ["busy", "small", "busy", "small", "busy", "busy"], order


async def test_concurrent_runs_limit_counts_in_progress_and_frees_on_finish(store: Store) -> None:
    await store.keys.ensure_project("p")
    await add(store, "p", "int_1", 1.0, max_running=2)
    await add(store, "p", "int_2", 2.0, max_running=2)
    with pytest.raises(QuotaExceeded) as refused:
        await add(store, "p", "int_3", 3.0, max_running=2)
    assert "HANGAR_PROJECT_MAX_RUNNING_INTERACTIONS" in refused.value.message
    assert refused.value.http_status == 429
    assert await store.interactions.get("int_3") is None
    await store.keys.ensure_project("q")
    await add(store, "q", "int_q", 4.0, max_running=2)  # another project is not affected
    assert await store.interactions.claim("w", 30, "int_1") is not None
    assert await store.interactions.finish("int_1", "completed", owner="w")
    await add(store, "p", "int_3", 5.0, max_running=2)


async def test_live_boxes_limit_counts_agent_runs_only(store: Store) -> None:
    await store.keys.ensure_project("p")
    agent = dataclasses.replace(record("int_a1"), project_id="p", kind="agent")
    await store.interactions.insert(agent, CREATED, limits=RunLimits(max_agent_runs=1))
    with pytest.raises(QuotaExceeded) as refused:
        again = dataclasses.replace(agent, id="int_a2")
        await store.interactions.insert(again, CREATED, limits=RunLimits(max_agent_runs=1))
    assert "HANGAR_PROJECT_MAX_LIVE_BOXES" in refused.value.message
    await add(store, "p", "int_m", 1.0, max_agent_runs=1)  # a model run holds no box


async def test_the_limit_holds_under_concurrent_creates(store: Store) -> None:
    await store.keys.ensure_project("p")

    async def one(n: int) -> bool:
        try:
            await add(store, "p", f"int_c{n}", float(n), max_running=3)
        except QuotaExceeded:
            return False
        return True

    accepted = await asyncio.gather(*(one(n) for n in range(12)))
    assert sum(accepted) == 3, accepted


async def test_workspace_limit_sums_the_projects_measured_usage_and_refuses_agent_runs(store: Store) -> None:
    for project in ("p", "q"):
        await store.keys.ensure_project(project)
    for env_id, project in (("env_p1", "p"), ("env_p2", "p"), ("env_q", "q")):
        await store.environments.insert(EnvironmentRecord(project, env_id, {}, f"vol-{env_id}", 1.0, 1.0))
    limits = RunLimits(max_workspace_bytes=1000)
    await store.environments.record_usage("vol-env_p1", 600, 2.0)
    await store.environments.record_usage("vol-env_p2", 399, 2.0)  # a byte of room left
    await store.environments.record_usage("vol-env_q", 5000, 2.0)
    assert await store.environments.project_usage("p") == 999
    assert await store.environments.project_usage("p", excluding="env_p1") == 399
    agent = dataclasses.replace(record("int_a1"), project_id="p", kind="agent")
    await store.interactions.insert(agent, CREATED, limits=limits)
    await store.environments.record_usage("vol-env_p2", 400, 3.0)  # a later measurement: at the limit
    with pytest.raises(QuotaExceeded) as refused:
        await store.interactions.insert(dataclasses.replace(agent, id="int_a2"), CREATED, limits=limits)
    assert "HANGAR_PROJECT_MAX_WORKSPACE_BYTES" in refused.value.message
    assert refused.value.http_status == 429 and refused.value.retry_after > 0
    assert await store.interactions.get("int_a2") is None
    model = dataclasses.replace(record("int_m"), project_id="p")  # no workspace: not refused
    await store.interactions.insert(model, CREATED, limits=limits)
    # q is far past the limit on its own; p's figure is not q's (and q's own runs are refused).
    with pytest.raises(QuotaExceeded):
        await store.interactions.insert(
            dataclasses.replace(agent, id="int_q", project_id="q"), CREATED, limits=limits
        )
    assert await store.environments.expire("env_q", before=10.0, when=10.0)
    assert await store.environments.project_usage("q") == 0  # an expired workspace is gone
    await store.interactions.insert(
        dataclasses.replace(agent, id="int_q", project_id="q"), CREATED, limits=limits
    )
