"""HANGAR_PROJECT_MAX_LIVE_BOXES counts the boxes that are live, through the real google-genai
client against a real server process and real boxes: runs in progress, boxes kept warm after a run
and file boxes. At the limit, the project's least recently used kept box is stopped to make room
(a follow-up keeps its own); when nothing can be stopped, a new run is 429 with ``Retry-After``
naming the setting; another project is not affected."""

from __future__ import annotations

import asyncio
import secrets
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from api_harness import Script
from google import genai
from google.genai import _interactions as errors
from google.genai import types
from server_process import ServerProcess, fake_gemini

from runtime.config import Settings
from runtime.llm import call, turn
from runtime.store import Store
from runtime.worker.agent_runner import workspace_volume

pytestmark = pytest.mark.docker

AGENT = "antigravity"
SCRIPT = Script()


async def _keys(data_dir: Path, *projects: str) -> list[str]:
    store = Store(Settings(data_dir=data_dir).resolved_database_url)
    await store.open()
    try:
        return [(await store.keys.create(project, project))[1] for project in projects]
    finally:
        await store.close()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str,
    drop_environment_volumes: Callable[[Path], None],
) -> Iterator[tuple[ServerProcess, list[str]]]:
    data_dir = tmp_path_factory.mktemp("live-boxes")
    keys = asyncio.run(_keys(data_dir, "boxes-project", "other-project"))
    with fake_gemini(SCRIPT.respond) as fake:
        process = ServerProcess(data_dir, fake.base_url, env={
            "HANGAR_SANDBOX_IMAGE": sandbox_image,
            "HANGAR_SANDBOX_NAMESPACE": f"test-live-{secrets.token_hex(3)}",
            "HANGAR_WARM_POOL_SIZE": "0",
            "HANGAR_PROJECT_MAX_LIVE_BOXES": "2",
        })
        process.start()
        try:
            yield process, keys
        finally:
            process.stop()
            drop_environment_volumes(data_dir)


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    client.close()


def client(server: ServerProcess, key: str) -> genai.Client:
    # No client-side retries: the SDK retries 429s, which would hide the answer.
    options = types.HttpOptions(base_url=server.url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=key, http_options=options)


def environments_of(c: genai.Client) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return c.environments


def wait_done(c: genai.Client, interaction_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = c.interactions.get(interaction_id)
        if got.status not in ("in_progress", "requires_action"):
            return got
        time.sleep(0.2)
    raise AssertionError(f"{interaction_id} did not finish")


def boxes(engine: Any, environment_id: str) -> list[tuple[str, str]]:
    """(container id, status) of the boxes on the environment's workspace."""
    found = engine.containers.list(all=True, filters={"volume": workspace_volume(environment_id)})
    return [(c.id, c.status) for c in found]


def run(c: genai.Client, **where: Any) -> Any:
    SCRIPT.set(turn(calls=[call("shell", command="echo hi", id="s1")]), turn("Done."))
    done = wait_done(c, c.interactions.create(agent=AGENT, input="hi", background=True, **where).id)
    assert done.status == "completed", getattr(done, "errors", None)
    return done


def test_kept_and_file_boxes_count_and_give_way_least_recently_used_first(
    server: tuple[ServerProcess, list[str]], engine: Any,
) -> None:
    process, (mine_key, other_key) = server
    mine = client(process, mine_key)
    a = run(mine, environment="remote").environment_id
    b = run(mine, environment="remote").environment_id
    assert [s for _, s in boxes(engine, a)] == ["paused"] and [s for _, s in boxes(engine, b)] == ["paused"]

    # At the limit (two kept boxes): a new run stops the least recently used one (a's) first.
    c = run(mine, environment="remote").environment_id
    assert boxes(engine, a) == []
    assert [s for _, s in boxes(engine, b)] == ["paused"] and [s for _, s in boxes(engine, c)] == ["paused"]

    # A follow-up takes its environment's kept box: nothing else has to go.
    kept_c = boxes(engine, c)
    run(mine, environment=c)
    assert boxes(engine, c) == kept_c and [s for _, s in boxes(engine, b)] == ["paused"]

    # A file box counts too: opening one stops the project's least recently used kept box (b's).
    listing = environments_of(mine).files.list(c, ".")
    assert listing is not None
    assert boxes(engine, b) == [] and len(boxes(engine, c)) == 2  # c's kept box and its file box

    # A long run: the last kept box (c's) gives way; then the run and the file box fill the limit.
    SCRIPT.set(turn(calls=[call("shell", command="sleep 60", id="long")]), turn("Slept."))
    long = mine.interactions.create(agent=AGENT, input="sleep", environment="remote", background=True)
    deadline = time.monotonic() + 60
    while not any(s.type == "code_execution_call" for s in mine.interactions.get(long.id).steps or []):
        assert time.monotonic() < deadline, "the long run did not start"
        time.sleep(0.2)
    assert [s for _, s in boxes(engine, c)] == ["running"]  # only the file box is left on c
    with pytest.raises(errors.APIStatusError) as refused:
        mine.interactions.create(agent=AGENT, input="one more", environment="remote", background=True)
    assert refused.value.status_code == 429, refused.value
    assert int(refused.value.response.headers["retry-after"]) >= 1
    assert isinstance(refused.value.body, dict)
    message = refused.value.body["error"]["message"]
    assert refused.value.body["error"]["code"] == "resource_exhausted"
    assert "HANGAR_PROJECT_MAX_LIVE_BOXES" in message and "1 agent runs in progress" in message, message
    # A file box of the project past its limit is refused the same way.
    other_env = environments_of(mine).create()
    with pytest.raises(errors.APIStatusError) as refused_files:
        environments_of(mine).files.upload(environment=other_env.id, path="x.txt", file=b"x")
    assert refused_files.value.status_code == 429, refused_files.value

    # Another project is not affected.
    theirs = client(process, other_key)
    run(theirs, environment="remote")

    assert mine.interactions.cancel(long.id).status == "cancelled"
