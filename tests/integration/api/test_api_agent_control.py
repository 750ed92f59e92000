"""Controlling an agent per call and from its workspace, through the real google-genai client:
a request's ``tools`` and ``system_instruction``, and ``.agents/`` (AGENTS.md, skills, hooks) in
the workspace of a real Docker sandbox. The fake Gemini records what the model was sent."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from api_harness import HangarServer

from runtime.llm import call, turn
from runtime.llm.script import JsonDict

pytestmark = pytest.mark.docker

AGENT = "antigravity-preview-05-2026"
WALKTHROUGH = call("update_artifact", artifact="walkthrough", content="# Walkthrough\n", id="wt")


def wait_done(hangar: HangarServer, interaction_id: str, limit_s: float = 90) -> Any:
    client = hangar.client()
    deadline = time.monotonic() + limit_s
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status != "in_progress" or time.monotonic() > deadline:
            return interaction
        time.sleep(0.2)


def declared(request: JsonDict) -> set[str]:
    return {d["name"] for t in request.get("tools", []) for d in t.get("functionDeclarations", [])}


def instruction(request: JsonDict) -> str:
    return "".join(p.get("text", "") for p in request["systemInstruction"]["parts"])


def test_request_tools_restrict_the_agents_builtins(hangar: HangarServer) -> None:
    hangar.script.set(turn(calls=[WALKTHROUGH]), turn("searched"))
    client = hangar.client()
    created = client.interactions.create(
        agent=AGENT, input="find it", tools=[{"type": "google_search"}], background=True
    )
    done = wait_done(hangar, created.id)
    assert done.status == "completed", getattr(done, "errors", None)
    sent = hangar.script.requests[0]
    names = declared(sent)
    assert not names & {"shell", "python", "browser"}  # no code_execution in the request's tools
    assert {"read_file", "write_file", "update_artifact"} <= names  # filesystem tools stay
    assert {"googleSearch": {}} in sent["tools"]


def test_request_code_execution_keeps_the_sandbox_tools(hangar: HangarServer) -> None:
    hangar.script.set(turn(calls=[WALKTHROUGH]), turn("ok"))
    client = hangar.client()
    created = client.interactions.create(
        agent=AGENT, input="run it", tools=[{"type": "code_execution"}], background=True
    )
    wait_done(hangar, created.id)
    sent = hangar.script.requests[0]
    assert {"shell", "python"} <= declared(sent)
    assert not any("googleSearch" in t for t in sent["tools"])  # the agent's search is overridden


def test_system_instruction_overrides_the_agents_for_the_call(hangar: HangarServer) -> None:
    hangar.script.set(turn(calls=[WALKTHROUGH]), turn("Zed here."))
    client = hangar.client()
    created = client.interactions.create(
        agent=AGENT, input="who are you?", system_instruction="You are Zed, a terse pirate.", background=True
    )
    wait_done(hangar, created.id)
    text = instruction(hangar.script.requests[0])
    assert text.startswith("You are Zed, a terse pirate.")
    assert "You are Antigravity" not in text
    assert "## Your environment" in text  # Hangar still describes the sandbox


HOOKS = {
    "pre_tool_execution": [
        {
            "matcher": "shell",
            "handler": {
                "type": "command",
                "command": "if grep -q 'rm -rf'; then echo 'deleting is not allowed here' >&2; exit 2; fi",
            },
        }
    ],
    "post_tool_execution": [
        {
            "matcher": "write_file",
            "handler": {"type": "command", "command": "cat >> /workspace/post-hook.log"},
        }
    ],
}
AGENTS_MD = "Always answer in French. The project codename is BLUEBIRD."
SKILL_MD = "---\nname: greeter\ndescription: Greets people by name in three languages.\n---\n# Greeter\n"


def test_workspace_agents_md_skills_and_hooks(hangar: HangarServer) -> None:
    client = hangar.client()
    setup = [
        call("write_file", path=".agents/AGENTS.md", content=AGENTS_MD, id="f1"),
        call("write_file", path=".agents/skills/greeter/SKILL.md", content=SKILL_MD, id="f2"),
        call("write_file", path=".agents/hooks.json", content=json.dumps(HOOKS), id="f3"),
    ]
    hangar.script.set(turn(calls=setup), turn(calls=[WALKTHROUGH]), turn("set up"))
    first = client.interactions.create(agent=AGENT, input="set up the workspace", background=True)
    assert wait_done(hangar, first.id).status == "completed"

    hangar.script.set(
        turn(calls=[call("shell", command="rm -rf /workspace/.agents", id="s1")]),
        turn(calls=[call("write_file", path="notes.txt", content="bonjour", id="w1")]),
        turn(calls=[call("shell", command="cat /workspace/post-hook.log; echo; ls .agents", id="s2")]),
        turn(calls=[WALKTHROUGH]),
        turn("C'est fait."),
    )
    second = client.interactions.create(
        agent=AGENT, input="clean up", previous_interaction_id=first.id, background=True
    )
    done = wait_done(hangar, second.id)
    assert done.status == "completed", getattr(done, "errors", None)

    text = instruction(hangar.script.requests[0])
    assert AGENTS_MD in text
    assert "greeter (/workspace/.agents/skills/greeter): Greets people by name in three languages." in text
    results = {st.call_id: st for st in done.steps if st.type in ("code_execution_result", "function_result")}
    denied = results["s1"]
    assert (
        denied.is_error
        and "denied by a pre_tool_execution hook: deleting is not allowed here" in denied.result
    )
    listing = results["s2"].result
    assert "hooks.json" in listing  # the denied rm never ran
    post = json.loads(listing.splitlines()[0])  # what the post hook got on stdin, in the box
    assert post["event"] == "post_tool_execution" and post["tool_name"] == "write_file"
    assert post["call_id"] == "w1" and post["arguments"]["path"] == "notes.txt"
    assert post["is_error"] is False


def test_invalid_hooks_file_fails_the_run_naming_it(hangar: HangarServer) -> None:
    client = hangar.client()
    bad = {"pre_tool_execution": [{"matcher": "shell", "handler": {"type": "command"}}]}
    hangar.script.set(
        turn(calls=[call("write_file", path=".agents/hooks.json", content=json.dumps(bad), id="f1")]),
        turn(calls=[WALKTHROUGH]),
        turn("ok"),
    )
    first = client.interactions.create(agent=AGENT, input="write hooks", background=True)
    assert wait_done(hangar, first.id).status == "completed"
    hangar.script.set()
    second = client.interactions.create(
        agent=AGENT, input="go", previous_interaction_id=first.id, background=True
    )
    done = wait_done(hangar, second.id)
    assert done.status == "failed"
    message = " ".join(e.message for e in done.errors or [])
    assert ".agents/hooks.json" in message and "command" in message
    assert not hangar.script.requests  # refused before the model was called


def test_agent_config_reaches_the_model(hangar: HangarServer) -> None:
    client = hangar.client()
    hangar.script.set(turn(calls=[WALKTHROUGH]), turn("ok"))
    created = client.interactions.create(
        agent=AGENT,
        input="hi",
        agent_config={"type": "antigravity", "model": "gemini-3.1-pro-preview", "max_total_tokens": 50_000},
        background=True,
    )
    assert wait_done(hangar, created.id).status == "completed"
    hangar.script.set(turn("no report"), turn("still no report"))
    research = client.interactions.create(
        agent="deep-research-pro-preview-12-2025",
        input="research",
        agent_config={"type": "deep-research", "thinking_summaries": "none"},
        background=True,
    )
    wait_done(hangar, research.id)
    thinking = hangar.script.requests[0]["generationConfig"]["thinkingConfig"]
    assert thinking.get("includeThoughts", thinking.get("include_thoughts")) is False
