"""Collaborative planning through the real google-genai client against a real server (agent loop in
a real Docker sandbox, scripted fake Gemini): plan, refine, approve, report — one environment."""

from __future__ import annotations

import time
import warnings
from typing import Any

import pytest
from api_harness import HangarServer
from google import genai

from runtime.llm import call, turn
from runtime.llm.script import JsonDict, contains_text

pytestmark = pytest.mark.docker

AGENT = "deep-research-preview-04-2026"
PLAN_1 = "# Plan\n\n- [ ] Q1: market size 2025\n"
PLAN_2 = PLAN_1 + "- [ ] Q2: growth by region\n"


def wait_done(client: genai.Client, interaction_id: str, limit_s: float = 120) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status != "in_progress" or time.monotonic() > deadline:
            return interaction
        time.sleep(0.2)


def functions(request: JsonDict) -> set[str]:
    return {d["name"] for t in request.get("tools", []) for d in t.get("functionDeclarations", [])}


def instruction(request: JsonDict) -> str:
    return "".join(p.get("text", "") for p in request["systemInstruction"]["parts"])


def download(client: genai.Client, environment_id: str, path: str) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data: bytes = client.environments.files.download(environment=environment_id, path=path)
    return data


def _turn(client: genai.Client, text: str, planning: bool, previous: str | None) -> Any:
    created = client.interactions.create(
        agent=AGENT, input=text, previous_interaction_id=previous, background=True,
        agent_config={"type": "deep-research", "collaborative_planning": planning},
    )
    return wait_done(client, created.id)


def _plan_step(done: Any) -> Any:
    """The structured plan step: the update_artifact call with ``artifact: plan``."""
    return next(s for s in done.steps if s.type == "function_call" and s.name == "update_artifact"
                and s.arguments.get("artifact") == "plan")


def test_plan_refine_approve_report_in_one_environment(hangar: HangarServer) -> None:
    client = hangar.client()
    # 1. Planning on: a plan, and nothing else.
    hangar.script.set(
        turn(calls=[call("update_artifact", artifact="plan", content=PLAN_1, id="p1")]),
        turn(PLAN_1 + "\nApprove or refine?"),
    )
    first = _turn(client, "How big is the widget market?", True, None)
    assert first.status == "completed", first
    planning_request = hangar.script.requests[0]
    assert "Collaborative planning is on" in instruction(planning_request)
    assert "update_artifact" in functions(planning_request)
    assert not {"write_file", "edit_file", "python", "shell"} & functions(planning_request)
    assert first.steps[-1].type == "model_output" and PLAN_1 in first.steps[-1].content[0].text
    assert _plan_step(first).arguments["content"] == PLAN_1
    env = first.environment_id
    assert download(client, env, "plan.md").decode() == PLAN_1

    # 2. Planning still on, with more guidance: the same plan.md, refined.
    hangar.script.set(
        turn(calls=[call("update_artifact", artifact="plan", content=PLAN_2, id="p2")],
             expect=contains_text("Q1: market size")),  # the model sees the plan it proposed
        turn(PLAN_2),
    )
    second = _turn(client, "Also cover growth by region.", True, first.id)
    assert second.status == "completed", second
    assert "Collaborative planning is on" in instruction(hangar.script.requests[0])
    assert _plan_step(second).arguments["content"] == PLAN_2
    assert second.environment_id == env
    assert download(client, env, "plan.md").decode() == PLAN_2

    # 3. Planning off: the approved plan is carried out, report.md written.
    hangar.script.set(
        turn(calls=[call("read_file", path="plan.md", id="r2")]),
        turn(calls=[call("write_file", path="report.md", content="# Widgets\n\nBig [1].\n", id="w1")]),
        turn("Done: see report.md."),
    )
    third = _turn(client, "Approved, go.", False, second.id)
    assert third.status == "completed", third
    execute_request = hangar.script.requests[0]
    assert "Collaborative planning is off" in instruction(execute_request)
    assert {"write_file", "python"} <= functions(execute_request)
    read = next(s for s in third.steps if s.type == "function_result" and s.call_id == "r2")
    assert "Q2: growth by region" in str(read.result)
    assert third.environment_id == env
    assert download(client, env, "report.md").startswith(b"# Widgets")


def test_planning_run_without_a_plan_file_does_not_complete(hangar: HangarServer) -> None:
    client = hangar.client()
    hangar.script.set(turn("Here is my plan: Q1."), turn("Still just text."))
    done = _turn(client, "Plan it", True, None)
    assert done.status == "failed", done
    assert "plan.md" in str(done)
