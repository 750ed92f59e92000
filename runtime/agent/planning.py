"""Collaborative planning of research agents (``agent_config.collaborative_planning``, spec §3.6).

Planning on: the run researches just enough to propose a plan, writes it to ``plan.md`` with the
``update_artifact`` tool (a structured ``function_call`` step: ``artifact: plan`` and its
markdown) and answers with it. It gets no tool that computes or writes other files (no shell,
Python or file writes), and ``plan.md`` is a required output, so the run cannot end ``completed``
without the plan. A follow-up turn with planning still on revises the same ``plan.md`` (the
environment carries it over); a turn with planning explicitly off carries out the approved plan.
"""

from __future__ import annotations

from runtime import steps as s
from runtime.agents.spec import AgentSpec, BuiltinTool

PLAN_FILE = "plan.md"
PLANNING_TOOLS: frozenset[BuiltinTool] = frozenset({"browser", "plan"})
"""The built-ins a planning turn keeps: reading sources and writing the plan."""

PLANNING_INSTRUCTION = f"""

Collaborative planning is on for this turn. Do NOT carry out the research and do NOT write
report.md. Research just enough (a few searches, a source or two) to understand the question and
what answering it will take, then propose a research plan: the sub-questions, the sources and data
you will use for each, the computations or charts you intend, and the shape of the report. Save the
plan with update_artifact (artifact "plan": /workspace/{PLAN_FILE}), then answer with the plan
itself and ask the user to approve or refine it. If /workspace/{PLAN_FILE} already holds a plan from
an earlier turn, revise that plan following the user's new guidance instead of starting over."""

EXECUTE_INSTRUCTION = f"""

Collaborative planning is off for this turn. If /workspace/{PLAN_FILE} holds a plan agreed with the
user in earlier turns, it is approved: read it first and carry it out, following any last guidance
in the user's message, marking its steps done as you go."""


def apply_planning(agent: AgentSpec, planning: bool | None) -> AgentSpec:
    """``agent`` for a turn whose request set ``collaborative_planning`` (``None``: unchanged)."""
    if planning is None:
        return agent
    instruction = agent.system_instruction or ""
    if not planning:
        return agent.model_copy(update={"system_instruction": instruction + EXECUTE_INSTRUCTION})
    outputs = [*(agent.outputs or []), *([] if PLAN_FILE in (agent.outputs or []) else [PLAN_FILE])]
    return agent.model_copy(update={
        "system_instruction": instruction + PLANNING_INSTRUCTION,
        "builtin_tools": [*(f for f in agent.builtin_tools if f in PLANNING_TOOLS and f != "plan"), "plan"],
        "outputs": outputs,
    })


def plan_of(step: s.Step) -> str | None:
    """The markdown plan a step writes (an ``update_artifact`` call for ``plan``), else ``None``."""
    if isinstance(step, s.FunctionCallStep) and step.name == "update_artifact":
        args = step.arguments or {}
        if args.get("artifact") == "plan" and isinstance(args.get("content"), str):
            return str(args["content"])
    return None
