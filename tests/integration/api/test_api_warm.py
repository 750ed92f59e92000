"""Environments stay warm, through the real API and SDK: a follow-up turn finds the Python variable
and the background process of the previous turn (its box was kept paused between the turns); a
cancelled run's box is not kept; deleting the environment stops its kept box."""

from __future__ import annotations

import datetime
import time
import warnings
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from api_harness import HangarServer

from runtime.llm import call, turn
from runtime.worker.agent_runner import workspace_volume

pytestmark = pytest.mark.docker

AGENT = "antigravity"


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    client.close()


def wait_done(hangar: HangarServer, interaction_id: str, limit_s: float = 90) -> Any:
    client = hangar.client()
    deadline = time.monotonic() + limit_s
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status not in ("in_progress", "requires_action") or time.monotonic() > deadline:
            return interaction
        time.sleep(0.2)


def boxes_on(engine: Any, environment_id: str) -> list[Any]:
    return list(engine.containers.list(all=True, filters={"volume": workspace_volume(environment_id)}))


def wait_no_box(engine: Any, environment_id: str, limit_s: float = 30) -> list[Any]:
    deadline = time.monotonic() + limit_s
    while (left := boxes_on(engine, environment_id)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def results(interaction: Any) -> list[str]:
    return [str(s.result) for s in interaction.steps or [] if s.type == "code_execution_result"]


def test_a_follow_up_turn_finds_the_python_variable_and_background_process(
    hangar: HangarServer, engine: Any
) -> None:
    client = hangar.client()
    hangar.script.set(
        turn(calls=[call("python", code="answer = 6 * 7", id="p1")]),
        turn(calls=[call("shell", command="sleep 600 & echo $! > /tmp/bg.pid; echo started", id="s1")]),
        turn("Set up."),
    )
    first = wait_done(hangar, client.interactions.create(
        agent=AGENT, input="set up", environment="remote", background=True
    ).id)
    assert first.status == "completed", getattr(first, "errors", None)
    env_id = first.environment_id
    kept = boxes_on(engine, env_id)
    assert [c.status for c in kept] == ["paused"]  # kept, not stopped

    hangar.script.set(
        turn(calls=[call("python", code="print(answer)", id="p2")]),
        turn(calls=[call("shell", command="kill -0 $(cat /tmp/bg.pid) && echo alive", id="s2")]),
        turn("Still there."),
    )
    second = wait_done(hangar, client.interactions.create(
        agent=AGENT, input="check", previous_interaction_id=first.id, environment=env_id, background=True
    ).id)
    assert second.status == "completed", getattr(second, "errors", None)
    out = results(second)
    assert "42" in out[0], out
    assert "alive" in out[1], out
    assert [c.id for c in boxes_on(engine, env_id)] == [c.id for c in kept]  # the same box, resumed

    with warnings.catch_warnings():  # the SDK flags environments as experimental
        warnings.simplefilter("ignore", UserWarning)
        client.environments.delete(env_id)
    assert not wait_no_box(engine, env_id), "deleting the environment left its kept box"


def test_a_cancelled_run_does_not_keep_its_box(hangar: HangarServer, engine: Any) -> None:
    client = hangar.client()
    hangar.script.set(turn(calls=[call("shell", command="sleep 60", id="s1")]))
    created = client.interactions.create(agent=AGENT, input="wait", environment="remote", background=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(s.type == "code_execution_call" for s in client.interactions.get(created.id).steps or []):
            break
        time.sleep(0.2)
    assert client.interactions.cancel(created.id).status == "cancelled"
    env_id = client.interactions.get(created.id).environment_id
    assert not wait_no_box(engine, env_id), "the cancelled run's box was kept"


def created_at(engine: Any, container_id: str) -> float:
    created = engine.api.inspect_container(container_id)["Created"]
    return datetime.datetime.fromisoformat(created[:26].rstrip("Z") + "+00:00").timestamp()


def pre_started(engine: Any, client: Any, namespace: str) -> list[str]:
    """Paused boxes of the namespace on the workspace of an environment the API does not know yet: the
    pool's pre-started boxes (a kept box's environment exists; a pre-started one's is made at claim)."""
    filters = {"label": f"hangar.namespace={namespace}", "status": "paused"}
    found = []
    for row in engine.api.containers(all=True, filters=filters):
        volumes = [m.get("Name", "") for m in row.get("Mounts", []) if m.get("Type") == "volume"]
        ids = [v[len("hangar-ws-"):].rsplit("-", 1)[0] for v in volumes if v.startswith("hangar-ws-env_")]
        if ids and not any(_known(client, env_id) for env_id in ids):
            found.append(row["Id"])
    return found


def _known(client: Any, environment_id: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            client.environments.get(environment_id)
        except Exception as e:  # the SDK's environments surface has its own error classes
            if getattr(e, "status_code", None) == 404:
                return False
            raise
    return True


def test_a_new_environment_adopts_a_pre_started_box(hangar: HangarServer, engine: Any) -> None:
    client = hangar.client()
    hangar.script.set(turn(calls=[call("shell", command="echo one", id="s1")]), turn("One."))
    first = wait_done(hangar, client.interactions.create(
        agent=AGENT, input="one", environment="remote", background=True
    ).id)
    assert first.status == "completed", getattr(first, "errors", None)
    kept = [c.id for c in boxes_on(engine, first.environment_id)]
    namespace = engine.api.inspect_container(kept[0])["Config"]["Labels"]["hangar.namespace"]
    deadline = time.monotonic() + 60  # the pool pre-starts a box of the run's spec in the background
    while not pre_started(engine, client, namespace) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pre_started(engine, client, namespace), "no box was pre-started"

    asked = time.time()
    hangar.script.set(turn(calls=[call("shell", command="echo two", id="s2")]), turn("Two."))
    second = wait_done(hangar, client.interactions.create(
        agent=AGENT, input="two", environment="remote", background=True
    ).id)
    assert second.status == "completed", getattr(second, "errors", None)
    assert "two" in results(second)[0]
    (box,) = boxes_on(engine, second.environment_id)
    assert created_at(engine, box.id) < asked, "the box was started for the run, not taken from the pool"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for env in (first.environment_id, second.environment_id):
            client.environments.delete(env)
