"""A create cancelled half-way leaves nothing behind, on real containers: a box cancelled while its
volume or container is being made, and an environment (with a source to place) cancelled while its
file box starts, leave no container and no volume, and the environment no record."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.docker import DockerProvider
from runtime.service.environments import EnvironmentService
from runtime.service.file_boxes import FileBoxes
from runtime.service.provisioning import Provisioner
from runtime.store import DEFAULT_PROJECT, Store

pytestmark = pytest.mark.docker


def labelled(docker_client: Any, tag: str) -> tuple[list[str], list[str]]:
    """Containers and volumes carrying the test's label."""
    filters = {"label": f"test={tag}"}
    containers = [c["Id"] for c in docker_client.api.containers(all=True, filters=filters)]
    volumes = [v["Name"] for v in docker_client.api.volumes(filters=filters)["Volumes"] or []]
    return containers, volumes


async def cancel_when(task: asyncio.Task[Any], seen: Callable[[], bool]) -> None:
    async with asyncio.timeout(60):
        while not seen() and not task.done():  # noqa: ASYNC110 (polls the engine, which has no event for it)
            await asyncio.sleep(0.002)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("stage", ["volume", "container"])
async def test_a_box_cancelled_while_it_is_made_leaves_nothing(
    provider: DockerProvider, make_spec: Callable[..., SandboxSpec], docker_client: Any, stage: str
) -> None:
    tag = secrets.token_hex(4)
    task = asyncio.create_task(provider.create(make_spec(labels=(("test", tag),))))
    index = 1 if stage == "volume" else 0
    await cancel_when(task, lambda: bool(labelled(docker_client, tag)[index]))
    assert labelled(docker_client, tag) == ([], [])


@pytest.fixture
async def environments(
    provider: DockerProvider, spec: SandboxSpec, tmp_path: Path
) -> AsyncIterator[EnvironmentService]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'hangar.db'}")
    await store.open()
    boxes = FileBoxes(provider, spec)
    try:
        yield EnvironmentService(store, boxes, provider, provisioner=Provisioner(boxes, provider, spec))
    finally:
        await boxes.stop()
        await store.close()


async def test_an_environment_cancelled_while_its_sources_are_placed_leaves_nothing(
    environments: EnvironmentService, provider: DockerProvider, docker_client: Any
) -> None:
    body = {"sources": [{"type": "inline", "target": "a.txt", "content": "A"}]}
    task = asyncio.create_task(environments.create(DEFAULT_PROJECT, body))
    volumes: list[str] = []

    def box_started() -> bool:
        mine = {"label": [f"hangar.namespace={provider.config.namespace}", "hangar.role=workspace"]}
        volumes[:] = [v["Name"] for v in docker_client.api.volumes(filters=mine)["Volumes"] or []]
        return bool(volumes) and any(
            docker_client.api.containers(all=True, filters={"volume": v}) for v in volumes
        )

    await cancel_when(task, box_started)
    assert volumes, "cancelled before its volume was made (nothing to test)"
    for name in volumes:
        assert not docker_client.api.containers(all=True, filters={"volume": name})
        assert not docker_client.api.volumes(filters={"name": name})["Volumes"]
    page = await environments.list(DEFAULT_PROJECT, None, None)
    assert not page.items
