"""Nothing left behind, through the real google-genai client against a real server and real boxes:
every container and volume the server creates carries its namespace and its node's owner label
(the node recorded with a heartbeat in the store), and an environment past retention answers 404
and its volume is really gone."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from env_harness import Served, probe_agent, serving
from google import genai
from google.genai import _interactions as errors
from harness.sdk import environments_of

from runtime.llm import call, turn
from runtime.sandbox import engine as eng
from runtime.service.sandboxes import docker_backend

pytestmark = pytest.mark.docker

NODE = f"node-lifecycle-{secrets.token_hex(3)}"
RETENTION_S = 4.0


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str, drop_environment_volumes: Any
) -> Iterator[Served]:
    with serving(
        tmp_path_factory.mktemp("hangar-lifecycle"), sandbox_image, drop_environment_volumes,
        node_id=NODE, environment_retention_seconds=RETENTION_S, retention_sweep_seconds=0.3,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def agent(served: Served) -> Iterator[str]:
    with probe_agent(served, "lifecycle-probe") as agent_id:
        yield agent_id


def _namespace_objects(docker_client: Any, namespace: str) -> tuple[list[Any], dict[str, Any]]:
    filters = {"label": [f"{eng.LABEL_NAMESPACE}={namespace}"]}
    containers = [c["Labels"] for c in docker_client.api.containers(all=True, filters=filters)]
    volumes = {v["Name"]: v["Labels"] for v in docker_client.api.volumes(filters=filters)["Volumes"] or []}
    return containers, volumes


def test_every_container_and_volume_carries_namespace_and_owner(
    served: Served, agent: str, docker_client: Any
) -> None:
    backend = docker_backend(served.services.environments.provider)  # under the warm paths
    assert backend is not None
    namespace = backend.config.namespace
    client = served.server.client()
    environments = environments_of(client)
    env = environments.create()
    environments.files.upload(environment=env.id, path="a.txt", file=b"kept")  # a file box, the volume
    env_volume = served.call(served.services.environments.record("default", env.id)).volume
    labels = docker_client.api.inspect_volume(env_volume)["Labels"]
    assert (labels[eng.LABEL_NAMESPACE], labels[eng.LABEL_OWNER]) == (namespace, NODE)
    assert labels[eng.LABEL_ROLE] == eng.ROLE_WORKSPACE and eng.LABEL_ID not in labels
    served.server.script.set(turn(calls=[call("shell", command="sleep 4; echo ok", id="s1")]), turn("Done."))
    running = client.interactions.create(agent=agent, input="wait", environment="remote", background=True)
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(seen) < 2:  # the file box and the run's box
        containers, volumes = _namespace_objects(docker_client, namespace)
        for labels in containers:
            assert labels[eng.LABEL_OWNER] == NODE, labels
            seen.add(labels[eng.LABEL_ID])
        time.sleep(0.2)
    assert len(seen) >= 2, f"saw only {seen}"
    containers, volumes = _namespace_objects(docker_client, namespace)
    assert volumes, "no volume was labelled"
    for name, labels in volumes.items():
        assert (labels[eng.LABEL_MANAGED], labels[eng.LABEL_OWNER]) == ("1", NODE), (name, labels)
    nodes = served.call(served.services.store.nodes.of_namespace(namespace))
    assert [(n.id, n.stopped) for n in nodes] == [(NODE, None)]
    assert time.time() - nodes[0].heartbeat < 30

    async def finished() -> str:
        while (record := await served.services.store.interactions.get(running.id)) is not None:
            if record.status != "in_progress":
                return record.status
            await asyncio.sleep(0.2)
        return "gone"

    assert served.call(finished()) == "completed"


def test_an_environment_past_retention_answers_404_and_its_volume_is_gone(
    served: Served, agent: str, docker_client: Any
) -> None:
    client = served.server.client()
    environments = environments_of(client)
    env = environments.create()
    environments.files.upload(environment=env.id, path="notes.txt", file=b"soon gone")
    volume = served.call(served.services.environments.record("default", env.id)).volume
    docker_client.volumes.get(volume)  # exists now
    deadline = time.monotonic() + RETENTION_S + 30
    while True:
        try:
            environments.get(env.id)
        except errors.NotFoundError:
            break
        assert time.monotonic() < deadline, "the environment did not expire"
        time.sleep(0.3)
    # The id answers 404 once the environment is marked expired; its volume goes right after.
    while volume in {v.name for v in docker_client.volumes.list(filters={"name": volume})}:
        assert time.monotonic() < deadline, "the expired environment's volume was not removed"
        time.sleep(0.2)
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(volume)
    with pytest.raises(genai.errors.ClientError) as caught:
        environments.files.download(environment=env.id, path="notes.txt")
    assert caught.value.code == 404
    with pytest.raises(errors.NotFoundError):
        client.interactions.create(agent=agent, input="again", environment=env.id)
    assert env.id not in [e.id for e in environments.list(page_size=1000).environments or []]
