"""HANGAR_PROJECT_MAX_LIVE_BOXES counts the boxes that are live, through the real google-genai
client against a real server process and real boxes: runs in progress, boxes kept warm after a run
and file boxes. At the limit, the project's least recently used kept box is stopped to make room
(a follow-up keeps its own), then its idle file boxes; when nothing can be stopped, a new run (or a
file box) is 429 with ``Retry-After`` naming the setting; another project is not affected; a run's
own file box (placing its sources) is counted with the run."""

from __future__ import annotations

import asyncio
import contextlib
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


@contextlib.contextmanager
def serving(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str,
    drop_environment_volumes: Callable[[Path], None], limit: int,
) -> Iterator[tuple[ServerProcess, list[str]]]:
    data_dir = tmp_path_factory.mktemp("live-boxes")
    keys = asyncio.run(_keys(data_dir, "boxes-project", "other-project"))
    with fake_gemini(SCRIPT.respond) as fake:
        process = ServerProcess(data_dir, fake.base_url, env={
            "HANGAR_SANDBOX_IMAGE": sandbox_image,
            "HANGAR_SANDBOX_NAMESPACE": f"test-live-{secrets.token_hex(3)}",
            "HANGAR_WARM_POOL_SIZE": "0",
            "HANGAR_PROJECT_MAX_LIVE_BOXES": str(limit),
        })
        process.start()
        try:
            yield process, keys
        finally:
            process.stop()
            drop_environment_volumes(data_dir)


@pytest.fixture
def server(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str,
    drop_environment_volumes: Callable[[Path], None],
) -> Iterator[tuple[ServerProcess, list[str]]]:
    with serving(tmp_path_factory, sandbox_image, drop_environment_volumes, 2) as served:
        yield served


@pytest.fixture
def server_of_one(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str,
    drop_environment_volumes: Callable[[Path], None],
) -> Iterator[tuple[ServerProcess, list[str]]]:
    with serving(tmp_path_factory, sandbox_image, drop_environment_volumes, 1) as served:
        yield served


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

    # A long run: the last kept box (c's) gives way; a second one, the idle file box.
    first_long = start_long(mine)
    assert [s for _, s in boxes(engine, c)] == ["running"]  # only the file box is left on c
    second_long = start_long(mine)
    assert boxes(engine, c) == []
    # Two runs in progress, nothing left to stop: a new run is refused.
    with pytest.raises(errors.APIStatusError) as refused:
        mine.interactions.create(agent=AGENT, input="one more", environment="remote", background=True)
    assert refused.value.status_code == 429, refused.value
    assert int(refused.value.response.headers["retry-after"]) >= 1
    assert isinstance(refused.value.body, dict)
    message = refused.value.body["error"]["message"]
    assert refused.value.body["error"]["code"] == "resource_exhausted"
    assert "HANGAR_PROJECT_MAX_LIVE_BOXES" in message and "2 agent runs in progress" in message, message
    # So is a file box of the project.
    other_env = environments_of(mine).create()
    with pytest.raises(errors.APIStatusError) as refused_files:
        environments_of(mine).files.upload(environment=other_env.id, path="x.txt", file=b"x")
    assert refused_files.value.status_code == 429, refused_files.value
    assert "HANGAR_PROJECT_MAX_LIVE_BOXES" in str(refused_files.value.body)

    # Another project is not affected.
    theirs = client(process, other_key)
    run(theirs, environment="remote")

    for long in (first_long, second_long):
        assert mine.interactions.cancel(long).status == "cancelled"


def start_long(c: genai.Client) -> str:
    """A run that stays in progress (its shell call sleeps), once its box is up."""
    SCRIPT.set(turn(calls=[call("shell", command="sleep 60", id="long")]))
    long = c.interactions.create(agent=AGENT, input="sleep", environment="remote", background=True)
    deadline = time.monotonic() + 60
    while not any(s.type == "code_execution_call" for s in c.interactions.get(long.id).steps or []):
        assert time.monotonic() < deadline, "the long run did not start"
        time.sleep(0.2)
    return str(long.id)


def test_a_runs_own_file_box_is_counted_with_the_run(
    server_of_one: tuple[ServerProcess, list[str]], engine: Any,
) -> None:
    """With a limit of one, a run whose sources are placed through a file box still runs (that
    box is the run's); its follow-up takes the kept box (the idle file box gives way), and a new
    run takes the kept box's place."""
    process, (mine_key, _) = server_of_one
    mine = client(process, mine_key)
    sources = {"sources": [{"type": "inline", "target": "a.txt", "content": "from a source"}]}
    SCRIPT.set(turn(calls=[call("shell", command="cat a.txt", id="s1")]), turn("Read."))
    first = wait_done(mine, mine.interactions.create(
        agent=AGENT, input="read", environment=sources, background=True
    ).id)
    assert first.status == "completed", getattr(first, "errors", None)
    read = [str(s.result) for s in first.steps or [] if s.type == "code_execution_result"]
    assert "from a source" in read[0], read
    run(mine, environment=first.environment_id)  # the follow-up: its kept box, nothing else
    other = run(mine, environment="remote").environment_id
    assert boxes(engine, first.environment_id) == []
    assert [s for _, s in boxes(engine, other)] == ["paused"]


def test_reads_and_creates_are_never_refused_after_the_fact(
    server_of_one: tuple[ServerProcess, list[str]], engine: Any,
) -> None:
    """With a limit of one: a GET measures the workspace without stopping the project's kept box
    nor answering 429; a fork at the limit is refused before it makes anything (no environment is
    left behind for the client's retry to add to)."""
    process, (mine_key, _) = server_of_one
    mine = client(process, mine_key)
    environments = environments_of(mine)
    kept = run(mine, environment="remote").environment_id
    assert [s for _, s in boxes(engine, kept)] == ["paused"]
    empty = environments.create()
    assert environments.get(empty.id).id == empty.id  # measured in a file box on `empty`
    assert [s for _, s in boxes(engine, kept)] == ["paused"]  # the read did not stop the kept box

    long = start_long(mine)  # at the limit, with nothing left to stop
    assert environments.get(kept).status == "active"  # a read is not refused
    before = {e.id for e in environments.list(page_size=1000).environments}
    for _ in range(2):  # a client retrying
        with pytest.raises(errors.APIStatusError) as refused:
            environments.create(from_environment=kept)
        assert refused.value.status_code == 429, refused.value
        assert "HANGAR_PROJECT_MAX_LIVE_BOXES" in str(refused.value.body)
    assert {e.id for e in environments.list(page_size=1000).environments} == before
    assert mine.interactions.cancel(long).status == "cancelled"
    forked = environments.create(from_environment=kept)  # room again: the fork is made
    assert forked.id not in before and forked.status == "active"
