"""``hangar run --server``, ``hangar interactions`` and ``hangar agents push`` against a real
Hangar server (in a thread, model scripted) through the CLI in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import DEV_KEY, Server, hangar

from runtime.llm import call, fail, turn

pytestmark = pytest.mark.docker

WALKTHROUGH = call("update_artifact", artifact="walkthrough", content="# Walkthrough\n", id="wt")


def remote(server: Server, env: dict[str, str]) -> dict[str, str]:
    return env | {"HANGAR_SERVER": server.url, "HANGAR_API_KEY": DEV_KEY}


async def test_run_on_a_server_completes(tmp_path: Path, server: Server, cli_env: dict[str, str]) -> None:
    server.script.set(
        turn(
            thought="Write it, then show it.",
            calls=[call("shell", command="echo 42 > answer.txt && cat answer.txt", id="s1")],
        ),
        turn(calls=[WALKTHROUGH]),
        turn("The answer is in answer.txt."),
    )
    out = tmp_path / "out"
    ran = await hangar(
        "run", "antigravity", "write the answer", "--server", server.url, "--api-key", DEV_KEY,
        "-o", str(out), "--fetch", "answer.txt", env=cli_env,
    )
    assert ran.code == 0, ran.stderr + ran.stdout
    assert "▶ bash" in ran.stdout and "The answer is in answer.txt." in ran.stdout
    # Streamed steps are shown whole: the thought's summary deltas, the call's arguments_delta.
    assert "thinking: Write it, then show it." in ran.stdout
    assert '▶ update_artifact {"artifact": "walkthrough"' in ran.stdout
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "completed" and result["exit_code"] == 0
    assert result["interaction_id"].startswith("int_")
    if result["files"]:  # the server has the environment files API
        assert (out / "files" / "answer.txt").read_text() == "42\n"
    else:
        assert "environment files API" in result["files_note"]
    kinds = [json.loads(line)["type"] for line in (out / "steps.jsonl").read_text().splitlines()]
    assert kinds[0] == "user_input" and kinds[-1] == "model_output"
    assert "code_execution_result" in kinds
    assert "completed" in (out / "summary.md").read_text()


async def test_detach_then_wait(server: Server, cli_env: dict[str, str]) -> None:
    server.script.set(turn(calls=[WALKTHROUGH]), turn("Done."))
    env = remote(server, cli_env)
    started = await hangar("run", "antigravity", "say done", "--detach", env=env)
    assert started.code == 0, started.stderr + started.stdout
    interaction_id = started.stdout.strip().splitlines()[-1]
    assert interaction_id.startswith("int_")
    waited = await hangar("interactions", "wait", interaction_id, env=env)
    assert waited.code == 0, waited.stderr + waited.stdout
    assert "Done." in waited.stdout and "completed" in waited.stdout
    shown = await hangar("interactions", "get", interaction_id, env=env)
    assert json.loads(shown.stdout)["status"] == "completed"


async def test_failed_run_exit_code(tmp_path: Path, server: Server, cli_env: dict[str, str]) -> None:
    server.script.set(fail(400, "the scripted model refuses"))
    out = tmp_path / "out"
    ran = await hangar("run", "antigravity", "task", "-o", str(out), "-q", env=remote(server, cli_env))
    assert ran.code == 1, ran.stderr + ran.stdout
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "failed" and "refuses" in result["reason"]


async def test_bad_key_and_unknown_interaction(server: Server, cli_env: dict[str, str]) -> None:
    env = remote(server, cli_env)
    refused = await hangar("run", "antigravity", "task", "--api-key", "hk_wrong", env=env)
    assert refused.code == 2 and "refused the API key" in refused.stdout + refused.stderr
    missing = await hangar("interactions", "get", "int_missing", env=env)
    assert missing.code == 2 and "Traceback" not in missing.stderr


async def test_agents_push(tmp_path: Path, server: Server, cli_env: dict[str, str]) -> None:
    agent = tmp_path / "pushed.yaml"
    agent.write_text(
        "id: pushed-agent\nbase_agent: antigravity\ndescription: pushed from a file\n"
        "system_instruction: Be brief.\nagent_config: {model: gemini-test, max_total_tokens: 5000}\n"
    )
    ran = await hangar("agents", "push", str(agent), env=remote(server, cli_env))
    assert ran.code == 0, ran.stderr + ran.stdout
    created = json.loads(ran.stdout)
    assert created["id"] == "pushed-agent" and created["description"] == "pushed from a file"
