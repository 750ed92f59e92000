"""Two nodes on one engine and one store: a live node leaves a live node's boxes alone and reaps a
dead node's (its heartbeat stopped, its containers left running)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime.errors import HangarError, SandboxGone
from runtime.sandbox import engine as eng
from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.docker import DockerProvider, DockerProviderConfig
from runtime.sandbox.reaper import list_owned
from runtime.service.nodes import NodeHeartbeat
from runtime.store import Store

pytestmark = pytest.mark.docker


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'nodes.db'}")
    await store.open()
    yield store
    await store.close()


@contextlib.asynccontextmanager
async def node(store: Store, node_id: str, namespace: str, state_dir: Path) -> AsyncIterator[
    tuple[NodeHeartbeat, DockerProvider]
]:
    heartbeat = NodeHeartbeat(store, node_id, namespace, every=0.2, dead_after=1.5)
    await heartbeat.start()
    config = DockerProviderConfig(
        state_dir=state_dir, namespace=namespace, owner=node_id, reap_on_start=False, reap_interval_s=None,
        watchdog_interval_s=None,
    )
    provider = DockerProvider(config)
    provider.reaper.live_owners = heartbeat.live_owners
    await provider.start()
    try:
        yield heartbeat, provider
    finally:
        await provider.stop()
        await heartbeat.stop()


async def _die(heartbeat: NodeHeartbeat) -> None:
    """The node's process is gone: its heartbeat stops (no clean stop is recorded)."""
    task = heartbeat._task
    assert task is not None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    heartbeat._task = None  # its stop() then records nothing


async def test_a_live_node_reaps_a_dead_nodes_boxes_on_the_same_engine(
    store: Store, spec: SandboxSpec, docker_client: Any, namespace: str, state_dir: Path
) -> None:
    ns = f"{namespace}-nodes"
    async with (
        node(store, "node-a", ns, state_dir) as (beat_a, a), node(store, "node-b", ns, state_dir) as (_, b),
    ):
        box_a = await a.create(spec)
        box_b = await b.create(spec)
        labels = docker_client.api.inspect_container(box_a.container_id)["Config"]["Labels"]
        assert (labels[eng.LABEL_NAMESPACE], labels[eng.LABEL_OWNER]) == (ns, "node-a")
        volume = docker_client.api.inspect_volume(box_a.where.workspace_volume)
        assert volume["Labels"][eng.LABEL_OWNER] == "node-a"

        # Both alive: neither reaps the other's box, though it tracks only its own.
        assert not await b.reaper.reap_once()
        assert not await a.reaper.reap_once()
        assert (await box_a.client.exec(["true"])).exit_code == 0

        await _die(beat_a)
        async with asyncio.timeout(30):
            while "node-a" in await beat_a.live_owners():  # noqa: ASYNC110 (a row ages; no event)
                await asyncio.sleep(0.2)
        reaped = await b.reaper.reap_once()
        assert reaped.sandbox_ids() == [box_a.id]
        assert set(reaped.containers) == {box_a.container_id}
        left = list_owned(docker_client, ns, b.sockets_dir)
        assert box_a.id not in [*left.containers.values(), *left.volumes.values(), *left.socket_dirs.values()]
        with pytest.raises(SandboxGone):
            await box_a.client.exec(["true"])
        assert (await box_b.client.exec(["true"])).exit_code == 0  # the live node's own box is kept
        await box_b.stop()
    left = list_owned(docker_client, ns, b.sockets_dir)
    assert not left, f"namespace {ns} left resources behind: {left}"


async def test_removing_a_volume_spares_a_live_other_nodes_box_on_it(
    store: Store, spec: SandboxSpec, docker_client: Any, namespace: str, state_dir: Path
) -> None:
    """Deleting an environment on node A does not remove node B's box on its workspace while B is
    alive (the removal fails instead); once B is dead, its box goes with the volume."""
    ns = f"{namespace}-holders"
    volume = f"{ns}-ws"
    async with (
        node(store, "node-a", ns, state_dir) as (_, a), node(store, "node-b", ns, state_dir) as (beat_b, b),
    ):
        box_b = await b.create(spec.model_copy(update={"workspace_volume": volume}))
        with pytest.raises(HangarError):
            await a.remove_volume(volume)  # in use by a live node's box
        assert (await box_b.client.exec(["true"])).exit_code == 0
        assert docker_client.api.inspect_container(box_b.container_id)["State"]["Running"]

        await _die(beat_b)
        async with asyncio.timeout(30):
            while "node-b" in await beat_b.live_owners():  # noqa: ASYNC110 (a row ages; no event)
                await asyncio.sleep(0.2)
        await a.remove_volume(volume)
        assert not eng.volume_exists(docker_client, volume)
        with pytest.raises(SandboxGone):
            await box_b.client.exec(["true"])
        await a.reaper.reap_once()  # what is left of the dead node's box (its socket directory)
