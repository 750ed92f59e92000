"""Agents and environments through the real google-genai client: agents created over the API and
run in a real sandbox, environments, and their files (resumable upload, list, download)."""

from __future__ import annotations

import io
import tarfile
import time
from typing import Any

import httpx
import pytest
from api_harness import HangarServer
from google import genai
from google.genai import _interactions as errors
from google.genai import errors as genai_errors
from harness.sdk import agents_of, environments_of

from runtime.llm import call, turn

pytestmark = pytest.mark.docker

WALKTHROUGH = call("update_artifact", artifact="walkthrough", content="# Walkthrough\n", id="wt")


def wait_done(client: genai.Client, interaction_id: str, limit_s: float = 90) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status != "in_progress" or time.monotonic() > deadline:
            return interaction
        time.sleep(0.2)


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# --- agents -------------------------------------------------------------------------------------


def test_agents_create_get_list_delete(hangar: HangarServer) -> None:
    client = hangar.client()
    agents = agents_of(client)
    created = agents.create(
        id="crud-agent",
        base_agent="antigravity-preview-05-2026",
        description="d",
        system_instruction="be nice",
        agent_config={"type": "antigravity", "max_total_tokens": 1000},
        tools=[{"type": "code_execution"}],
    )
    assert created.id == "crud-agent"
    assert agents.get("crud-agent").system_instruction == "be nice"
    raw = httpx.get(f"{hangar.url}/v1beta/agents/crud-agent", headers={"x-goog-api-key": hangar.dev_key})
    assert raw.json()["agent_config"]["max_total_tokens"] == "1000"

    listed = agents.list(page_size=1000)
    ids = [a.id for a in listed.agents]
    assert {"antigravity", "deep-research", "crud-agent"} <= set(ids)
    first = agents.list(page_size=1)
    assert len(first.agents) == 1 and first.next_page_token
    second = agents.list(page_size=1, page_token=first.next_page_token)
    assert second.agents[0].id != first.agents[0].id

    with pytest.raises(errors.BadRequestError, match="already exists"):
        agents.create(id="crud-agent")
    with pytest.raises(errors.BadRequestError, match="shipped"):
        agents.create(id="antigravity")
    with pytest.raises(errors.BadRequestError, match="no-such-base"):
        agents.create(id="orphan", base_agent="no-such-base")
    with pytest.raises(errors.BadRequestError, match="skills"):
        agents.create(id="sneaky", extra_body={"skills": ["/etc"]})
    with pytest.raises(errors.BadRequestError, match="read-only"):
        agents.delete("antigravity")
    with pytest.raises(errors.NotFoundError):
        other = hangar.client(hangar.other_key)
        agents_of(other).get("crud-agent")

    agents.delete("crud-agent")
    with pytest.raises(errors.NotFoundError):
        agents.get("crud-agent")
    with pytest.raises(errors.NotFoundError):
        agents.delete("crud-agent")


def test_interaction_with_an_api_created_agent(hangar: HangarServer) -> None:
    client = hangar.client()
    agents_of(client).create(
        id="terse-agent", base_agent="antigravity", system_instruction="Be terse, Hangar."
    )
    try:
        hangar.script.set(turn(calls=[WALKTHROUGH]), turn("Done."))
        created = client.interactions.create(agent="terse-agent", input="do it", background=True)
        done = wait_done(client, created.id)
        assert done.status == "completed", getattr(done, "errors", None)
        assert done.agent == "terse-agent"
        assert "Be terse, Hangar." in str(hangar.script.requests[0])
        other = hangar.client(hangar.other_key)
        with pytest.raises(errors.NotFoundError):  # another project does not see it
            other.interactions.create(agent="terse-agent", input="x")
    finally:
        agents_of(client).delete("terse-agent")


# --- environments -------------------------------------------------------------------------------


def test_environments_crud(hangar: HangarServer) -> None:
    client = hangar.client()
    environments = environments_of(client)
    env = environments.create(
        sources=[{"type": "inline", "content": "print(1)", "target": "main.py"}], network="disabled"
    )
    assert env.id.startswith("env_") and env.status == "active"
    got = environments.get(env.id)
    assert got.file_count == 1 and got.size_bytes == 8
    assert env.id in [e.id for e in environments.list(page_size=1000).environments]
    with pytest.raises(errors.NotFoundError):
        other = hangar.client(hangar.other_key)
        environments_of(other).get(env.id)
    environments.delete(env.id)
    with pytest.raises(errors.NotFoundError):
        environments.get(env.id)


def test_upload_list_download_and_use_in_an_interaction(hangar: HangarServer) -> None:
    client = hangar.client()
    environments = environments_of(client)
    env = environments.create()
    try:
        uploaded = environments.files.upload(
            environment=env.id, path="data/hello.txt", file=b"hello from upload\n", mime_type="text/plain"
        )
        assert uploaded.files[0].path == "workspace/data/hello.txt"
        assert uploaded.files[0].size_bytes == 18
        with pytest.raises(errors.ConflictError, match="overwrite"):
            environments.files.upload(environment=env.id, path="data/hello.txt", file=b"again")
        environments.files.upload(
            environment=env.id, path="data/hello.txt", file=b"hello again\n", overwrite=True
        )

        listing = environments.files.list(env.id, "", recursive=True)
        assert [(f.path, f.type) for f in listing.files] == [
            ("workspace/data", "directory"),
            ("workspace/data/hello.txt", "file"),
        ]
        one = environments.files.list(env.id, "workspace/data/hello.txt")
        assert one.files[0].name == "hello.txt"
        downloaded = environments.files.download(environment=env.id, path="/workspace/data/hello.txt")
        assert downloaded == b"hello again\n"

        archive = tarball({"pkg/a.txt": b"A", "pkg/sub/b.txt": b"BB"})
        extracted = environments.files.upload(environment=env.id, path="src", file=archive, extract=True)
        assert [f.path for f in extracted.files] == ["workspace/src/pkg"]
        assert environments.files.download(environment=env.id, path="src/pkg/sub/b.txt") == b"BB"

        hangar.script.set(
            turn(calls=[call("shell", command="cat data/hello.txt src/pkg/a.txt", id="s1")]),
            turn(calls=[WALKTHROUGH]),
            turn("Read it."),
        )
        created = client.interactions.create(
            agent="antigravity-preview-05-2026", input="read", environment=env.id, background=True
        )
        done = wait_done(client, created.id)
        assert done.status == "completed", getattr(done, "errors", None)
        assert done.environment_id == env.id
        result = next(s for s in done.steps if s.type == "code_execution_result")
        assert "hello again" in result.result and "A" in result.result
        assert environments.files.download(environment=env.id, path="walkthrough.md") == b"# Walkthrough\n"
    finally:
        environments.delete(env.id)


def test_file_errors(hangar: HangarServer) -> None:
    client = hangar.client()
    environments = environments_of(client)
    env = environments.create()
    headers = {"x-goog-api-key": hangar.dev_key}
    try:
        files_url = f"{hangar.url}/v1/environments/{env.id}/files"
        escape = httpx.get(f"{files_url}/..%2F..%2Fetc%2Fpasswd", headers=headers)
        assert escape.status_code == 400, escape.text
        assert escape.json()["error"]["code"] == "path_outside_workspace"
        escape = httpx.get(
            f"{hangar.url}/v1/environments/{env.id}/files/..%2Fx", params={"alt": "media"}, headers=headers
        )
        assert escape.status_code == 400
        start = httpx.put(
            f"{hangar.url}/upload/v1/environments/{env.id}/files/..%2Fx",
            headers={**headers, "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start"},
        )
        assert start.status_code == 400, start.text

        with pytest.raises(errors.NotFoundError):
            environments.files.list(env.id, "missing.txt")
        with pytest.raises(genai_errors.ClientError) as caught:
            environments.files.download(environment=env.id, path="missing.txt")
        assert caught.value.code == 404
        with pytest.raises(errors.NotFoundError):
            environments.files.list("env_unknown", "")
        with pytest.raises(errors.NotFoundError):
            environments.files.upload(environment="env_unknown", path="a.txt", file=b"x")
        other = hangar.client(hangar.other_key)
        with pytest.raises(errors.NotFoundError):  # another project's environment
            environments_of(other).files.list(env.id, "")
        with pytest.raises(errors.NotFoundError):
            client.interactions.create(agent="antigravity", input="hi", environment="env_unknown")
        with pytest.raises(errors.NotFoundError):
            other.interactions.create(
                agent="antigravity", input="hi", environment={"type": "remote", "environment_id": env.id}
            )
    finally:
        environments.delete(env.id)


def test_streamed_agent_run_in_an_uploaded_environment(hangar: HangarServer) -> None:
    """The README's SDK example, end to end: upload, stream an agent run there, download its output."""
    client = hangar.client()
    environments = environments_of(client)
    env = environments.create()
    try:
        environments.files.upload(environment=env.id, path="data/q.csv", file=b"q,n\na,1\nb,2\n")
        hangar.script.set(
            turn(calls=[call("shell", command="wc -l < data/q.csv > report.md && cat report.md", id="s1")]),
            turn(calls=[WALKTHROUGH]),
            turn("Counted the lines."),
        )
        events = list(
            client.interactions.create(
                agent="antigravity", input="Count data/q.csv", environment=env.id, stream=True
            )
        )
        kinds = [e.event_type for e in events]
        assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
        assert events[-1].interaction.status == "completed"
        assert "step.start" in kinds and "step.stop" in kinds
        assert environments.files.download(environment=env.id, path="report.md").strip() == b"3"
    finally:
        environments.delete(env.id)
