"""HANGAR_PROJECT_MAX_LIVE_BOXES across servers, for real: two ``hangar serve`` processes on one
PostgreSQL, one Docker engine and one namespace, a limit of one. Project "p" keeps a box warm on
server A after a run; once A's heartbeat has published it, a new run of "p" through server B is
429 with ``Retry-After`` naming the limit, and so is a files call of "p" through B (a file box). B
stops nothing of A's. Project "q" is not affected. A follow-up of "p" through B, on the
environment A keeps the box of, is accepted (it takes that box). Once A has stopped (its boxes
gone, its row marked stopped), a new run of "p" through B is accepted again."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import warnings
from pathlib import Path
from typing import Any

import docker
import pytest
from fleet_harness import Fleet, wait_for
from google import genai
from google.genai import _interactions as errors
from google.genai import types
from server_process import ServerProcess, fake_gemini

from runtime.llm.script import JsonDict, ScriptedTurn, call, turn
from runtime.sandbox import engine as eng
from runtime.store import Store
from runtime.worker.agent_runner import workspace_volume

AGENT = "antigravity"
LIMIT = 240.0
"""Generous: boxes start slowly on a loaded machine; nothing below is timed."""


def script(request: JsonDict) -> ScriptedTurn:
    answered = any(
        isinstance(part, dict) and "functionResponse" in part
        for content in request.get("contents", []) for part in content.get("parts", [])
    )
    return turn("done") if answered else turn(calls=[call("shell", command="echo hi", id="s1")])


def sdk(server: ServerProcess, key: str) -> genai.Client:
    # No client-side retries: the SDK retries 429s, which would hide the answer.
    options = types.HttpOptions(base_url=server.url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=key, http_options=options)


def environments_of(client: genai.Client) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return client.environments


def run(client: genai.Client, server: ServerProcess, **where: Any) -> Any:
    created = client.interactions.create(agent=AGENT, input="hi", background=True, **where)

    def done() -> bool:
        return bool(client.interactions.get(created.id).status != "in_progress")

    wait_for(done, LIMIT, f"interaction {created.id} to end")
    final = client.interactions.get(created.id)
    assert final.status == "completed", (getattr(final, "errors", None), server.log_tail())
    return final


def nodes(fleet: Fleet) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        store = Store(fleet.database_url)
        await store.open()
        try:
            return {n.id: n for n in await store.nodes.of_namespace(fleet.namespace)}
        finally:
            await store.close()

    return asyncio.run(read())


def assert_refused(refused: pytest.ExceptionInfo[errors.APIStatusError]) -> None:
    assert refused.value.status_code == 429, refused.value
    assert int(refused.value.response.headers["retry-after"]) >= 1
    body = refused.value.body
    assert isinstance(body, dict) and body["error"]["code"] == "resource_exhausted", body
    assert "HANGAR_PROJECT_MAX_LIVE_BOXES" in body["error"]["message"], body


def paused(engine: Any, environment_id: str) -> list[str]:
    found = engine.containers.list(all=True, filters={"volume": workspace_volume(environment_id)})
    return [c.status for c in found]


@pytest.mark.docker
@pytest.mark.slow
def test_a_box_kept_warm_on_one_server_counts_on_the_other(fleet: Fleet, sandbox_image: str) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hl-", dir="/tmp"))
    settings = {
        "HANGAR_SANDBOX_IMAGE": sandbox_image, "HANGAR_NODE_HEARTBEAT_SECONDS": "1",
        "HANGAR_PROJECT_MAX_LIVE_BOXES": "1", "HANGAR_WARM_POOL_SIZE": "0",
        "HANGAR_WARM_MIN_FREE_MB": "0",  # nothing stops on its own
    }
    engine = docker.from_env()
    p_key, q_key = fleet.project_key("p"), fleet.project_key("q")
    try:
        with fake_gemini(script) as fake:
            a = fleet.add(fake.base_url, data_dir, **settings)
            (a_id,) = nodes(fleet)
            b = fleet.add(fake.base_url, data_dir, **settings)
            p_on_a, p_on_b, q_on_b = sdk(a, p_key), sdk(b, p_key), sdk(b, q_key)

            kept = run(p_on_a, a, environment="remote").environment_id  # kept warm on A
            assert paused(engine, kept) == ["paused"]

            def published() -> bool:
                boxes = nodes(fleet)[a_id].live_boxes or {}
                return workspace_volume(kept) in boxes.get("p", {}).get("kept", [])

            wait_for(published, LIMIT, "A's heartbeat to publish p's kept box")

            with pytest.raises(errors.APIStatusError) as refused:
                p_on_b.interactions.create(agent=AGENT, input="hi", environment="remote", background=True)
            assert_refused(refused)
            fresh = environments_of(p_on_b).create()
            with pytest.raises(errors.APIStatusError) as refused_files:
                environments_of(p_on_b).files.upload(environment=fresh.id, path="x.txt", file=b"x")
            assert_refused(refused_files)
            assert paused(engine, kept) == ["paused"]  # B stopped nothing of A's

            run(q_on_b, b, environment="remote")  # another project: not affected
            run(p_on_b, b, environment=kept)  # the follow-up takes the box kept for it

            a.stop()  # a clean stop: A's boxes go, its row is marked stopped
            assert nodes(fleet)[a_id].stopped is not None
            run(p_on_b, b, environment="remote")
    finally:
        for server in fleet.servers:
            server.stop()
        remove_namespace(engine, fleet.namespace)
        engine.close()


def remove_namespace(client: Any, namespace: str) -> None:
    """The test's own namespace's containers and volumes, whatever the servers left."""
    filters = eng.namespace_filter(namespace)
    for row in client.api.containers(all=True, filters=filters):
        eng.remove_container(client, row["Id"])
    for vol in client.api.volumes(filters=filters).get("Volumes") or []:
        with contextlib.suppress(docker.errors.APIError):
            eng.remove_volume(client, vol["Name"])
    for net in client.api.networks(filters=filters):
        with contextlib.suppress(docker.errors.APIError):
            eng.remove_network(client, net["Name"])
