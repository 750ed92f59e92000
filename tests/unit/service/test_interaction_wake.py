"""An accepted agent run wakes its environment's kept box at once (``InteractionService(wake=...)``),
on a real SQLite store: before the worker takes the run, and never for a request refused before
anything is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.agents import AgentRegistry
from runtime.errors import NotFound
from runtime.service.interactions import InteractionService
from runtime.service.requests import parse_create
from runtime.store import DEFAULT_PROJECT, Store
from runtime.worker import Broker, RunnerRegistry, Worker

AGENT = "id: helper\ndescription: test agent\nsystem_instruction: help\nbuiltin_tools: [files]\n"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'hangar.db'}")
    await store.open()
    yield store
    await store.close()


def service(store: Store, tmp_path: Path, woken: list[str]) -> InteractionService:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "helper.yaml").write_text(AGENT)
    broker = Broker()
    worker = Worker(store, broker, RunnerRegistry())  # not started: nothing takes the runs
    return InteractionService(
        store, worker, broker, agents=AgentRegistry.from_folder(agents), wake=woken.append
    )


async def test_a_run_on_an_environment_wakes_its_box_before_the_worker_takes_it(
    store: Store, tmp_path: Path
) -> None:
    woken: list[str] = []
    interactions = service(store, tmp_path, woken)
    body = {"agent": "helper", "input": "hi", "environment": "env_0123456789abcdef", "background": True}
    record = await interactions.create(DEFAULT_PROJECT, parse_create(body))
    assert woken == ["env_0123456789abcdef"]
    assert record.environment_id == "env_0123456789abcdef"
    assert await store.interactions.claim("w", 30) is not None  # still waiting for a worker


async def test_a_fresh_environment_is_woken_under_its_new_id(store: Store, tmp_path: Path) -> None:
    woken: list[str] = []
    record = await service(store, tmp_path, woken).create(
        DEFAULT_PROJECT, parse_create({"agent": "helper", "input": "hi", "background": True})
    )
    assert record.environment_id is not None and woken == [record.environment_id]


async def test_a_refused_request_wakes_nothing(store: Store, tmp_path: Path) -> None:
    woken: list[str] = []
    interactions = service(store, tmp_path, woken)
    body = {"agent": "nobody", "input": "hi", "environment": "env_0123456789abcdef", "background": True}
    with pytest.raises(NotFound):
        await interactions.create(DEFAULT_PROJECT, parse_create(body))
    model = {"model": "gemini-3-flash-preview", "input": "hi", "background": True}
    await interactions.create(DEFAULT_PROJECT, parse_create(model))  # no environment: nothing to wake
    assert woken == []


async def test_a_replayed_create_wakes_nothing_again(store: Store, tmp_path: Path) -> None:
    """Only a run that was accepted wakes its box: an idempotent replay (the insert returns the
    first run) does not, nor would a run the insert refuses."""
    woken: list[str] = []
    interactions = service(store, tmp_path, woken)
    body = {"agent": "helper", "input": "hi", "environment": "env_0123456789abcdef", "background": True}
    first = await interactions.create(DEFAULT_PROJECT, parse_create(body), idempotency_key="k1")
    again = await interactions.create(DEFAULT_PROJECT, parse_create(body), idempotency_key="k1")
    assert again.id == first.id
    assert woken == ["env_0123456789abcdef"]
