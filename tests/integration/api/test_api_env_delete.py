"""Deleting an environment right after using it, through the real API and real boxes: right after
a run (its box is kept warm, paused), and right after a files API call (the server's file box
holds the workspace) the delete succeeds, and no box and no volume of the environment remain."""

from __future__ import annotations

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


def environments_of(client: Any) -> Any:
    with warnings.catch_warnings():  # the SDK flags environments as experimental
        warnings.simplefilter("ignore", UserWarning)
        return client.environments


def wait_done(hangar: HangarServer, interaction_id: str, limit_s: float = 90) -> Any:
    client = hangar.client()
    deadline = time.monotonic() + limit_s
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status not in ("in_progress", "requires_action") or time.monotonic() > deadline:
            return interaction
        time.sleep(0.1)


def left_behind(engine: Any, environment_id: str) -> tuple[list[str], bool]:
    """Containers mounting the environment's volume, and whether the volume exists."""
    volume = workspace_volume(environment_id)
    boxes = [c.name for c in engine.containers.list(all=True, filters={"volume": volume})]
    return boxes, bool(engine.volumes.list(filters={"name": volume}))


def run_once(hangar: HangarServer) -> str:
    hangar.script.set(turn(calls=[call("shell", command="echo hi > note.txt", id="s1")]), turn("Done."))
    client = hangar.client()
    done = wait_done(hangar, client.interactions.create(
        agent=AGENT, input="write", environment="remote", background=True
    ).id)
    assert done.status == "completed", getattr(done, "errors", None)
    return str(done.environment_id)


def test_delete_right_after_a_run(hangar: HangarServer, engine: Any) -> None:
    env_id = run_once(hangar)
    assert left_behind(engine, env_id)[0], "the run's box was not kept warm (nothing to test)"
    client = hangar.client()  # kept: a dropped client closes its connections
    environments_of(client).delete(env_id)
    assert left_behind(engine, env_id) == ([], False)


def test_delete_right_after_a_run_and_a_files_call(hangar: HangarServer, engine: Any) -> None:
    env_id = run_once(hangar)
    client = hangar.client()
    environments = environments_of(client)
    listing = environments.files.list(env_id, ".", recursive=True)
    assert any(f.path.endswith("note.txt") for f in listing.files)
    assert len(left_behind(engine, env_id)[0]) == 2  # the kept box and the file box
    environments.delete(env_id)
    assert left_behind(engine, env_id) == ([], False)


def test_delete_right_after_an_upload(hangar: HangarServer, engine: Any) -> None:
    client = hangar.client()
    environments = environments_of(client)
    env = environments.create()
    environments.files.upload(environment=env.id, path="a.txt", file=b"A")
    environments.delete(env.id)
    assert left_behind(engine, env.id) == ([], False)
