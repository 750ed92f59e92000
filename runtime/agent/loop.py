"""The agent loop over one sandbox and one model.

Each model turn becomes steps (:mod:`runtime.agent.turns`: thought and model_output steps opened
as the model streams them, calls, and Gemini's own search and URL fetches from the turn's
grounding). Each call is served by its kind (:mod:`runtime.agent.calls`): a built-in runs in the
sandbox, an MCP server tool on its server, and each becomes a result step of its own kind;
client-declared functions pause the run in ``requires_action``. MCP servers are connected for the
length of ``run``; one that cannot be reached when the run starts fails it (the agent was given
tools it cannot use). Declared outputs missing at the end get the model one reminder turn.
Every step goes to the sink the moment it exists. Budgets end the run with a status and a reason;
only infrastructure failures (the sandbox died, the model API kept failing) end it as ``failed``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from runtime import steps as s
from runtime.agent.answer import AnswerOptions, finish_answer
from runtime.agent.calls import CallContext, CallKind, interrupted_result, resolve
from runtime.agent.events import LoopEvent, RunResult, RunStatus, Sink, ToolProgress, ToolStarted
from runtime.agent.history import History, encode_signature, pending_calls
from runtime.agent.turns import StepLog, TurnStream
from runtime.errors import HangarError, InputError, ModelError, SandboxGone
from runtime.llm.base import ModelClient, ModelRequest, ModelTools, ModelTurn, ThinkingSettings, Usage
from runtime.sandbox.client import SandboxdClient
from runtime.tools.mcp import Connect, McpServer, McpServerUnavailable, McpToolbox, connect_http
from runtime.tools.toolset import Toolset

log = structlog.get_logger(__name__)
T = TypeVar("T")

OUTPUT_DIR = ".hangar/tool-outputs"


def outputs_reminder(missing: Sequence[str]) -> str:
    """What the model is told, once, when it finished without the files the run must produce."""
    return (
        f"[Hangar] The run is not finished: it must leave these files in /workspace, and they are "
        f"missing: {', '.join(missing)}. Write them now, then give your final answer."
    )


@dataclass
class LoopConfig:
    model: str
    system_instruction: str
    toolset: Toolset
    max_steps: int = 200
    """Model turns this run may take before ``budget_exceeded``."""
    max_total_tokens: int | None = None
    wall_time_s: float | None = None
    outputs: Sequence[str] = ()
    """Workspace files a completed run must have produced: a model that finishes without them is
    told once which are missing (one more turn); the run fails if they are still missing."""
    thinking: ThinkingSettings | None = field(default_factory=ThinkingSettings)
    context_budget_tokens: int = 800_000
    """When a turn's prompt grows past this, older tool outputs are elided from the history."""
    tool_output_chars: int = 20_000
    """Tool output beyond this goes to a workspace file; the model gets head, tail and the path."""
    stream: bool = True
    """Stream the model's text and thoughts to the sink as they are written."""
    mcp_servers: Sequence[McpServer] = ()
    """Remote MCP servers whose tools the model may call (connected for each ``run``)."""
    mcp_connect: Connect = connect_http
    """How an MCP server is reached (tests serve one in-process)."""
    answer: AnswerOptions = field(default_factory=AnswerOptions)
    """What the final answer carries: citations of opened pages, the report's charts."""


@dataclass(frozen=True)
class _Call:
    """One function call of a turn: the kind serving it, its id, arguments and call step."""

    kind: CallKind
    id: str
    args: dict[str, Any]
    step: s.Step


class _Stop(Exception):
    def __init__(self, status: RunStatus, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class AgentLoop:
    """Runs until the model answers without calling tools, a budget ends it, or a client-side
    function call needs an answer. ``run`` appends to the steps list it is given."""

    def __init__(
        self, model: ModelClient, sandbox: SandboxdClient, config: LoopConfig, sink: Sink | None = None
    ) -> None:
        self.model = model
        self.sandbox = sandbox
        self.config = config
        self.sink = sink
        self.usage = Usage()
        self._steps: list[s.Step] = []
        self._log = StepLog(self._steps, sink)
        self._stream: TurnStream | None = None
        self._elide_before = 0
        self._history = History()
        self._mcp = McpToolbox(())

    async def run(self, steps: list[s.Step], cancel: asyncio.Event | None = None) -> RunResult:
        self._steps, self._log, self._history = steps, StepLog(steps, self.sink), History()
        self._check_answered()
        tools = self.config.toolset
        toolbox = McpToolbox(
            self.config.mcp_servers,
            reserved=[*tools.builtins, *tools.client_functions],
            connect=self.config.mcp_connect,
        )
        try:
            async with toolbox:
                self._mcp = toolbox
                return await self._turns(cancel or asyncio.Event())
        except McpServerUnavailable as e:
            return self._result(RunStatus.FAILED, e.message, "", 0)
        finally:
            self._mcp = McpToolbox(())

    async def _turns(self, cancel: asyncio.Event) -> RunResult:
        deadline = time.monotonic() + self.config.wall_time_s if self.config.wall_time_s else None
        turns, final, reminded = 0, "", False
        try:
            while True:
                self._check_budgets(turns, cancel, deadline)
                turn, calls = await self._race(self._model_turn(), cancel, deadline)
                turns += 1
                final = turn.text or final
                if calls:
                    if await self._run_calls(calls, cancel, deadline):
                        names = ", ".join(c.kind.name for c in calls if c.kind.client_side)
                        return self._result(
                            RunStatus.REQUIRES_ACTION, f"waiting for the result of {names}", final, turns
                        )
                    continue
                missing = await self._missing_outputs()
                if not missing:
                    return self._result(RunStatus.COMPLETED, "the model finished its answer", final, turns)
                if reminded:
                    reason = f"the run did not produce its declared output(s): {', '.join(missing)}"
                    return self._result(RunStatus.FAILED, reason, final, turns)
                reminded = True
                await self._log.add(s.UserInputStep(content=[s.TextContent(text=outputs_reminder(missing))]))
        except _Stop as stop:
            return await self._ended(stop.status, stop.reason, final, turns)
        except SandboxGone as e:
            return await self._ended(RunStatus.FAILED, f"the sandbox died: {e.message}", final, turns)
        except ModelError as e:
            return await self._ended(RunStatus.FAILED, f"model error: {e.message}", final, turns)

    async def _ended(self, status: RunStatus, reason: str, final: str, turns: int) -> RunResult:
        """The run stopped early: steps still streaming are closed with what they hold."""
        if self._stream is not None:
            await self._stream.abandon()
            self._stream = None
        return self._result(status, reason, final, turns)

    # --- budgets and cancellation ----------------------------------------------------------------

    def _check_answered(self) -> None:
        pending = pending_calls(self._steps)
        if pending:
            names = ", ".join(f"{c.name} ({c.id})" for c in pending)
            raise InputError(
                f"these function calls need a function_result before the run can continue: {names}"
            )

    def _check_budgets(self, turns: int, cancel: asyncio.Event, deadline: float | None) -> None:
        if cancel.is_set():
            raise _Stop(RunStatus.CANCELLED, "cancelled by the caller")
        if deadline is not None and time.monotonic() >= deadline:
            raise _Stop(RunStatus.INCOMPLETE, f"wall-clock limit of {self.config.wall_time_s:g} s reached")
        if turns >= self.config.max_steps:
            raise _Stop(
                RunStatus.BUDGET_EXCEEDED, f"step limit of {self.config.max_steps} model turns reached"
            )
        limit = self.config.max_total_tokens
        if limit is not None and self.usage.total_tokens >= limit:
            raise _Stop(
                RunStatus.BUDGET_EXCEEDED,
                f"token budget of {limit} reached ({self.usage.total_tokens} tokens used)",
            )

    async def _race(self, work: Coroutine[Any, Any, T], cancel: asyncio.Event, deadline: float | None) -> T:
        """Await ``work`` unless cancellation or the deadline comes first; then the work is
        cancelled (a command in the box is killed when its request is dropped)."""
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(cancel.wait())
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            await asyncio.wait({task, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()  # the run itself is cancelled: so is the call in flight
            raise
        finally:
            stopper.cancel()
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if cancel.is_set():
            raise _Stop(RunStatus.CANCELLED, "cancelled by the caller")
        raise _Stop(RunStatus.INCOMPLETE, f"wall-clock limit of {self.config.wall_time_s:g} s reached")

    # --- model turns ---------------------------------------------------------------------------

    async def _model_turn(self) -> tuple[ModelTurn, list[_Call]]:
        tools = self.config.toolset
        request = ModelRequest(
            model=self.config.model,
            contents=self._history.contents(self._steps, elide_before=self._elide_before),
            system_instruction=self.config.system_instruction,
            tools=ModelTools(
                functions=tools.declarations() + self._mcp.declarations(),
                google_search=tools.google_search,
                url_context=tools.url_context,
                google_maps=tools.google_maps,
            ),
            thinking=self.config.thinking,
        )
        stream = self._stream = TurnStream(self._log, finalize=self._finish_answer)
        turn = await self.model.generate(request, on_delta=stream.on_delta if self.config.stream else None)
        self.usage = self.usage + turn.usage
        if turn.usage.input_tokens > self.config.context_budget_tokens:
            self._elide_before = max(self._elide_before, len(self._steps) // 2)
            log.info(
                "context_compaction", elide_before=self._elide_before, input_tokens=turn.usage.input_tokens
            )
        calls: list[_Call] = []
        for part in await stream.finish(turn):
            kind = resolve(part.name, tools, self._mcp)
            call_id = part.id or f"call_{len(self._steps)}"
            step = kind.call_step(call_id, dict(part.args), encode_signature(part.signature))
            await self._log.add(step)
            calls.append(_Call(kind, call_id, dict(part.args), step))
        self._stream = None
        return turn, calls

    async def _finish_answer(self, step: s.ModelOutputStep) -> None:
        await finish_answer(step, self._steps, self.sandbox, self.config.answer)

    # --- tool calls ----------------------------------------------------------------------------

    async def _run_calls(self, calls: list[_Call], cancel: asyncio.Event, deadline: float | None) -> bool:
        """Execute every call of the turn run here (in order) and record its result. Returns
        whether a client-side function was called (the run pauses for its result)."""
        ctx = CallContext(sandbox=self.sandbox, fit=self._fit, progress=self._progress)
        for index, call in enumerate(calls):
            if call.kind.client_side:
                continue
            try:
                await self._emit(ToolStarted(call_id=call.id, name=call.kind.name))
                result = await self._race(call.kind.run(call.id, call.args, ctx), cancel, deadline)
                await self._log.add(result)
            except _Stop as stop:
                # Every call the model made gets an answer, so the history stays valid for a
                # follow-up interaction (Gemini rejects a call without its response).
                text = f"not completed: {stop.reason}; the command may have been partly done"
                for other in calls[index:]:
                    answer = None if other.kind.client_side else interrupted_result(other.step, text)
                    if answer is not None:
                        await self._log.add(answer)
                raise
        return any(call.kind.client_side for call in calls)

    async def _progress(self, call_id: str, text: str) -> None:
        await self._emit(ToolProgress(call_id=call_id, text=text))

    async def _fit(self, call_id: str, text: str) -> str:
        """Cut a huge output to the budget; the full text goes to a workspace file."""
        budget = self.config.tool_output_chars
        if len(text) <= budget:
            return text
        path = f"{OUTPUT_DIR}/{call_id}.txt"
        try:
            await self.sandbox.write_file(path, text)
            where = f"the full output ({len(text)} characters) is in {path}"
        except HangarError as e:
            where = f"the full output could not be saved ({e.message})"
        half = budget // 2
        return f"{text[:half]}\n\n[... output cut: {where} ...]\n\n{text[-half:]}"

    # --- outputs and bookkeeping -----------------------------------------------------------------

    async def _missing_outputs(self) -> list[str]:
        missing = []
        for path in self.config.outputs:
            try:
                await self.sandbox.stat(path)
            except InputError:
                missing.append(path)
        return missing

    async def _emit(self, event: LoopEvent) -> None:
        await self._log.emit(event)

    def _result(self, status: RunStatus, reason: str, final: str, turns: int) -> RunResult:
        log.info("run_ended", status=status.value, reason=reason, turns=turns, tokens=self.usage.total_tokens)
        return RunResult(
            status=status,
            reason=reason,
            usage=self.usage,
            steps_added=self._log.added,
            final_text=final,
            model_turns=turns,
        )
