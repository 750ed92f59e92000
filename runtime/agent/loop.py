"""The agent loop over one sandbox and one model.

Each model turn becomes steps (thought, model_output, calls, and Gemini's own search and URL
fetches from the turn's grounding); each built-in call runs in the sandbox and each MCP server tool
call on its server, and becomes a result step; client-declared functions pause the run in
``requires_action``. MCP servers are connected for the length of ``run``; one that cannot be
reached when the run starts fails it (the agent was given tools it cannot use).
Every step goes to the sink the moment it exists. Budgets end the run with a status and a reason;
only infrastructure failures (the sandbox died, the model API kept failing) end it as ``failed``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from runtime import steps as s
from runtime.agent.events import (
    LoopEvent,
    RunResult,
    RunStatus,
    Sink,
    StepAdded,
    TextDelta,
    ToolProgress,
    ToolStarted,
)
from runtime.agent.grounding import grounding_steps
from runtime.agent.history import History, encode_signature, pending_calls
from runtime.errors import HangarError, InputError, ModelError, SandboxGone
from runtime.llm.base import (
    FunctionCallPart,
    ModelClient,
    ModelRequest,
    ModelTools,
    ModelTurn,
    ModelTurnDelta,
    TextPart,
    ThinkingSettings,
    ThoughtPart,
    Usage,
)
from runtime.sandbox.client import SandboxdClient
from runtime.tools.base import Tool, ToolContext, ToolOutput
from runtime.tools.mcp import (
    Connect,
    McpResult,
    McpServer,
    McpServerUnavailable,
    McpTool,
    McpToolbox,
    connect_http,
)
from runtime.tools.toolset import Toolset

log = structlog.get_logger(__name__)
T = TypeVar("T")

OUTPUT_DIR = ".hangar/tool-outputs"


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
    """Workspace files a completed run must have produced."""
    thinking: ThinkingSettings | None = field(default_factory=ThinkingSettings)
    context_budget_tokens: int = 800_000
    """When a turn's prompt grows past this, older tool outputs are elided from the history."""
    tool_output_chars: int = 20_000
    """Tool output beyond this goes to a workspace file; the model gets head, tail and the path."""
    stream: bool = True
    mcp_servers: Sequence[McpServer] = ()
    """Remote MCP servers whose tools the model may call (connected for each ``run``)."""
    mcp_connect: Connect = connect_http
    """How an MCP server is reached (tests serve one in-process)."""


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
        self._added = 0
        self._elide_before = 0
        self._history = History()
        self._mcp = McpToolbox(())

    async def run(self, steps: list[s.Step], cancel: asyncio.Event | None = None) -> RunResult:
        self._steps, self._added, self._history = steps, 0, History()
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
        turns, final = 0, ""
        try:
            while True:
                self._check_budgets(turns, cancel, deadline)
                turn, calls = await self._race(self._model_turn(), cancel, deadline)
                turns += 1
                final = turn.text or final
                if not calls:
                    await self._check_outputs()
                    return self._result(RunStatus.COMPLETED, "the model finished its answer", final, turns)
                if await self._run_calls(calls, cancel, deadline):
                    names = ", ".join(
                        c.name for c, _ in calls if c.name in self.config.toolset.client_functions
                    )
                    return self._result(
                        RunStatus.REQUIRES_ACTION, f"waiting for the result of {names}", final, turns
                    )
        except _Stop as stop:
            return self._result(stop.status, stop.reason, final, turns)
        except SandboxGone as e:
            return self._result(RunStatus.FAILED, f"the sandbox died: {e.message}", final, turns)
        except ModelError as e:
            return self._result(RunStatus.FAILED, f"model error: {e.message}", final, turns)

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

    async def _model_turn(self) -> tuple[ModelTurn, list[tuple[FunctionCallPart, str]]]:
        tools = self.config.toolset
        request = ModelRequest(
            model=self.config.model,
            contents=self._history.contents(self._steps, elide_before=self._elide_before),
            system_instruction=self.config.system_instruction,
            tools=ModelTools(
                functions=tools.declarations() + self._mcp.declarations(),
                google_search=tools.google_search,
                url_context=tools.url_context,
            ),
            thinking=self.config.thinking,
        )
        turn = await self.model.generate(request, on_delta=self._on_delta if self.config.stream else None)
        self.usage = self.usage + turn.usage
        if turn.usage.input_tokens > self.config.context_budget_tokens:
            self._elide_before = max(self._elide_before, len(self._steps) // 2)
            log.info(
                "context_compaction", elide_before=self._elide_before, input_tokens=turn.usage.input_tokens
            )
        return turn, await self._record_turn(turn)

    async def _on_delta(self, delta: ModelTurnDelta) -> None:
        await self._emit(TextDelta(kind=delta.kind, text=delta.text))

    async def _record_turn(self, turn: ModelTurn) -> list[tuple[FunctionCallPart, str]]:
        """Steps for the turn's parts; returns its function calls with their (possibly assigned) ids."""
        text: list[TextPart] = []
        calls: list[tuple[FunctionCallPart, str]] = []
        for step in grounding_steps(turn, len(self._steps)):  # they ran before the model answered
            await self._add(step)
        for part in turn.parts:
            if isinstance(part, ThoughtPart):
                await self._flush_text(text)
                await self._add(
                    s.ThoughtStep(
                        signature=encode_signature(part.signature),
                        summary=[s.TextContent(text=part.text)] if part.text else None,
                    )
                )
            elif isinstance(part, TextPart):
                text.append(part)
            elif isinstance(part, FunctionCallPart):
                await self._flush_text(text)
                call_id = part.id or f"call_{len(self._steps)}"
                calls.append((part, call_id))
                await self._add(self._call_step(part, call_id))
        await self._flush_text(text)
        if not turn.parts and turn.finish_reason not in (None, "STOP"):
            await self._add(s.ModelOutputStep(error=s.Status(message=f"model stopped: {turn.finish_reason}")))
        return calls

    async def _flush_text(self, parts: list[TextPart]) -> None:
        if not parts:
            return
        step = s.ModelOutputStep(content=[s.TextContent(text="".join(p.text for p in parts))])
        sig = next((p.signature for p in reversed(parts) if p.signature), None)
        if sig:
            step.signature = encode_signature(sig)  # type: ignore[attr-defined]  # kept for the history
        parts.clear()
        await self._add(step)

    def _call_step(self, part: FunctionCallPart, call_id: str) -> s.Step:
        tool = self.config.toolset.builtins.get(part.name)
        sig = encode_signature(part.signature)
        mcp_tool = self._mcp.tools.get(part.name)
        if mcp_tool is not None:
            mcp_step = s.McpServerToolCallStep(
                id=call_id, name=mcp_tool.name, server_name=mcp_tool.server, arguments=part.args
            )
            if sig:
                mcp_step.signature = sig  # type: ignore[attr-defined]  # kept for the history
            return mcp_step
        if tool is not None and tool.kind == "code_execution":
            key = "code" if tool.language == "python" else "command"
            code = part.args.get(key)
            return s.CodeExecutionCallStep(
                id=call_id,
                signature=sig,
                arguments=s.CodeExecutionArguments(
                    code=code if isinstance(code, str) else None, language=tool.language
                ),
            )
        step = s.FunctionCallStep(id=call_id, name=part.name, arguments=part.args)
        if sig:
            step.signature = sig  # type: ignore[attr-defined]
        return step

    # --- tool calls ----------------------------------------------------------------------------

    async def _run_calls(
        self, calls: list[tuple[FunctionCallPart, str]], cancel: asyncio.Event, deadline: float | None
    ) -> bool:
        """Execute every built-in call of the turn (in order) and record its result. Returns whether
        a client-side function was called (the run pauses for its result)."""
        needs_client = False
        for index, (part, call_id) in enumerate(calls):
            if part.name in self.config.toolset.client_functions:
                needs_client = True
                continue
            try:
                await self._run_call(part, call_id, cancel, deadline)
            except _Stop as stop:
                # Every call the model made gets an answer, so the history stays valid for a
                # follow-up interaction (Gemini rejects a call without its response).
                for other, other_id in calls[index:]:
                    if other.name not in self.config.toolset.client_functions:
                        await self._add(self._interrupted_step(other, other_id, stop.reason))
                raise
        return needs_client

    async def _run_call(
        self, part: FunctionCallPart, call_id: str, cancel: asyncio.Event, deadline: float | None
    ) -> None:
        tool = self.config.toolset.builtins.get(part.name)
        mcp_tool = self._mcp.tools.get(part.name)
        if mcp_tool is not None:
            await self._emit(ToolStarted(call_id=call_id, name=part.name))
            result = await self._race(self._mcp.call(mcp_tool, dict(part.args)), cancel, deadline)
            await self._add(await self._mcp_result_step(mcp_tool, call_id, result))
            return
        if tool is None:
            known = [*self.config.toolset.builtins, *self._mcp.tools]
            output = ToolOutput(
                text=f"unknown tool {part.name!r}; available: {', '.join(known) or 'none'}",
                is_error=True,
            )
        else:
            await self._emit(ToolStarted(call_id=call_id, name=part.name))
            output = await self._race(self._execute(tool, part, call_id), cancel, deadline)
        await self._add(await self._result_step(tool, part.name, call_id, output))

    def _interrupted_step(self, part: FunctionCallPart, call_id: str, reason: str) -> s.Step:
        text = f"not completed: {reason}; the command may have been partly done"
        mcp_tool = self._mcp.tools.get(part.name)
        if mcp_tool is not None:
            step = s.McpServerToolResultStep(
                call_id=call_id, result=text, name=mcp_tool.name, server_name=mcp_tool.server
            )
            step.is_error = True  # type: ignore[attr-defined]
            return step
        tool = self.config.toolset.builtins.get(part.name)
        if tool is not None and tool.kind == "code_execution":
            return s.CodeExecutionResultStep(call_id=call_id, result=text, is_error=True)
        return s.FunctionResultStep(call_id=call_id, name=part.name, result=text, is_error=True)

    async def _execute(self, tool: Tool, part: FunctionCallPart, call_id: str) -> ToolOutput:
        async def progress(text: str) -> None:
            await self._emit(ToolProgress(call_id=call_id, text=text))

        ctx = ToolContext(sandbox=self.sandbox, call_id=call_id, on_output=progress)
        try:
            return await tool.run(dict(part.args), ctx)
        except SandboxGone:
            raise
        except HangarError as e:
            return ToolOutput(text=f"error ({e.code}): {e.message}", is_error=True)

    async def _result_step(self, tool: Tool | None, name: str, call_id: str, output: ToolOutput) -> s.Step:
        text = await self._fit(call_id, output.text)
        if tool is not None and tool.kind == "code_execution":
            return s.CodeExecutionResultStep(call_id=call_id, result=text, is_error=output.is_error or None)
        result: s.ToolResult = text
        if output.images:
            result = [
                s.TextContent(text=text),
                *(
                    s.ImageContent(data=base64.b64encode(img).decode(), mime_type="image/png")
                    for img in output.images
                ),
            ]
        return s.FunctionResultStep(
            call_id=call_id, name=name, result=result, is_error=output.is_error or None
        )

    async def _mcp_result_step(self, tool: McpTool, call_id: str, result: McpResult) -> s.Step:
        content = await self._fit(call_id, result.result) if isinstance(result.result, str) else result.result
        step = s.McpServerToolResultStep(
            call_id=call_id, result=content, name=tool.name, server_name=tool.server
        )
        if result.is_error:
            # Not in the wire schema of this step (extra fields are kept); the history reads it.
            step.is_error = True  # type: ignore[attr-defined]
        return step

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

    async def _check_outputs(self) -> None:
        missing = []
        for path in self.config.outputs:
            try:
                await self.sandbox.stat(path)
            except InputError:
                missing.append(path)
        if missing:
            raise _Stop(
                RunStatus.FAILED, f"the run did not produce its declared output(s): {', '.join(missing)}"
            )

    async def _add(self, step: s.Step) -> None:
        self._steps.append(step)
        self._added += 1
        await self._emit(StepAdded(index=len(self._steps) - 1, step=step))

    async def _emit(self, event: LoopEvent) -> None:
        if self.sink is not None:
            await self.sink(event)

    def _result(self, status: RunStatus, reason: str, final: str, turns: int) -> RunResult:
        log.info("run_ended", status=status.value, reason=reason, turns=turns, tokens=self.usage.total_tokens)
        return RunResult(
            status=status,
            reason=reason,
            usage=self.usage,
            steps_added=self._added,
            final_text=final,
            model_turns=turns,
        )
