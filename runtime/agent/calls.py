"""The model's function calls, by kind: a built-in tool run in the sandbox, a tool of an MCP
server, a client-side function (the run pauses for its result), or a name nobody serves.

Each kind builds its own call step and result step (the builders live with the tools:
:class:`runtime.tools.base.Tool`, :class:`runtime.tools.mcp.McpTool`), so the step types of a
call and of its answer always agree. :func:`interrupted_result` answers a call that never finished
— cancelled, past a deadline, or lost when the server stopped — from the call step alone, the
same way for the loop and for a run resumed after a crash.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from runtime import steps as s
from runtime.errors import HangarError, SandboxGone
from runtime.sandbox.client import SandboxdClient
from runtime.tools.base import (
    Tool,
    ToolContext,
    ToolOutput,
    function_call_step,
    interrupted_function_result,
)
from runtime.tools.code import interrupted_code_result
from runtime.tools.mcp import McpResult, McpTool, McpToolbox, interrupted_mcp_result
from runtime.tools.toolset import Toolset

Fit = Callable[[str, str], Awaitable[str]]
"""``fit(call_id, text)``: the text cut to the output budget (the full text saved in the workspace)."""
Progress = Callable[[str, str], Awaitable[None]]
"""``progress(call_id, text)``: live output of a running call."""


@dataclass(frozen=True)
class CallContext:
    sandbox: SandboxdClient
    fit: Fit
    progress: Progress


class CallKind(abc.ABC):
    """How one function name is served."""

    client_side: ClassVar[bool] = False
    """Answered by the caller (``requires_action``), never run here."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def call_step(self, call_id: str, args: dict[str, Any], signature: str | None) -> s.Step:
        """The step recording the call."""

    @abc.abstractmethod
    async def run(self, call_id: str, args: dict[str, Any], ctx: CallContext) -> s.Step:
        """Execute the call; returns its result step. A failing call is an error result; only
        ``SandboxGone`` (infrastructure) propagates."""


class BuiltinCall(CallKind):
    def __init__(self, tool: Tool) -> None:
        super().__init__(tool.name)
        self.tool = tool

    def call_step(self, call_id: str, args: dict[str, Any], signature: str | None) -> s.Step:
        return self.tool.call_step(call_id, args, signature)

    async def run(self, call_id: str, args: dict[str, Any], ctx: CallContext) -> s.Step:
        async def progress(text: str) -> None:
            await ctx.progress(call_id, text)

        tool_ctx = ToolContext(sandbox=ctx.sandbox, call_id=call_id, on_output=progress)
        try:
            output = await self.tool.run(dict(args), tool_ctx)
        except SandboxGone:
            raise
        except HangarError as e:
            output = ToolOutput(text=f"error ({e.code}): {e.message}", is_error=True)
        return self.tool.result_step(call_id, replace(output, text=await ctx.fit(call_id, output.text)))


class McpCall(CallKind):
    def __init__(self, tool: McpTool, toolbox: McpToolbox) -> None:
        super().__init__(tool.qualified)
        self.tool = tool
        self.toolbox = toolbox

    def call_step(self, call_id: str, args: dict[str, Any], signature: str | None) -> s.Step:
        return self.tool.call_step(call_id, args, signature)

    async def run(self, call_id: str, args: dict[str, Any], ctx: CallContext) -> s.Step:
        result = await self.toolbox.call(self.tool, dict(args))
        if isinstance(result.result, str):
            result = McpResult(await ctx.fit(call_id, result.result), result.is_error)
        return self.tool.result_step(call_id, result)


class ClientCall(CallKind):
    client_side = True

    def call_step(self, call_id: str, args: dict[str, Any], signature: str | None) -> s.Step:
        return function_call_step(call_id, self.name, args, signature)

    async def run(self, call_id: str, args: dict[str, Any], ctx: CallContext) -> s.Step:
        raise AssertionError(f"{self.name} is a client-side function: the caller answers it")


class UnknownCall(CallKind):
    """A name the model made up: recorded as called, answered with the tools that exist."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(name)
        self.known = list(known)

    def call_step(self, call_id: str, args: dict[str, Any], signature: str | None) -> s.Step:
        return function_call_step(call_id, self.name, args, signature)

    async def run(self, call_id: str, args: dict[str, Any], ctx: CallContext) -> s.Step:
        text = f"unknown tool {self.name!r}; available: {', '.join(self.known) or 'none'}"
        return s.FunctionResultStep(call_id=call_id, name=self.name, result=text, is_error=True)


def resolve(name: str, toolset: Toolset, toolbox: McpToolbox) -> CallKind:
    """The kind serving ``name``: an MCP server tool, a built-in, a client function, or unknown."""
    mcp_tool = toolbox.tools.get(name)
    if mcp_tool is not None:
        return McpCall(mcp_tool, toolbox)
    tool = toolset.builtins.get(name)
    if tool is not None:
        return BuiltinCall(tool)
    if name in toolset.client_functions:
        return ClientCall(name)
    return UnknownCall(name, [*toolset.builtins, *toolbox.tools])


def interrupted_result(call: s.Step, text: str) -> s.Step | None:
    """The error answer, of the call's own kind, to a call step that never got its result."""
    if isinstance(call, s.CodeExecutionCallStep):
        return interrupted_code_result(call, text)
    if isinstance(call, s.McpServerToolCallStep):
        return interrupted_mcp_result(call, text)
    if isinstance(call, s.FunctionCallStep):
        return interrupted_function_result(call, text)
    return None
