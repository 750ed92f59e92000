"""The store query behind ``GET /v1/interactions``, on a real SQLite store: newest first with ties
broken by id, filters, offsets, and one project never sees another's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from runtime.store import DEFAULT_PROJECT, InteractionRecord, Store

OTHER = "other-project"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'hangar.db'}")
    await store.open()
    await store.keys.create(OTHER, "other")  # makes the second project
    yield store
    await store.close()


BASE = InteractionRecord(
    id="", project_id=DEFAULT_PROJECT, kind="agent", target="antigravity", status="completed",
    input=[], config={}, previous_interaction_id=None, environment_id=None, usage=None, errors=None,
    background=True, store=True, created=0.0, updated=0.0,
)


async def _put(store: Store, **fields: object) -> None:
    record = replace(BASE, **fields)  # type: ignore[arg-type]
    await store.interactions.insert(record, {"event_type": "interaction.created"})


async def test_newest_first_filtered_paged_and_scoped(store: Store) -> None:
    await _put(store, id="int_a", created=1.0)
    await _put(store, id="int_b", created=2.0, status="failed")
    await _put(store, id="int_c", created=2.0, kind="model", target="antigravity")
    await _put(store, id="int_d", created=3.0, target="deep-research")
    await _put(store, id="int_x", created=9.0, project_id=OTHER)

    page = store.interactions.page
    assert [r.id for r in await page(DEFAULT_PROJECT, 0, 10)] == ["int_d", "int_c", "int_b", "int_a"]
    assert [r.id for r in await page(DEFAULT_PROJECT, 1, 2)] == ["int_c", "int_b"]
    assert [r.id for r in await page(DEFAULT_PROJECT, 0, 10, status="failed")] == ["int_b"]
    # the agent filter matches agents only: a model interaction with the same target is not one
    assert [r.id for r in await page(DEFAULT_PROJECT, 0, 10, agent="antigravity")] == ["int_b", "int_a"]
    assert [r.id for r in await page(OTHER, 0, 10)] == ["int_x"]
    assert await page("nobody", 0, 10) == []
