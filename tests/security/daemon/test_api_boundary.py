"""The same attacks through the public API of a real server: hijack files uploaded with the files
API must not run in the environment's next box nor in the server's own file box; an impostor on the
socket fails that run with a clear error while the server keeps serving, its memory flat."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from api_harness import HangarServer
from daemon_attacks import (
    API_NAMESPACE,
    FILE_BOX_IDLE_S,
    HIJACKS,
    IMPOSTOR,
    MARKERS,
    boxes_on_volume,
    rss_bytes,
)
from google import genai

from runtime.llm import call, turn
from runtime.sandbox.transport import KEEPALIVE_EXPIRY_S
from runtime.worker.agent_runner import workspace_volume

pytestmark = pytest.mark.docker

WALKTHROUGH = call("update_artifact", artifact="walkthrough", content="# Walkthrough\n", id="wt")


def environments_of(client: genai.Client) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return client.environments


def wait_done(client: genai.Client, interaction_id: str, limit_s: float = 120) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status != "in_progress" or time.monotonic() > deadline:
            return interaction
        time.sleep(0.2)


def run_shell(hangar: HangarServer, env_id: str, command: str) -> Any:
    client = hangar.client()
    hangar.script.set(
        turn(calls=[call("shell", command=command, id="s1")]), turn(calls=[WALKTHROUGH]), turn("Done."),
    )
    created = client.interactions.create(agent="antigravity", input="go", environment=env_id, background=True)
    return wait_done(client, created.id)


def shell_output(done: Any) -> str:
    return str(next(s for s in done.steps if s.type == "code_execution_result").result)


def test_uploaded_hijack_files_never_run_in_boxes_or_file_boxes(
    hangar: HangarServer, docker_client: Any
) -> None:
    client = hangar.client()
    environments = environments_of(client)
    env = environments.create()
    try:
        for path, content in HIJACKS.items():
            environments.files.upload(environment=env.id, path=path, file=content.encode())
        done = run_shell(hangar, env.id, f"ls -A {MARKERS} 2>/dev/null; python3 -c 'print(6*7)'; echo end")
        assert done.status == "completed", getattr(done, "errors", None)
        assert shell_output(done).split()[:2] == ["42", "end"], shell_output(done)
        volume = workspace_volume(env.id)
        deadline = time.monotonic() + 60
        while boxes_on_volume(docker_client, API_NAMESPACE, volume):  # the upload's file box goes idle
            assert time.monotonic() < deadline, "the file box was never stopped"
            time.sleep(FILE_BOX_IDLE_S / 2)
        listing = environments.files.list(env.id, "", recursive=True)  # in a new file box
        assert len(boxes_on_volume(docker_client, API_NAMESPACE, volume)) == 1
        paths = {f.path for f in listing.files}
        assert "workspace/json.py" in paths
        assert not any(p.startswith("workspace/.markers") for p in paths), paths
        assert environments.files.download(environment=env.id, path="json.py") == HIJACKS["json.py"].encode()
    finally:
        environments.delete(env.id)


def test_an_impostor_fails_its_run_and_the_server_keeps_serving(hangar: HangarServer) -> None:
    client = hangar.client()
    environments = environments_of(client)
    env = environments.create()
    try:
        environments.files.upload(environment=env.id, path="impostor.py", file=Path(IMPOSTOR).read_bytes())
        plant = (
            "setsid python3 impostor.py endless-lines >/tmp/impostor.log 2>&1 </dev/null & "
            "for i in $(seq 100); do test -s /tmp/impostor.ready && break; sleep 0.1; done; echo planted"
        )
        hangar.script.set(
            turn(calls=[call("shell", command=plant, id="s1")]),
            # The model thinks a while: the server's pooled connection to the real sandboxd expires,
            # so the next call dials the socket again and reaches the impostor.
            turn(calls=[call("shell", command="echo hi", id="s2")], delay_s=KEEPALIVE_EXPIRY_S + 1),
            turn(calls=[WALKTHROUGH]), turn("Done."),
        )
        before = rss_bytes()
        created = client.interactions.create(
            agent="antigravity", input="go", environment=env.id, background=True
        )
        hit = wait_done(client, created.id)
        grown = rss_bytes() - before
        assert "planted" in shell_output(hit)
        assert hit.status == "failed", hit
        assert "out of protocol" in str(hit.errors), hit.errors
        assert grown < 200 * 1024 * 1024, f"the server grew by {grown / 2**20:.0f} MiB"
        # The server keeps serving: another environment's run completes.
        other = environments.create()
        try:
            ok = run_shell(hangar, other.id, "echo still-here")
            assert ok.status == "completed" and "still-here" in shell_output(ok)
        finally:
            environments.delete(other.id)
    finally:
        environments.delete(env.id)
