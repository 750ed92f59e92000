"""Agent interactions (``"agent": ...``): the agent loop in a sandbox, its steps into the log.

Each interaction gets a box whose ``/workspace`` is the environment's volume, so a follow-up
interaction (``previous_interaction_id``, or an answer to ``requires_action``) finds the files of
the earlier turns. Credentials are checked before any box is provisioned.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import structlog

from runtime.agent.events import LoopEvent, RunStatus, StepAdded
from runtime.agent.session import AgentSession, loop_config
from runtime.agents import AgentRegistry
from runtime.llm.base import ModelClient
from runtime.llm.gemini import GeminiClient
from runtime.sandbox.base import Provider, SandboxSpec
from runtime.service.model_runner import _tools, to_usage
from runtime.worker.events import ErrorInfo
from runtime.worker.runner import Emit, RunInput, RunResult, StepWriter

log = structlog.get_logger(__name__)


def workspace_volume(environment_id: str) -> str:
    """Docker volume name of an environment's workspace (ids from callers are sanitised)."""
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", environment_id)[:40].strip("-.") or "env"
    digest = hashlib.sha256(environment_id.encode()).hexdigest()[:8]
    return f"hangar-ws-{safe}-{digest}"


def _max_tokens(agent_config: dict[str, Any] | None) -> int | None:
    value = (agent_config or {}).get("max_total_tokens")
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


class AgentRunner:
    """Runs agents from ``registry`` in sandboxes of ``provider`` with ``model``."""

    def __init__(
        self,
        registry: AgentRegistry,
        provider: Provider,
        model: ModelClient,
        *,
        base_spec: SandboxSpec | None = None,
    ) -> None:
        self.registry = registry
        self.provider = provider
        self.model = model
        self.base_spec = base_spec or SandboxSpec()

    async def run(self, run: RunInput, emit: Emit, cancel: asyncio.Event) -> RunResult:
        record = run.interaction
        bound = log.bind(interaction_id=record.id, agent=record.target)
        if isinstance(self.model, GeminiClient):
            self.model.check_credentials()  # fails the interaction at once, before provisioning
        agent = self.registry.resolve(record.target)
        functions = _tools(run.config.tools or []).functions
        config = loop_config(
            agent,
            model=(run.config.agent_config or {}).get("model"),
            max_tokens=_max_tokens(run.config.agent_config),
            extra_functions=functions,
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
        async with AgentSession(
            agent, self.provider, self.model, config=config, base_spec=base, sink=sink
        ) as session:
            bound.info("agent_run_started", sandbox_id=session.sandbox.id if session.sandbox else None)
            result = await session.run(steps, cancel)
        error = None
        if result.status in (RunStatus.FAILED, RunStatus.INCOMPLETE, RunStatus.BUDGET_EXCEEDED):
            error = ErrorInfo(code=result.status.value, message=result.reason)
        return RunResult(status=result.status.value, usage=to_usage(result.usage), error=error)
