"""HANGAR_PROJECT_MAX_WORKSPACE_BYTES through the real google-genai client against a real server
process and real boxes: one project fills its workspace with uploads until the next upload is
refused with 429 naming the setting; its next agent interaction is refused the same way; another
project (another key) still uploads and runs."""

from __future__ import annotations

import asyncio
import secrets
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_harness import Script
from google import genai
from google.genai import _interactions as errors
from google.genai import types
from server_process import API_KEY, ServerProcess, fake_gemini

from runtime.config import Settings
from runtime.llm import call, turn
from runtime.store import Store

pytestmark = pytest.mark.docker

LIMIT = 64 * 1024 + 100
"""Not a multiple of the disk's blocks, so a workspace's measured usage steps over it."""


async def _keys(data_dir: Path, *projects: str) -> list[str]:
    store = Store(Settings(data_dir=data_dir).resolved_database_url)
    await store.open()
    try:
        return [(await store.keys.create(project, project))[1] for project in projects]
    finally:
        await store.close()


SCRIPT = Script()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str,
    drop_environment_volumes: Callable[[Path], None],
) -> Iterator[tuple[ServerProcess, list[str]]]:
    data_dir = tmp_path_factory.mktemp("workspace-limit")
    keys = asyncio.run(_keys(data_dir, "other-project", "box-project"))
    with fake_gemini(SCRIPT.respond) as fake:
        process = ServerProcess(data_dir, fake.base_url, env={
            "HANGAR_SANDBOX_IMAGE": sandbox_image,
            "HANGAR_SANDBOX_NAMESPACE": f"test-wsl-{secrets.token_hex(3)}",
            "HANGAR_WARM_POOL_SIZE": "0",
            "HANGAR_PROJECT_MAX_WORKSPACE_BYTES": str(LIMIT),
            "HANGAR_WORKSPACE_QUOTA_CHECK_SECONDS": "1",
        })
        process.start()
        try:
            yield process, keys
        finally:
            process.stop()
            drop_environment_volumes(data_dir)


def client(server: ServerProcess, key: str = API_KEY) -> genai.Client:
    # No client-side retries: the SDK retries 429s, which would hide the answer.
    options = types.HttpOptions(base_url=server.url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=key, http_options=options)


def environments_of(c: genai.Client) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return c.environments


def assert_limit(refused: errors.APIStatusError) -> None:
    assert refused.status_code == 429, refused
    assert int(refused.response.headers["retry-after"]) >= 1
    assert isinstance(refused.body, dict)
    assert refused.body["error"]["code"] == "resource_exhausted"
    assert "HANGAR_PROJECT_MAX_WORKSPACE_BYTES" in refused.body["error"]["message"], refused.body


def wait_done(c: genai.Client, interaction_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = c.interactions.get(interaction_id)
        if got.status not in ("in_progress", "requires_action"):
            return got
        time.sleep(0.3)
    raise AssertionError(f"{interaction_id} did not finish")


def test_a_full_project_gets_429_for_uploads_and_agent_runs_another_does_not(
    server: tuple[ServerProcess, list[str]],
) -> None:
    process, (other_key, _) = server
    SCRIPT.set(turn("done"))
    mine = client(process)
    environments = environments_of(mine)
    first, second = environments.create(), environments.create()
    environments.files.upload(environment=first.id, path="big.bin", file=b"x" * (48 * 1024))
    with pytest.raises(errors.APIStatusError) as caught:
        # The limit is the project's: the second environment's uploads count with the first's.
        for n in range(32):
            environments.files.upload(environment=second.id, path=f"f{n}.txt", file=b"y")
    assert_limit(caught.value)
    assert "1 more bytes would pass" in caught.value.body["error"]["message"]
    with pytest.raises(errors.APIStatusError) as refused:
        mine.interactions.create(agent="antigravity", input="hi", environment=first.id, background=True)
    assert_limit(refused.value)
    assert "no room is left" in refused.value.body["error"]["message"]

    theirs = client(process, other_key)
    env = environments_of(theirs).create()
    environments_of(theirs).files.upload(environment=env.id, path="big.bin", file=b"z" * (48 * 1024))
    created = theirs.interactions.create(agent="antigravity", input="hi", environment=env.id, background=True)
    assert wait_done(theirs, created.id).status == "completed"

    environments.delete(second.id)  # deleting an environment frees its share at once
    environments.files.upload(environment=first.id, path="again.txt", file=b"room again")


def test_a_running_box_reports_its_usage_and_the_projects_next_agent_run_is_refused(
    server: tuple[ServerProcess, list[str]],
) -> None:
    """The running box's quota check (every second here) records what the box wrote: no upload
    measured it, yet the project's next agent run is refused."""
    process, (_, box_key) = server
    mine = client(process, box_key)
    env = environments_of(mine).create()
    fill = "head -c 100K /dev/zero > fill.bin && sleep 15"  # stays running across several checks
    SCRIPT.set(turn(calls=[call("shell", command=fill, id="fill")]), turn("filled"))
    created = mine.interactions.create(agent="antigravity", input="fill", environment=env.id, background=True)
    assert wait_done(mine, created.id).status == "completed"
    with pytest.raises(errors.APIStatusError) as refused:
        mine.interactions.create(agent="antigravity", input="more", environment=env.id, background=True)
    assert_limit(refused.value)
    # (The environment stays: its box is kept warm; the fixture drops the volumes at the end.)
