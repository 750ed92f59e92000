"""Collaborative planning's changes to the agent of a turn, and the plan as a step people can read."""

from __future__ import annotations

from pathlib import Path

from runtime import steps as s
from runtime.agent.planning import (
    EXECUTE_INSTRUCTION,
    PLAN_FILE,
    PLANNING_INSTRUCTION,
    apply_planning,
    plan_of,
)
from runtime.agents import AgentRegistry
from runtime.cli.display import describe

AGENTS_DIR = Path(__file__).resolve().parents[3] / "agents"
AGENT = AgentRegistry.from_folder(AGENTS_DIR).resolve("deep-research")


def test_unset_leaves_the_agent_alone() -> None:
    assert apply_planning(AGENT, None) is AGENT


def test_planning_turn_reads_and_plans_only_and_must_leave_the_plan() -> None:
    planning = apply_planning(AGENT, True)
    assert planning.builtin_tools == ["browser", "plan"]
    assert planning.outputs == [PLAN_FILE]
    assert (planning.system_instruction or "").endswith(PLANNING_INSTRUCTION)
    assert {t.type for t in planning.tools or []} == {t.type for t in AGENT.tools or []}  # search stays


def test_execution_turn_keeps_every_tool_and_follows_the_plan() -> None:
    execute = apply_planning(AGENT, False)
    assert execute.builtin_tools == AGENT.builtin_tools and not execute.outputs
    assert (execute.system_instruction or "").endswith(EXECUTE_INSTRUCTION)


def test_plan_step_is_shown_as_a_plan() -> None:
    args = {"artifact": "plan", "content": "- [ ] Q1\n"}
    step = s.FunctionCallStep(id="p1", name="update_artifact", arguments=args)
    assert plan_of(step) == "- [ ] Q1\n"
    line = describe(step) or ""
    assert line.startswith("[bold magenta]plan:[/]") and "- [ ] Q1" in line
    args = {"artifact": "walkthrough", "content": "x"}
    walkthrough = s.FunctionCallStep(id="w", name="update_artifact", arguments=args)
    assert plan_of(walkthrough) is None
