"""Agent interactions (``"agent": ...``): the agent loop in a sandbox, its steps into the log.

Each interaction gets a box whose ``/workspace`` is the environment's volume, so a follow-up
interaction (``previous_interaction_id``, or an answer to ``requires_action``) finds the files of
the earlier turns. Credentials are checked before any box is provisioned.

Resuming (the server stopped mid-run): the loop continues from the steps already logged, in a new
box on the same workspace volume (data sources are not copied again: the workspace has them). A
built-in or MCP server tool call whose result was never logged is *not* re-executed — it may have
had effects (a half-applied edit, a sent request) — but answered with an error result of its own
kind saying the run was interrupted, so the model decides whether to run it again. A pending
client-side function call puts the interaction back in ``requires_action``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any, Protocol

import structlog

from runtime.agent.calls import interrupted_result
from runtime.agent.events import LoopEvent, StepAdded, StepStarted, TextDelta
from runtime.agent.session import AgentSession, loop_config
from runtime.agents import AgentRegistry, AgentSpec
from runtime.errors import HangarError
from runtime.llm.base import ModelClient
from runtime.llm.gemini import GeminiClient
from runtime.sandbox.base import Provider, SandboxSpec
from runtime.sandbox.egress_credentials import CredentialSource
from runtime.steps import FunctionCallStep, Step, TextContent, unanswered_calls
from runtime.store import InteractionRecord
from runtime.tools.hooks import OutboundGuard
from runtime.tools.mcp import Connect, with_credentials
from runtime.wire import InteractionStatus
from runtime.worker.agent_request import agent_for_call, answer_options, call_settings
from runtime.worker.events import ErrorInfo, ThoughtSummaryDelta
from runtime.worker.events import TextDelta as TextDelta_
from runtime.worker.model_runner import to_usage
from runtime.worker.runner import Emit, RunInput, RunResult, StepWriter

log = structlog.get_logger(__name__)

CANCELLED_RESULT = "not completed: cancelled by the caller; the command may have been partly done"
INTERRUPTED_RESULT = (
    "interrupted: the Hangar server stopped while this tool call was running, so its result was "
    "lost; it may or may not have taken effect. Check before running it again."
)


def workspace_volume(environment_id: str) -> str:
    """Docker volume name of an environment's workspace (ids from callers are sanitised)."""
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", environment_id)[:40].strip("-.") or "env"
    digest = hashlib.sha256(environment_id.encode()).hexdigest()[:8]
    return f"hangar-ws-{safe}-{digest}"


def run_base(base_spec: SandboxSpec, environment_id: str | None, project_id: str) -> SandboxSpec:
    """The runtime's defaults for a run in ``environment_id`` (``None``: the workspace aside) of
    ``project_id``, that the agent's own spec is laid over (:meth:`AgentSpec.sandbox_spec`)."""
    volume = workspace_volume(environment_id) if environment_id is not None else None
    return base_spec.model_copy(update={"workspace_volume": volume, "credential_scope": project_id})


def run_spec(
    agent: AgentSpec, base_spec: SandboxSpec, environment_id: str | None = None, project_id: str = ""
) -> SandboxSpec:
    """What the box of a run of ``agent`` (as its environment makes it: ``EnvironmentPreparer``)
    is made from; no I/O, so the service can tell a new environment's shape when it is created."""
    return agent.sandbox_spec(run_base(base_spec, environment_id, project_id))


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
        outbound: OutboundGuard | None = None,
        mcp_connect: Connect | None = None,
        environments: EnvironmentPreparer | None = None,
        credentials: CredentialSource | None = None,
    ) -> None:
        """``mcp_connect`` reaches the agents' MCP servers (the server passes one through its
        outbound guard)."""
        self.mcp_connect = mcp_connect
        self.registry = registry
        self.provider = provider
        self.model = model
        self.base_spec = base_spec or SandboxSpec()
        self.resolver = resolver
        self.outbound = outbound
        """Lets workspace hooks (``.agents/hooks.json``) call HTTP handlers; ``None``: refused."""
        self.environments = environments
        self.credentials = credentials
        """Resolves the ``credential`` of MCP server tools (their headers are added by the server)."""

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
        agent = agent_for_call(agent, run.config)
        if any(getattr(t, "credential", None) for t in agent.tools or []):
            tools = await with_credentials(agent.tools or [], self.credentials, record.project_id)
            agent = agent.model_copy(update={"tools": tools})
        model, max_tokens, thinking = call_settings(run.config)
        config = loop_config(agent, model=model, max_tokens=max_tokens)
        if thinking is not None:
            config.thinking = thinking
        config.answer = answer_options(run.config)
        if self.mcp_connect is not None:
            config.mcp_connect = self.mcp_connect
        env_id = record.environment_id or record.id
        base = run_base(self.base_spec, env_id, record.project_id)
        writer = StepWriter(emit, run)
        steps = run.conversation
        if run.resumed_steps:
            waiting = await _answer_interrupted(steps, set(config.toolset.client_functions), writer)
            if waiting:
                return RunResult(status=InteractionStatus.REQUIRES_ACTION)
        async with AgentSession(
            agent, self.provider, self.model, config=config, base_spec=base, sink=LoopLog(writer),
            copy_sources=not run.resumed_steps, outbound=self.outbound, keep_box=True,
        ) as session:
            sandbox_id = session.sandbox.id if session.sandbox else None
            bound.info("agent_run_started", sandbox_id=sandbox_id, resumed_steps=len(run.resumed_steps))
            try:
                result = await session.run(steps, cancel)
                session.keep_box = not cancel.is_set()  # a cancelled run's box is not kept
            except asyncio.CancelledError:
                if cancel.is_set():  # the caller cancelled (not a shutdown: that run is resumed)
                    await _answer_cancelled(steps, set(config.toolset.client_functions), writer, bound)
                raise
        error = None
        if result.status.is_error:
            error = ErrorInfo(code=result.status.value, message=result.reason)
        return RunResult(status=result.status.value, usage=to_usage(result.usage), error=error)


class LoopLog:
    """The loop's events as ``step.*`` events: whole steps at once; streamed text and thought
    summaries as ``step.delta`` against the step they started (the loop's indexes count the
    earlier turns too, the log's do not: the two are mapped as steps are started)."""

    def __init__(self, writer: StepWriter) -> None:
        self._writer = writer
        self._started: dict[int, int] = {}

    async def __call__(self, event: LoopEvent) -> None:
        if isinstance(event, StepStarted):
            self._started[event.index] = await self._writer.start(event.step)
        elif isinstance(event, TextDelta) and event.index in self._started:
            index = self._started[event.index]
            if event.kind == "thought":
                await self._writer.delta(index, ThoughtSummaryDelta(content=TextContent(text=event.text)))
            else:
                await self._writer.delta(index, TextDelta_(text=event.text))
        elif isinstance(event, StepAdded):
            started = self._started.pop(event.index, None)
            if started is None:
                await self._writer.whole(event.step)
            else:
                await self._writer.finish(started, event.step)


async def _answer_interrupted(steps: list[Step], client_functions: set[str], writer: StepWriter) -> bool:
    """Log (and append to ``steps``) an error result, of the call's own kind, for each call run
    here that was left unanswered. Returns whether a client-side function call still waits."""
    return await _answer_calls(steps, client_functions, writer, INTERRUPTED_RESULT)


async def _answer_cancelled(
    steps: list[Step], client_functions: set[str], writer: StepWriter, bound: Any
) -> None:
    """Answer the calls a cancelled run left open; the cancel goes on even if the log refuses
    (the event being written when the cancel came may have taken the next sequence number)."""
    try:
        await _answer_calls(steps, client_functions, writer, CANCELLED_RESULT)
    except HangarError as e:
        bound.warning("cancelled_calls_unanswered", error=e.message)


async def _answer_calls(steps: list[Step], client_functions: set[str], writer: StepWriter, text: str) -> bool:
    waiting = False
    for call in unanswered_calls(steps):
        if isinstance(call, FunctionCallStep) and call.name in client_functions:
            waiting = True
            continue
        result = interrupted_result(call, text)
        if result is not None:
            await writer.whole(result)
            steps.append(result)
    return waiting
