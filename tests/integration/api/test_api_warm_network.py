"""New environments with an allowlist adopt pre-started boxes too, through the real API and SDK:
after an allowlist run, a box of its shape is pre-started (with an empty allowlist); the next new
environment with an allowlist gets it, and from inside, the box has that environment's rule (its
own domain passes the allowlist, the earlier environment's does not)."""

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

AGENT = "antigravity"
CURL = "curl -sS --max-time 5 http://{}:8000/ 2>&1; echo"
NOT_LISTED = "is not in this sandbox's allowlist"


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    client.close()


def network(domain: str) -> dict[str, Any]:
    return {"network": {"allowlist": [{"domain": domain}]}}


def with_egress(engine: Any, container_ids: list[str], kept: list[str]) -> list[str]:
    """Those of ``container_ids`` (less ``kept``) that mount an egress proxy socket directory."""
    return [
        c for c in container_ids if c not in kept
        and any(m["Destination"] == "/run/egress" for m in engine.api.inspect_container(c)["Mounts"])
    ]


def test_a_new_allowlist_environment_adopts_a_pre_started_box_with_its_own_rule(
    hangar: HangarServer, engine: Any
) -> None:
    client = hangar.client()
    hangar.script.set(turn(calls=[call("shell", command=CURL.format("first.test"), id="s1")]), turn("One."))
    first = wait_done(hangar, client.interactions.create(
        agent=AGENT, input="one", environment=network("first.test"), background=True
    ).id)
    assert first.status == "completed", getattr(first, "errors", None)
    assert NOT_LISTED not in results(first)[0], results(first)  # its own domain passed the allowlist
    kept = [c.id for c in boxes_on(engine, first.environment_id)]
    namespace = engine.api.inspect_container(kept[0])["Config"]["Labels"]["hangar.namespace"]
    deadline = time.monotonic() + 60  # (other tests' runs may have pre-started boxes without egress)
    while not with_egress(engine, pre_started(engine, client, namespace), kept):
        assert time.monotonic() < deadline, "no box with egress was pre-started"
        time.sleep(0.2)

    asked = time.time()
    command = f"{CURL.format('second.test')}; {CURL.format('first.test')}"
    hangar.script.set(turn(calls=[call("shell", command=command, id="s2")]), turn("Two."))
    second = wait_done(hangar, client.interactions.create(
        agent=AGENT, input="two", environment=network("second.test"), background=True
    ).id)
    assert second.status == "completed", getattr(second, "errors", None)
    (box,) = boxes_on(engine, second.environment_id)
    assert created_at(engine, box.id) < asked, "the box was started for the run, not taken from the pool"
    out = results(second)[0]
    assert f"host second.test {NOT_LISTED}" not in out and "could not be resolved" in out, out
    assert f"host first.test {NOT_LISTED}" in out, out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for env in (first.environment_id, second.environment_id):
            client.environments.delete(env)
