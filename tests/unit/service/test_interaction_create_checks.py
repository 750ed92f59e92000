"""The checks of a create that read the store run at once (the agent, the previous interaction),
yet report as they did one after the other: an unknown agent first, then the previous interaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.agents import AgentRegistry
from runtime.errors import InputError, NotFound
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


@pytest.fixture
def service(store: Store, tmp_path: Path) -> InteractionService:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "helper.yaml").write_text(AGENT)
    broker = Broker()
    worker = Worker(store, broker, RunnerRegistry())  # not started: runs stay in_progress
    return InteractionService(store, worker, broker, agents=AgentRegistry.from_folder(agents))


async def create(service: InteractionService, **body: object) -> str:
    record = await service.create(DEFAULT_PROJECT, parse_create({"input": "hi", "background": True, **body}))
    return record.id


async def test_an_unknown_agent_is_reported_before_an_unknown_previous_interaction(
    service: InteractionService,
) -> None:
    with pytest.raises(NotFound, match="nobody"):
        await create(service, agent="nobody", previous_interaction_id="int_missing")
    with pytest.raises(NotFound, match="int_missing"):
        await create(service, agent="helper", previous_interaction_id="int_missing")


async def test_a_previous_interaction_still_running_is_refused(service: InteractionService) -> None:
    running = await create(service, agent="helper")
    with pytest.raises(InputError, match="still in_progress"):
        await create(service, agent="helper", previous_interaction_id=running)
