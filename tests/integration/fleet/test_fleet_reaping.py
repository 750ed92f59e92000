"""A dead server's boxes on a shared engine, for real: three ``hangar serve`` processes on one
PostgreSQL, one Docker engine, one namespace and one data directory (the topology of several
servers on one host). Server A runs boxes (two kept warm after their runs, one running a long
shell call, one the warm pool pre-started with an empty workspace); B and C have boxes of their
own, C's behind the egress proxy A started. ``kill -9`` of A; B, from A's heartbeat in the store,
declares A dead and removes A's containers by their owner label (and the pooled box's workspace,
which no environment names); A's run is taken over (fenced: every step once) and completes; B
leaves alone its own boxes, C's boxes and the proxy C's box still uses (it still answers from C's
box), and A's environments keep their workspaces.

Before the kill, everything the servers created on the engine (found by what it mounts and joins,
not by its labels) carries the namespace and an owner label: boxes, pooled and kept boxes, a file
box, workspace volumes, the egress proxy and its network.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import docker
import pytest
from fleet_harness import Fleet, wait_for
from server_process import ServerProcess, fake_gemini

from runtime.llm.script import JsonDict, ScriptedTurn, call, turn
from runtime.sandbox import engine as eng
from runtime.store import Store
from runtime.worker.agent_runner import workspace_volume

AGENT = "antigravity"
NETWORK = {"type": "remote", "network": {"allowlist": [{"domain": "allowed.test"}]}}
LIMIT = 240.0
"""Generous: boxes start slowly on a loaded machine; nothing below is timed."""
DENIED = "curl -s -o /dev/null -w 'denied=%{http_code}' --max-time 20 http://denied.test/"
"""Answered by the egress proxy itself (403: not on the allowlist); no packet leaves the machine."""


def task_and_answer(request: JsonDict) -> tuple[str, str | None]:
    """The last user text of the request and the id of the call answered after it, if any."""
    task, answered = "", None
    for content in request.get("contents", []):
        for part in content.get("parts", []):
            if not isinstance(part, dict):
                continue
            if content.get("role") == "user" and isinstance(part.get("text"), str):
                task, answered = part["text"], None
            elif isinstance(part.get("functionResponse"), dict):
                answered = str(part["functionResponse"].get("id"))
    return task, answered


def script(request: JsonDict) -> ScriptedTurn:
    task, answered = task_and_answer(request)
    if task == "long":
        if answered is None:
            return turn(calls=[call("shell", command="echo before-kill > kept.txt && sleep 120", id="s1")])
        if answered == "s1":
            return turn(calls=[call("shell", command="cat kept.txt", id="s2")])
        return turn("long done")
    if task == "probe":
        return turn("probe done") if answered else turn(calls=[call("shell", command=DENIED, id="p1")])
    return turn("quick done") if answered else turn(calls=[call("shell", command="echo quick", id="q1")])


def settled(client: Any, interaction_id: str, server: ServerProcess) -> Any:
    def done() -> bool:
        return bool(client.interactions.get(interaction_id).status != "in_progress")

    wait_for(done, LIMIT, f"interaction {interaction_id} to end")
    final = client.interactions.get(interaction_id)
    assert final.status == "completed", (getattr(final, "errors", None), server.log_tail())
    return final


def run(client: Any, server: ServerProcess, task: str, **kwargs: Any) -> Any:
    created = client.interactions.create(agent=AGENT, input=task, background=True, **kwargs)
    return settled(client, created.id, server)


def node_ids(fleet: Fleet, namespace: str) -> set[str]:
    async def read() -> set[str]:
        store = Store(fleet.database_url)
        await store.open()
        try:
            return {n.id for n in await store.nodes.of_namespace(namespace)}
        finally:
            await store.close()

    return asyncio.run(read())


def unnamed_workspaces(client: Any, namespace: str, owner: str, environment_ids: list[str]) -> set[str]:
    """``owner``'s workspace volumes but those of ``environment_ids`` (its pre-started boxes')."""
    filters = eng.namespace_filter(namespace, **{eng.LABEL_OWNER: owner, eng.LABEL_ROLE: eng.ROLE_WORKSPACE})
    found = {v["Name"] for v in client.api.volumes(filters=filters).get("Volumes") or []}
    return found - {workspace_volume(e) for e in environment_ids}


def containers_of(client: Any, namespace: str, owner: str) -> dict[str, str]:
    """Container id -> role (``box`` or the proxy's) of ``owner``'s containers in the namespace."""
    filters = eng.namespace_filter(namespace, **{eng.LABEL_OWNER: owner})
    rows = client.api.containers(all=True, filters=filters)
    return {r["Id"]: (r.get("Labels") or {}).get(eng.LABEL_ROLE, "box") for r in rows}


def created_by(client: Any, data_dir: Path, volumes: set[str]) -> dict[str, dict[str, dict[str, str]]]:
    """Everything on the engine the servers of ``data_dir`` created, found without their labels:
    containers that bind-mount from it, the volumes they mount (with the environments'
    ``volumes``), the networks they join. Kind -> name -> labels."""
    found: dict[str, dict[str, dict[str, str]]] = {"container": {}, "volume": {}, "network": {}}
    root = str(data_dir.resolve())
    for row in client.api.containers(all=True):
        mounts = row.get("Mounts") or []
        if not any(str(m.get("Source", "")).startswith(root) for m in mounts if m.get("Type") == "bind"):
            continue
        found["container"][row["Names"][0].lstrip("/")] = row.get("Labels") or {}
        volumes |= {m["Name"] for m in mounts if m.get("Type") == "volume"}
        networks = (row.get("NetworkSettings") or {}).get("Networks") or {}
        found["network"].update(dict.fromkeys(n for n in networks if n not in ("none", "bridge", "host")))
    for name in volumes:
        found["volume"][name] = client.api.inspect_volume(name).get("Labels") or {}
    for name in found["network"]:
        found["network"][name] = client.api.inspect_network(name).get("Labels") or {}
    return found


def environments_of(client: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return client.environments


def remove_namespace(client: Any, namespace: str, volumes: set[str]) -> None:
    """The test's own namespace and volumes, whatever the servers left."""
    filters = eng.namespace_filter(namespace)
    for row in client.api.containers(all=True, filters=filters):
        eng.remove_container(client, row["Id"])
    for vol in client.api.volumes(filters=filters).get("Volumes") or []:
        volumes.add(vol["Name"])
    for name in volumes:
        with contextlib.suppress(docker.errors.APIError):
            eng.remove_volume(client, name)
    for net in client.api.networks(filters=filters):
        eng.remove_network(client, net["Name"])


@pytest.mark.docker
@pytest.mark.slow
def test_a_live_server_reaps_a_killed_servers_boxes_and_nothing_else(
    fleet: Fleet, sandbox_image: str
) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hr-", dir="/tmp"))
    ns = fleet.namespace
    fast = {
        "HANGAR_SANDBOX_IMAGE": sandbox_image, "HANGAR_NODE_HEARTBEAT_SECONDS": "1",
        "HANGAR_FILE_BOX_IDLE_SECONDS": "3600", "HANGAR_WARM_MIN_FREE_MB": "0",  # nothing stops on its own
    }
    engine = docker.from_env()
    volumes: set[str] = set()
    try:
        with fake_gemini(script) as fake:
            a = fleet.add(fake.base_url, data_dir, **fast, HANGAR_NODE_DEAD_AFTER_SECONDS="4")
            (a_id,) = node_ids(fleet, ns)
            on_a = a.client()
            plain = run(on_a, a, "quick a0")  # kept warm; the pool learns its spec and pre-starts one
            first = run(on_a, a, "quick a", environment=NETWORK)  # kept warm, behind the proxy A starts
            long = on_a.interactions.create(agent=AGENT, input="long", environment=NETWORK, background=True)

            def sleeping() -> bool:
                now = on_a.interactions.get(long.id)
                assert now.status == "in_progress", (now, a.log_tail())
                return any(s.type == "code_execution_call" for s in now.steps or [])

            wait_for(sleeping, LIMIT, "A's long shell call to run")
            of_a = [str(i.environment_id) for i in (plain, first, long)]
            wait_for(lambda: bool(unnamed_workspaces(engine, ns, a_id, of_a)), LIMIT, "A's pooled box")
            # B declares dead nodes 4 s after their last beat; C never does within the test, so
            # B is the one that reaps (and B's runs use no egress: the proxy is not B's to keep).
            b = fleet.add(fake.base_url, data_dir, **fast, HANGAR_NODE_DEAD_AFTER_SECONDS="4")
            (b_id,) = node_ids(fleet, ns) - {a_id}
            c = fleet.add(fake.base_url, data_dir, **fast, HANGAR_NODE_DEAD_AFTER_SECONDS="3600")
            (c_id,) = node_ids(fleet, ns) - {a_id, b_id}  # one node each, on one data directory
            ids = {a_id, b_id, c_id}
            on_b, on_c = b.client(), c.client()
            run(on_b, b, "quick b")
            on_c_run = run(on_c, c, "quick c", environment=NETWORK)
            on_c_env = on_c_run.environment_id
            files_env = environments_of(on_c).create()  # its files through a file box of C's
            environments_of(on_c).files.upload(environment=files_env.id, path="f.txt", file=b"f")
            environment_ids = {plain.environment_id, first.environment_id, long.environment_id, on_c_env,
                               files_env.id}
            volumes |= {workspace_volume(e) for e in environment_ids if e}

            # Everything the servers created carries the namespace and the owner that made it.
            everything = created_by(engine, data_dir, set(volumes))
            assert everything["network"], everything  # the egress proxy's
            for kind, objects in everything.items():
                for name, labels in objects.items():
                    assert labels.get(eng.LABEL_MANAGED) == "1", (kind, name, labels)
                    assert labels.get(eng.LABEL_NAMESPACE) == ns, (kind, name, labels)
                    assert labels.get(eng.LABEL_OWNER) in ids, (kind, name, labels)

            mine_a = containers_of(engine, ns, a_id)
            proxy = [cid for cid, role in mine_a.items() if role != "box"]
            assert len(proxy) == 1 and len(mine_a) >= 5, mine_a  # 2 kept, 1 running, 1 pooled boxes
            others = {**containers_of(engine, ns, b_id), **containers_of(engine, ns, c_id)}
            assert others, "B and C have boxes"

            a.kill()  # its boxes keep running: nothing of A's shutdown ran
            killed = time.monotonic()

            def a_boxes_gone() -> bool:
                return set(containers_of(engine, ns, a_id)) <= set(proxy)

            wait_for(a_boxes_gone, LIMIT, "A's boxes to be reaped")
            # and the pooled box's empty workspace (no environment names it); A's environments keep theirs
            wait_for(lambda: not unnamed_workspaces(engine, ns, a_id, of_a), LIMIT, "A's pooled workspace")
            for environment_id in of_a:
                engine.api.inspect_volume(workspace_volume(environment_id))
            print(f"A's boxes reaped {time.monotonic() - killed:.1f} s after the kill")  # measured only
            # (the reap's log line follows the removals)
            reaped = "reaped orphaned sandboxes"
            wait_for(lambda: reaped in b.log_tail(100_000), LIMIT, "B's reap to be logged")
            log_b = b.log_tail(100_000)
            declared = next(line for line in log_b.splitlines() if "node.declared_dead" in line)
            assert a_id in declared and c_id not in declared, declared

            # A's run is taken over by B or C (fenced: every step once) and completes.
            done = settled(on_b, long.id, b)
            starts = Counter(
                e.event["index"] for e in fleet.events(long.id) if e.event.get("event_type") == "step.start"
            )
            assert starts and set(starts.values()) == {1}, starts
            assert "before-kill" in str((done.steps or [])[4].result)

            # B kept its own boxes and C's, and the proxy C's kept box still goes through.
            left = {r["Id"] for r in engine.api.containers(all=True, filters=eng.namespace_filter(ns))}
            assert set(others) <= left, (set(others) - left, log_b[-5000:])
            assert set(proxy) <= left, log_b[-5000:]
            probed = run(on_c, c, "probe", previous_interaction_id=on_c_run.id)
            assert "denied=403" in str(probed.steps[-2].result), probed.steps  # type: ignore[index]
            assert not fake.failures, fake.failures
    finally:
        for server in fleet.servers:
            server.stop()
        remove_namespace(engine, ns, volumes)
        engine.close()
