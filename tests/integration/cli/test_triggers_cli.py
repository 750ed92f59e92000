"""``hangar triggers list|show|run|pause|resume`` in a subprocess against a real Hangar server."""

from __future__ import annotations

import json
import warnings

import pytest
from cli_harness import DEV_KEY, Server, hangar
from google import genai
from google.genai import types

from runtime.llm import call, turn

pytestmark = pytest.mark.docker

WALKTHROUGH = call("update_artifact", artifact="walkthrough", content="# Walkthrough\n", id="wt")


async def test_triggers_commands(server: Server, cli_env: dict[str, str]) -> None:
    env = cli_env | {"HANGAR_SERVER": server.url, "HANGAR_API_KEY": DEV_KEY}
    client = genai.Client(api_key=DEV_KEY, http_options=types.HttpOptions(base_url=server.url))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        triggers = client.aio.triggers
    trigger = await triggers.create(
        interaction={"agent": "antigravity", "input": "nightly"}, schedule="0 3 * * *",
        time_zone="Europe/Paris", display_name="cli-nightly",
    )
    try:
        listed = await hangar("triggers", "list", env=env)
        assert listed.code == 0, listed.stderr
        assert trigger.id in listed.stdout and "cli-nightly" in listed.stdout

        paused = await hangar("triggers", "pause", trigger.id, env=env)
        assert paused.code == 0 and f"paused {trigger.id}" in paused.stdout
        assert trigger.id not in (await hangar("triggers", "list", "--status", "active", env=env)).stdout
        resumed = await hangar("triggers", "resume", trigger.id, env=env)
        assert resumed.code == 0 and f"active {trigger.id}" in resumed.stdout

        server.script.set(turn(calls=[WALKTHROUGH]), turn("ran"))
        ran = await hangar("triggers", "run", trigger.id, env=env)
        assert ran.code == 0, ran.stderr + ran.stdout
        assert ran.stdout.startswith("in_progress exe_") and "int_" in ran.stdout

        shown = await hangar("triggers", "show", trigger.id, env=env)
        assert shown.code == 0, shown.stderr
        data = json.loads(shown.stdout)
        assert data["id"] == trigger.id and data["schedule"] == "0 3 * * *"
        assert len(data["executions"]) == 1 and data["executions"][0]["interaction_id"].startswith("int_")

        missing = await hangar("triggers", "show", "trg_missing", env=env)
        assert missing.code != 0 and "not found" in missing.stderr and "Traceback" not in missing.stderr
    finally:
        await triggers.delete(trigger.id)
