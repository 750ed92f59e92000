"""The shape a new environment's pre-started box is claimed for, computed at create time without
I/O (``EnvironmentService.new_id``), is the shape of the box its first run is then made from (after
``prepare`` on a real SQLite store, as the agent runner builds the spec): for agents with and
without network, an environment's own network and ``env``."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime.agents import AgentRegistry, default_agents_dir
from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.pooled import pool_shape
from runtime.service.agents import AgentCatalog
from runtime.service.environments import EnvironmentService
from runtime.service.file_boxes import FileBoxes
from runtime.service.provisioning import Provisioner
from runtime.store import DEFAULT_PROJECT, InteractionRecord, Store
from runtime.worker.agent_request import agent_for_call
from runtime.worker.agent_runner import run_spec
from runtime.worker.runner import InteractionConfig

BASE = SandboxSpec(image="hangar-sandbox:test", disk_quota_bytes=10**9)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    await store.open()
    yield store
    await store.close()


def shape(spec: SandboxSpec) -> SandboxSpec:
    return pool_shape(spec).model_copy(update={"workspace_volume": None})


CASES: list[tuple[str, Any]] = [
    ("antigravity", "remote"),
    ("deep-research", "remote"),  # its own allowlist, cpus and memory
    ("antigravity", {"network": {"allowlist": [{"domain": "pypi.org"}]}, "env": {"MODE": "x"}}),
    ("deep-research", {"network": "disabled"}),
    ("deep-research-max", {"env": {"A": {"value": "1"}}}),
]


@pytest.mark.parametrize(("agent_id", "environment"), CASES)
async def test_the_claimed_shape_is_the_first_runs_shape(
    store: Store, agent_id: str, environment: Any
) -> None:
    asked: list[SandboxSpec | None] = []
    environment_id = f"env_{secrets.token_hex(8)}"

    def claim(spec: SandboxSpec | None) -> str:
        asked.append(spec)
        return environment_id

    environments = EnvironmentService(
        store, FileBoxes(None, BASE), None, provisioner=Provisioner(FileBoxes(None, BASE), None, BASE),
        claim=claim, base_spec=BASE,
    )
    agent = await AgentCatalog(store, AgentRegistry.from_folder(default_agents_dir())).resolve(
        DEFAULT_PROJECT, agent_id
    )
    made, fresh = await environments.for_interaction(DEFAULT_PROJECT, environment, agent)
    assert (made, fresh) == (environment_id, True)
    (claimed,) = asked
    assert claimed is not None

    now = time.time()
    record = InteractionRecord(
        id="int_1", project_id=DEFAULT_PROJECT, kind="agent", target=agent_id, status="in_progress",
        input=[], config={}, previous_interaction_id=None, environment_id=environment_id, usage=None,
        errors=None, background=True, store=True, created=now, updated=now,
    )
    prepared = await environments.prepare(record, agent, environment, resumed=False)
    ran = run_spec(agent_for_call(prepared, InteractionConfig()), BASE, environment_id, DEFAULT_PROJECT)
    assert ran.workspace_volume is not None and claimed.workspace_volume is None
    assert shape(ran) == shape(claimed)


async def test_agents_of_different_networks_claim_different_shapes(store: Store) -> None:
    asked: list[SandboxSpec | None] = []
    environments = EnvironmentService(
        store, FileBoxes(None, BASE), None, provisioner=Provisioner(FileBoxes(None, BASE), None, BASE),
        claim=lambda spec: asked.append(spec), base_spec=BASE,  # type: ignore[func-returns-value]
    )
    catalog = AgentCatalog(store, AgentRegistry.from_folder(default_agents_dir()))
    for agent_id in ("antigravity", "deep-research"):
        agent = await catalog.resolve(DEFAULT_PROJECT, agent_id)
        await environments.for_interaction(DEFAULT_PROJECT, "remote", agent)
    environments.new_id()  # POST /environments: no agent, the shape is not known
    none, listed, unknown = asked
    assert none is not None and listed is not None and unknown is None
    assert (none.network, listed.network) == ("none", "allowlist")
    assert shape(none) != shape(listed)
