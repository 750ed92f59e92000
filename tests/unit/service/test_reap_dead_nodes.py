"""``reap_dead_nodes`` removes the unclaimed workspaces of nodes that are still dead when it looks,
not of every node in the list it was given: a node declared dead may have registered again under
its id and be making a box (workspace volume first, container next)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.sandbox import engine as eng
from runtime.service.gc import reap_dead_nodes

NS = "ns-test"


class FakeApi:
    """The engine as docker-py's low-level client shows it: workspace volumes, no container yet."""

    def __init__(self, owners: dict[str, str]) -> None:
        self.owners = owners
        self.removed: list[str] = []

    def volumes(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        rows = [{"Name": n, "Labels": eng.workspace_labels(NS, o)} for n, o in self.owners.items()]
        return {"Volumes": rows}

    def containers(self, all: bool = False, filters: Any = None) -> list[dict[str, Any]]:
        return []  # the re-registered node's box: its container is not created yet

    def remove_volume(self, name: str, force: bool = False) -> None:
        self.removed.append(name)


class FakeClient:
    def __init__(self, api: FakeApi) -> None:
        self.api = api


class FakeEngine:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


class FakeReaper:
    def __init__(self, live: set[str]) -> None:
        self.live = live

    async def reap_once(self) -> None:
        return None

    async def live_owners(self) -> set[str]:
        return self.live


class FakeEnvironments:
    async def volumes(self) -> set[str]:
        return set()  # no environment names these workspaces (pre-started boxes')


class FakeStore:
    environments = FakeEnvironments()


async def test_a_node_that_registered_again_keeps_its_new_workspace() -> None:
    api = FakeApi({"ws-of-x-new-box": "node-x", "ws-of-y": "node-y"})
    engine: Any = FakeEngine(FakeClient(api))
    reaper: Any = FakeReaper({"node-me", "node-x"})  # node-x registered again after it was declared
    store: Any = FakeStore()
    dead = ["node-x", "node-y"]
    removed = await reap_dead_nodes(dead, reaper=reaper, store=store, engine=engine, namespace=NS)
    assert removed == ["ws-of-y"] and api.removed == ["ws-of-y"]
