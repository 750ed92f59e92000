"""Google's JavaScript SDK (``@google/genai`` from npm, pinned in package-lock.json) against a real
``hangar serve``: background, streamed and cancelled agent interactions, a model interaction with a
stream resumed from an event id, and errors. ``client.mjs`` drives the SDK and prints what it saw."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from api_harness import Script
from server_process import API_KEY, ServerProcess

from runtime.llm import call, turn

pytestmark = pytest.mark.docker

AGENT = "antigravity"
MODEL = "gemini-3-flash-preview"
HERE = Path(__file__).resolve().parent
Served = tuple[ServerProcess, Script]


def run_js(node: str, server: ServerProcess, scenario: str) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
        "HANGAR_URL": server.url, "HANGAR_KEY": API_KEY, "HANGAR_AGENT": AGENT, "HANGAR_MODEL": MODEL,
    }  # fmt: skip
    done = subprocess.run(
        [node, str(HERE / "client.mjs"), scenario], cwd=HERE, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stderr}\n{done.stdout}\n{server.log_tail()}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture
def served(js_server: Served) -> Served:
    return js_server


def test_sdk_version_has_the_interactions_surface() -> None:
    package = json.loads((HERE / "node_modules" / "@google" / "genai" / "package.json").read_text())
    lock = json.loads((HERE / "package-lock.json").read_text())
    assert package["version"] == lock["packages"]["node_modules/@google/genai"]["version"]
    bundle = (HERE / "node_modules" / "@google" / "genai" / "dist" / "node" / "index.mjs").read_text()
    assert "/{api_version}/interactions/{interactionsId}/cancel" in bundle


def test_background_agent_interaction(node: str, served: Served) -> None:
    server, script = served
    script.set(
        turn(calls=[call("shell", command="echo from-js > note.txt && cat note.txt", id="s1")]),
        turn("Wrote note.txt."),
    )
    seen = run_js(node, server, "agent-background")
    assert seen["created"]["status"] == "in_progress" and seen["created"]["id"]
    done = seen["done"]
    assert done["status"] == "completed", done
    assert done["steps"] == ["user_input", "code_execution_call", "code_execution_result", "model_output"]
    assert done["output_text"] == "Wrote note.txt."


def test_streamed_agent_interaction_has_deltas(node: str, served: Served) -> None:
    server, script = served
    script.set(turn("Streamed from the agent.", thought="Thinking it over."))
    seen = run_js(node, server, "agent-stream")
    kinds = [event["type"] for event in seen["events"]]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed", kinds
    deltas = {event.get("delta") for event in seen["events"] if event["type"] == "step.delta"}
    assert {"text", "thought_summary"} <= deltas
    assert seen["text"] == "Streamed from the agent."
    assert seen["done"]["status"] == "completed"


def test_cancel_a_running_agent_interaction(node: str, served: Served) -> None:
    server, script = served
    script.set(turn(calls=[call("shell", command="sleep 60", id="s1")]))
    seen = run_js(node, server, "agent-cancel")
    assert seen == {"cancelled": "cancelled", "after": "cancelled"}


def test_model_interaction_and_resumed_stream(node: str, served: Served) -> None:
    server, script = served
    script.set(turn("Hello from the fake."), turn("Streamed words."))
    seen = run_js(node, server, "model")
    assert seen["answer"]["status"] == "completed"
    assert seen["answer"]["output_text"] == "Hello from the fake."
    assert seen["answer"]["steps"] == ["user_input", "model_output"]
    streamed = seen["streamed"]
    assert streamed["text"] == "Streamed words."
    ids = [event["id"] for event in streamed["events"] if event["id"]]
    assert [event["id"] for event in seen["resumed"]] == ids[2:]  # everything after the second event
    assert seen["done"]["output_text"] == "Streamed words."


def test_errors_reach_the_sdk_as_http_errors(node: str, served: Served) -> None:
    server, _script = served
    seen = run_js(node, server, "errors")
    assert seen["missing"] == 404
    assert seen["bad"]["status"] == 400 and "temperature" in seen["bad"]["message"]


def test_environment_files_and_a_run_in_the_environment(node: str, served: Served) -> None:
    server, script = served
    script.set(
        turn(calls=[call("shell", command="cat templates/a.txt up/b.txt", id="s1")]),
        turn("Both files read."),
    )
    seen = run_js(node, server, "environments")
    assert {"workspace/templates/a.txt", "workspace/up/b.txt"} <= set(seen["files"]), seen["files"]
    assert seen["downloaded"] == "uploaded from js"
    assert seen["run"]["status"] == "completed", seen["run"]
    assert seen["run"]["output_text"] == "Both files read."
    assert seen["last_accessed"]
    request = json.dumps(script.requests[-1]["contents"])
    assert "from a sourceuploaded from js" in request  # the box saw both files
