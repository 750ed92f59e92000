"""Per-project limits and fair claiming, on every backend."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from test_store_interactions import record

from runtime.errors import QuotaExceeded
from runtime.store import Store
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
