"""Agent interactions through the real google-genai client: a real Hangar server runs the agent
loop in a real Docker sandbox, with the scripted fake Gemini as the model."""

from __future__ import annotations

import time

import pytest
from api_harness import HangarServer
from google.genai import _interactions as errors

from runtime.llm import call, turn

pytestmark = pytest.mark.docker

AGENT = "antigravity-preview-05-2026"  # an Interactions API id: resolves to the shipped antigravity
WALKTHROUGH = call("update_artifact", artifact="walkthrough", content="# Walkthrough\n", id="wt")


def wait_done(hangar: HangarServer, interaction_id: str, limit_s: float = 90) -> object:
    client = hangar.client()
    deadline = time.monotonic() + limit_s
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status != "in_progress" or time.monotonic() > deadline:
            return interaction
        time.sleep(0.2)


def test_background_agent_run_in_a_sandbox(hangar: HangarServer) -> None:
    hangar.script.set(
        turn(
            calls=[call("shell", command="echo hello from $(whoami) > notes.txt && cat notes.txt", id="s1")]
        ),
        turn(calls=[WALKTHROUGH]),
        turn("Wrote notes.txt."),
    )
    client = hangar.client()
    created = client.interactions.create(agent=AGENT, input="write a note", background=True)
    assert created.status == "in_progress"
    done = wait_done(hangar, created.id)
    assert done.status == "completed", getattr(done, "errors", None)
    kinds = [step.type for step in done.steps]
    assert kinds == [
        "user_input",
        "code_execution_call",
        "code_execution_result",
        "function_call",
        "function_result",
        "model_output",
    ]
    assert "hello from agent" in done.steps[2].result
    assert done.steps[1].arguments.language == "bash"


def test_requires_action_round_trip_keeps_the_workspace(hangar: HangarServer) -> None:
    weather = {
        "type": "function",
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    hangar.script.set(
        turn(calls=[call("write_file", path="city.txt", content="Oslo", id="w1")]),
        turn(calls=[call("get_weather", city="Oslo", id="g1")]),
    )
    client = hangar.client()
    first = client.interactions.create(agent=AGENT, input="weather?", tools=[weather], background=True)
    paused = wait_done(hangar, first.id)
    assert paused.status == "requires_action"
    assert paused.steps[-1].type == "function_call" and paused.steps[-1].name == "get_weather"

    hangar.script.set(
        turn(calls=[call("shell", command="cat city.txt", id="s2")]),
        turn(calls=[WALKTHROUGH]),
        turn("Sunny in Oslo."),
    )
    answer = [{"type": "function_result", "call_id": "g1", "name": "get_weather", "result": "sunny"}]
    second = client.interactions.create(
        agent=AGENT, input=answer, previous_interaction_id=first.id, tools=[weather], background=True
    )
    done = wait_done(hangar, second.id)
    assert done.status == "completed", getattr(done, "errors", None)
    assert any(s.type == "code_execution_result" and "Oslo" in s.result for s in done.steps)
    first_request = hangar.script.requests[0]
    assert "sunny" in str(first_request["contents"])  # the answer reached the model


def test_cancel_stops_a_running_command(hangar: HangarServer) -> None:
    hangar.script.set(turn(calls=[call("shell", command="sleep 60", id="s1")]))
    client = hangar.client()
    created = client.interactions.create(agent=AGENT, input="wait", background=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        steps = client.interactions.get(created.id).steps or []
        if any(step.type == "code_execution_call" for step in steps):
            break
        time.sleep(0.2)
    started = time.monotonic()
    cancelled = client.interactions.cancel(created.id)
    assert cancelled.status == "cancelled"
    assert time.monotonic() - started < 15
    assert client.interactions.get(created.id).status == "cancelled"


def test_unknown_agent_is_not_found(hangar: HangarServer) -> None:
    client = hangar.client()
    with pytest.raises(errors.NotFoundError) as caught:
        client.interactions.create(agent="no-such-agent", input="hi")
    assert "no-such-agent" in caught.value.body["error"]["message"]
