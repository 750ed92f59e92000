"""A deployment that mixes agents gets pre-started boxes for each, through the real API and SDK:
after a run of ``antigravity`` (no network: the operator's default) and one of ``deep-research``
(its own allowlist), the pool holds a box of each shape, and a new environment of EACH agent adopts
one (its container was created before the run was asked for), of its own shape."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from api_harness import HangarServer
from test_api_warm import boxes_on, created_at, pre_started, results, wait_done

from runtime.llm import call, turn

pytestmark = pytest.mark.docker

NO_NETWORK = "antigravity"
LISTED = "deep-research"


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    client.close()


def has_egress(engine: Any, container_id: str) -> bool:
    mounts = engine.api.inspect_container(container_id)["Mounts"]
    return any(m["Destination"] == "/run/egress" for m in mounts)


def run(hangar: HangarServer, client: Any, agent: str, word: str) -> Any:
    hangar.script.set(turn(calls=[call("python", code=f"print({word!r})", id="p1")]), turn("Done."))
    done = wait_done(hangar, client.interactions.create(
        agent=agent, input=word, environment="remote", background=True
    ).id)
    assert done.status == "completed", getattr(done, "errors", None)
    assert word in results(done)[0], results(done)
    return done


def shapes_pre_started(engine: Any, client: Any, namespace: str) -> tuple[bool, bool]:
    """Whether a pre-started box of each shape is there: (no network, deep-research's)."""
    boxes = pre_started(engine, client, namespace)
    with_egress = [has_egress(engine, b) for b in boxes]
    return False in with_egress, True in with_egress


def test_a_new_environment_of_each_recent_agent_adopts_a_pre_started_box_of_its_shape(
    hangar: HangarServer, engine: Any
) -> None:
    client = hangar.client()
    first = [run(hangar, client, NO_NETWORK, "one"), run(hangar, client, LISTED, "two")]  # LISTED last
    kept = boxes_on(engine, first[0].environment_id)
    namespace = engine.api.inspect_container(kept[0].id)["Config"]["Labels"]["hangar.namespace"]
    deadline = time.monotonic() + 90  # the pool pre-starts a box of each shape in the background
    while not all(shapes_pre_started(engine, client, namespace)):
        found = shapes_pre_started(engine, client, namespace)
        assert time.monotonic() < deadline, f"pre-started (no network, allowlist): {found}"
        time.sleep(0.3)

    asked = time.time()
    second = [run(hangar, client, NO_NETWORK, "three"), run(hangar, client, LISTED, "four")]
    for agent, done in zip((NO_NETWORK, LISTED), second, strict=True):
        (box,) = boxes_on(engine, done.environment_id)
        assert created_at(engine, box.id) < asked, f"{agent}: a box started for the run, not pre-started"
    plain, listed = (boxes_on(engine, done.environment_id)[0].id for done in second)
    assert (has_egress(engine, plain), has_egress(engine, listed)) == (False, True)  # each of its shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for done in first + second:
            client.environments.delete(done.environment_id)
