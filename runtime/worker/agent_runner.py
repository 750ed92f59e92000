"""Agent interactions (``"agent": ...``): the agent loop in a sandbox, its steps into the log.

Each interaction gets a box whose ``/workspace`` is the environment's volume, so a follow-up
interaction (``previous_interaction_id``, or an answer to ``requires_action``) finds the files of
the earlier turns. Credentials are checked before any box is provisioned.

Resuming (the server stopped mid-run): the loop continues from the steps already logged, in a new
box on the same workspace volume (data sources are not copied again: the workspace has them). A
built-in tool call whose result was never logged is *not* re-executed — it may have had effects
(a half-applied edit, a sent request) — but answered with an error result saying the run was
interrupted, so the model decides whether to run it again. A pending client-side function call
puts the interaction back in ``requires_action``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any, Protocol

import structlog
from pydantic import ValidationError

from runtime.agent.events import LoopEvent, RunStatus, StepAdded
from runtime.agent.session import AgentSession, loop_config
from runtime.agents import AgentRegistry, AgentSpec
from runtime.agents.wire import McpServerTool
from runtime.errors import InputError
from runtime.llm.base import ModelClient
from runtime.llm.gemini import GeminiClient
from runtime.sandbox.base import Provider, SandboxSpec
from runtime.steps import (
    CodeExecutionCallStep,
    CodeExecutionResultStep,
    FunctionCallStep,
    FunctionResultStep,
    Step,
)
from runtime.store import InteractionRecord
from runtime.worker.events import ErrorInfo
from runtime.worker.model_runner import request_tools, to_usage
from runtime.worker.runner import Emit, RunInput, RunResult, StepWriter

log = structlog.get_logger(__name__)

INTERRUPTED_RESULT = (
    "interrupted: the Hangar server stopped while this tool call was running, so its result was "
    "lost; it may or may not have taken effect. Check before running it again."
)


def workspace_volume(environment_id: str) -> str:
    """Docker volume name of an environment's workspace (ids from callers are sanitised)."""
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", environment_id)[:40].strip("-.") or "env"
    digest = hashlib.sha256(environment_id.encode()).hexdigest()[:8]
    return f"hangar-ws-{safe}-{digest}"


def _max_tokens(agent_config: dict[str, Any] | None) -> int | None:
    value = (agent_config or {}).get("max_total_tokens")
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


class AgentResolver(Protocol):
    async def resolve(self, project_id: str, agent_id: str) -> AgentSpec:
        """The agent as the project sees it (its own agents, then the shipped ones), resolved."""
        ...


class EnvironmentPreparer(Protocol):
    async def prepare(
        self, interaction: InteractionRecord, agent: AgentSpec, environment: Any, *, resumed: bool
    ) -> AgentSpec:
        """Place the run's sources in its workspace; the agent with its environment's network and env."""
        ...


class AgentRunner:
    """Runs agents from ``registry`` (or, when given, ``resolver``) in sandboxes of ``provider``
    with ``model``."""

    def __init__(
        self,
        registry: AgentRegistry,
        provider: Provider,
        model: ModelClient,
        *,
        base_spec: SandboxSpec | None = None,
        resolver: AgentResolver | None = None,
        environments: EnvironmentPreparer | None = None,
    ) -> None:
        self.registry = registry
        self.provider = provider
        self.model = model
        self.base_spec = base_spec or SandboxSpec()
        self.resolver = resolver
        self.environments = environments

    async def run(self, run: RunInput, emit: Emit, cancel: asyncio.Event) -> RunResult:
        record = run.interaction
        bound = log.bind(interaction_id=record.id, agent=record.target)
        if isinstance(self.model, GeminiClient):
            self.model.check_credentials()  # fails the interaction at once, before provisioning
        if self.resolver is not None:
            agent = await self.resolver.resolve(record.project_id, record.target)
        else:
            agent = self.registry.resolve(record.target)
        if self.environments is not None:
            agent = await self.environments.prepare(
                record, agent, run.config.environment, resumed=bool(run.resumed_steps)
            )
        functions = request_tools(run.config.tools or []).functions
        config = loop_config(
            agent,
            model=(run.config.agent_config or {}).get("model"),
            max_tokens=_max_tokens(run.config.agent_config),
            extra_functions=functions,
            extra_mcp_servers=_mcp_servers(run.config.tools or []),
        )
        if run.config.system_instruction:
            config.system_instruction = f"{config.system_instruction}\n\n{run.config.system_instruction}"
        env_id = record.environment_id or record.id
        base = self.base_spec.model_copy(update={"workspace_volume": workspace_volume(env_id)})
        writer = StepWriter(emit, run)

        async def sink(event: LoopEvent) -> None:
            if isinstance(event, StepAdded):
                await writer.whole(event.step)

        steps = run.conversation
        if run.resumed_steps:
            waiting = await _answer_interrupted(steps, set(config.toolset.client_functions), writer)
            if waiting:
                return RunResult(status="requires_action")
        async with AgentSession(
            agent, self.provider, self.model, config=config, base_spec=base, sink=sink,
            copy_sources=not run.resumed_steps,
        ) as session:
            sandbox_id = session.sandbox.id if session.sandbox else None
            bound.info("agent_run_started", sandbox_id=sandbox_id, resumed_steps=len(run.resumed_steps))
            result = await session.run(steps, cancel)
        error = None
        if result.status in (RunStatus.FAILED, RunStatus.INCOMPLETE, RunStatus.BUDGET_EXCEEDED):
            error = ErrorInfo(code=result.status.value, message=result.reason)
        return RunResult(status=result.status.value, usage=to_usage(result.usage), error=error)


def _mcp_servers(tools: list[dict[str, Any]]) -> list[McpServerTool]:
    """The request's ``mcp_server`` tools (the agent's own come from its definition)."""
    try:
        return [McpServerTool.model_validate(t) for t in tools if t.get("type") == "mcp_server"]
    except ValidationError as e:
        raise InputError(f"invalid mcp_server tool: {e.errors()[0]['msg']}") from e


async def _answer_interrupted(steps: list[Step], client_functions: set[str], writer: StepWriter) -> bool:
    """Log (and append to ``steps``) an error result for each built-in call left unanswered.
    Returns whether a client-side function call still waits for its result."""
    answered = {st.call_id for st in steps if isinstance(st, FunctionResultStep | CodeExecutionResultStep)}
    waiting = False
    for step in list(steps):
        if not isinstance(step, FunctionCallStep | CodeExecutionCallStep) or step.id in answered:
            continue
        result: Step
        if isinstance(step, CodeExecutionCallStep):
            result = CodeExecutionResultStep(call_id=step.id, result=INTERRUPTED_RESULT, is_error=True)
        elif step.name in client_functions:
            waiting = True
            continue
        else:
            result = FunctionResultStep(
                call_id=step.id, name=step.name, result=INTERRUPTED_RESULT, is_error=True
            )
        await writer.whole(result)
        steps.append(result)
    return waiting
