"""Nodes declared dead while a reap is in flight get a reap of their own right after it (each
node is declared once: skipped, its unclaimed workspaces would stay until ``hangar gc``)."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime.service.nodes import NodeHeartbeat


class FakeNodes:
    """The store's node rows as the heartbeat sees them: each beat declares the next batch."""

    def __init__(self, batches: list[list[str]]) -> None:
        self.batches = batches

    async def beat(self, node_id: str, when: float, live_boxes: object = None) -> bool:
        return True

    async def declare_dead(self, namespace: str, now: float, dead_after: float) -> list[str]:
        return self.batches.pop(0) if self.batches else []

    async def forget_dead(self, namespace: str, before: float) -> int:
        return 0


class FakeStore:
    def __init__(self, batches: list[list[str]]) -> None:
        self.nodes = FakeNodes(batches)


async def test_nodes_declared_during_a_reap_are_reaped_after_it() -> None:
    calls: list[list[str]] = []
    release = asyncio.Event()

    async def on_dead(dead: list[str]) -> None:
        calls.append(dead)
        await release.wait()  # a long reap: the engine is slow

    store: Any = FakeStore([["node-a"], ["node-b"], ["node-c"]])
    node = NodeHeartbeat(store, "node-me", "ns", every=60.0, dead_after=30.0, on_dead=on_dead)
    assert await node.beat() == ["node-a"]
    await asyncio.sleep(0)  # the reap of node-a starts and waits
    assert calls == [["node-a"]]
    assert await node.beat() == ["node-b"]  # declared while node-a's reap is in flight
    assert await node.beat() == ["node-c"]
    release.set()
    await asyncio.wait_for(node.reaped(), 10)
    assert calls == [["node-a"], ["node-b", "node-c"]]


async def test_a_failed_reap_does_not_drop_the_next_ones() -> None:
    calls: list[list[str]] = []
    release = asyncio.Event()

    async def on_dead(dead: list[str]) -> None:
        calls.append(dead)
        await release.wait()
        if dead == ["node-a"]:
            raise RuntimeError("engine hiccup")

    store: Any = FakeStore([["node-a"], ["node-b"]])
    node = NodeHeartbeat(store, "node-me", "ns", every=60.0, dead_after=30.0, on_dead=on_dead)
    await node.beat()
    await asyncio.sleep(0)
    await node.beat()
    release.set()
    await asyncio.wait_for(node.reaped(), 10)
    assert calls == [["node-a"], ["node-b"]]
