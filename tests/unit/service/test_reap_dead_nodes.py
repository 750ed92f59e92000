"""``reap_dead_nodes`` removes the unclaimed workspaces of nodes that are still dead when it looks,
not of every node in the list it was given: a node declared dead may have registered again under
its id and be making a box (workspace volume first, container next). Which workspaces are
unclaimed is one computation, shared with ``hangar gc``'s orphan volumes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.sandbox import engine as eng
from runtime.service.gc import reap_dead_nodes, unnamed_workspaces

NS = "ns-test"


class FakeApi:
    """The engine as docker-py's low-level client shows it: workspace volumes, no container yet."""

    def __init__(self, owners: dict[str, str], mounted: tuple[str, ...] = ()) -> None:
        self.owners = owners
        self.mounted = mounted
        self.removed: list[str] = []

    def volumes(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        rows = [{"Name": n, "Labels": eng.workspace_labels(NS, o)} for n, o in self.owners.items()]
        return {"Volumes": rows}

    def containers(self, all: bool = False, filters: Any = None) -> list[dict[str, Any]]:
        mounts = [{"Type": "volume", "Name": n} for n in self.mounted]
        return [{"Id": "c" * 64, "Names": ["/a-box"], "Mounts": mounts}] if mounts else []

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
    def __init__(self, named: set[str]) -> None:
        self.named = named

    async def volumes(self) -> set[str]:
        return set(self.named)


class FakeStore:
    def __init__(self, named: set[str] | None = None) -> None:
        self.environments = FakeEnvironments(named or set())


async def test_a_node_that_registered_again_keeps_its_new_workspace() -> None:
    api = FakeApi({"ws-of-x-new-box": "node-x", "ws-of-y": "node-y"})
    engine: Any = FakeEngine(FakeClient(api))
    reaper: Any = FakeReaper({"node-me", "node-x"})  # node-x registered again after it was declared
    store: Any = FakeStore()
    dead = ["node-x", "node-y"]
    removed = await reap_dead_nodes(dead, reaper=reaper, store=store, engine=engine, namespace=NS)
    assert removed == ["ws-of-y"] and api.removed == ["ws-of-y"]


async def test_unclaimed_workspaces_are_those_no_environment_names_and_no_container_mounts() -> None:
    owners = {"ws-named": "node-y", "ws-mounted": "node-y", "ws-going": "node-y", "ws-free": "node-y"}
    api = FakeApi(owners, mounted=("ws-mounted",))
    engine: Any = FakeEngine(FakeClient(api))
    store: Any = FakeStore({"ws-named", "ws-going"})
    found = await unnamed_workspaces(store, engine, NS, {"ws-going"})
    assert found == {"ws-going": "node-y", "ws-free": "node-y"}
    reaper: Any = FakeReaper({"node-me"})
    # The dead node's reap uses the same rule (an expiring environment's volume is retention's).
    removed = await reap_dead_nodes(["node-y"], reaper=reaper, store=store, engine=engine, namespace=NS)
    assert removed == ["ws-free"] and api.removed == ["ws-free"]
