"""What an agent interaction's request changes about the agent for that one call (spec §16).

- ``tools`` restricts or overrides the agent's tools. When it lists any of the agent built-ins
  (``code_execution``, ``google_search``, ``url_context``, ``google_maps``) it is the whole tool
  list: the sandbox's code tools (``shell``, ``python``, ``browser``) stay only if it lists
  ``code_execution``; the filesystem tools (``files``, ``plan``) stay, as on Google's agents,
  which keep them whenever there is an environment; Google Search, Google Maps, URL context,
  functions and MCP servers are exactly the ones
  listed (the agent's own are replaced). A list of only ``function`` / ``mcp_server`` tools adds
  them to the agent's own tools (the client-side functions of a ``requires_action`` round trip).
- ``system_instruction`` replaces the agent's instruction for the call (Hangar's description of
  the sandbox is still added after it).
- ``agent_config``: ``model`` and ``max_total_tokens`` (antigravity), ``thinking_summaries`` (both
  kinds), ``collaborative_planning`` (deep-research: :mod:`runtime.agent.planning`) and
  ``visualization`` (``auto``: the agent is asked for charts; ``off``: none, and none are returned:
  :mod:`runtime.agent.answer`) are applied; create refused the rest.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from runtime.agent.answer import CHARTS_INSTRUCTION, NO_CHARTS_INSTRUCTION, AnswerOptions
from runtime.agent.planning import apply_planning
from runtime.agents.spec import AgentSpec, BuiltinTool
from runtime.agents.wire import AgentTool
from runtime.errors import InputError
from runtime.llm.base import ThinkingSettings
from runtime.request_models import AgentConfigUnion, AntigravityConfig, DeepResearchConfig
from runtime.wire import describe
from runtime.worker.runner import InteractionConfig

CODE_FAMILIES: frozenset[BuiltinTool] = frozenset({"shell", "python", "browser"})
"""Built-in families that ``code_execution`` stands for."""

BUILTIN_KINDS = frozenset({"code_execution", "google_search", "url_context", "google_maps"})
"""Request tool types that name agent built-ins (their presence makes the list the whole set)."""

_TOOLS: TypeAdapter[list[AgentTool]] = TypeAdapter(list[AgentTool])
_CONFIG: TypeAdapter[AgentConfigUnion] = TypeAdapter(AgentConfigUnion)


def agent_for_call(agent: AgentSpec, config: InteractionConfig) -> AgentSpec:
    """``agent`` with the request's ``tools``, ``system_instruction``, collaborative planning and
    visualization applied."""
    research = research_config(config)
    agent = apply_planning(_with_tools(agent, config), research.collaborative_planning)
    extra = {"auto": CHARTS_INSTRUCTION, "off": NO_CHARTS_INSTRUCTION}.get(research.visualization or "")
    if extra:
        agent = agent.model_copy(update={"system_instruction": (agent.system_instruction or "") + extra})
    return agent


def answer_options(config: InteractionConfig) -> AnswerOptions:
    """What the final answer carries: ``visualization: off`` leaves its charts out."""
    return AnswerOptions(charts=research_config(config).visualization != "off")


def research_config(config: InteractionConfig) -> DeepResearchConfig:
    """The call's deep-research ``agent_config`` (all unset when it sent another kind or none)."""
    typed = _typed_config(config)
    return typed if isinstance(typed, DeepResearchConfig) else DeepResearchConfig(type="deep-research")


def _typed_config(config: InteractionConfig) -> AgentConfigUnion | None:
    if not config.agent_config:
        return None
    try:
        return _CONFIG.validate_python(config.agent_config)
    except ValidationError as e:
        raise InputError(f"invalid `agent_config`: {describe(e, 'agent_config', limit=1)}") from e


def _with_tools(agent: AgentSpec, config: InteractionConfig) -> AgentSpec:
    update: dict[str, Any] = {}
    if config.system_instruction:
        update["system_instruction"] = config.system_instruction
    if config.tools is not None:
        try:
            tools = _TOOLS.validate_python(config.tools)
        except ValidationError as e:
            raise InputError(f"invalid `tools`: {describe(e, 'tools', limit=1)}") from e
        kinds = {tool.type for tool in tools}
        if kinds & BUILTIN_KINDS:
            code = "code_execution" in kinds
            update["builtin_tools"] = [f for f in agent.builtin_tools if code or f not in CODE_FAMILIES]
            update["tools"] = [tool for tool in tools if tool.type != "code_execution"]
        else:
            update["tools"] = [*(agent.tools or []), *tools]
    return agent.model_copy(update=update) if update else agent


def call_settings(config: InteractionConfig) -> tuple[str | None, int | None, ThinkingSettings | None]:
    """The ``agent_config`` of the call: (model, token budget, thinking settings), ``None`` where
    it says nothing."""
    typed = _typed_config(config)
    if isinstance(typed, AntigravityConfig):
        return typed.model, typed.max_total_tokens, None
    if isinstance(typed, DeepResearchConfig) and typed.thinking_summaries is not None:
        return None, None, ThinkingSettings(include_thoughts=typed.thinking_summaries != "none")
    return None, None, None
