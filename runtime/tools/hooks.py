"""Tool hooks from the workspace's ``.agents/hooks.json`` (Google's custom-agent convention).

The file (validated strictly; an unknown key or a bad value fails the run with a message naming it)::

    {
      "pre_tool_execution": [
        {"matcher": "shell|write_file", "handler": {"type": "command", "command": "./check.sh"}}
      ],
      "post_tool_execution": [
        {"matcher": "*", "handler": {"type": "http", "url": "https://audit.example/hook", "timeout_s": 5}}
      ]
    }

``matcher`` is a regular expression the whole tool name must match (``*`` or absent: every tool).
A ``command`` handler runs in the sandbox (``bash -c``, working directory ``/workspace``), an
``http`` handler is a POST made by the Hangar server through the outbound guard (so it can reach
only what the operator allows). Both get the same JSON: ``{"event", "tool_name", "call_id",
"arguments"}``, plus ``"output"`` and ``"is_error"`` after the call.

Decisions (pre hooks; the first deny wins): a command allows with exit code 0, and denies with exit
code 2 (reason: its stderr) or by printing ``{"decision": "deny", "reason": "..."}``; an HTTP handler
answers 2xx with ``{"decision": "allow" | "deny", "reason"?}`` (an empty body allows). A hook that
fails (another exit code, a timeout, an HTTP error, an unreadable answer) denies: a guard that
cannot answer does not let the call through. A denied call is not run; the model gets an error
result naming the hook's reason. Post hooks observe only: their failures are logged.

Hooks apply to the sandbox's built-in tools (shell, python, files, browser, plan); MCP server
tools and client-side functions do not run in the sandbox and are not hooked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Protocol

import httpx2
import structlog
from google.genai import types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runtime.errors import HangarError, InputError, SandboxGone
from runtime.tools.base import Tool, ToolContext, ToolOutput
from runtime.wire import describe

log = structlog.get_logger(__name__)

HOOKS_FILE = ".agents/hooks.json"
MAX_HOOKS_BYTES = 64 * 1024
HOOK_OUTPUT_CHARS = 20_000
"""Tool output sent to post hooks beyond this is cut."""
DENY_EXIT_CODE = 2


class OutboundGuard(Protocol):
    """What hooks need from the server's outbound guard (``runtime.outbound.OutboundGuard``)."""

    async def check(self, url: str) -> None:
        """Raise (an ``InputError``) when ``url`` may not be called."""
        ...

    def client(self, *, timeout: float, headers: Mapping[str, str] | None = None) -> httpx2.AsyncClient:
        """An HTTP client whose connections the guard checks."""
        ...


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommandHandler(_Strict):
    type: Literal["command"]
    command: str = Field(min_length=1, max_length=4000)
    timeout_s: float = Field(default=30.0, gt=0, le=600)


class HttpHandler(_Strict):
    type: Literal["http"]
    url: str = Field(pattern=r"^https?://", max_length=2000)
    headers: dict[str, str] | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=60)


Handler = Annotated[CommandHandler | HttpHandler, Field(discriminator="type")]


class HookRule(_Strict):
    matcher: str = Field(default="*", max_length=500)
    handler: Handler

    @field_validator("matcher")
    @classmethod
    def _regex(cls, value: str) -> str:
        if value != "*":
            try:
                re.compile(value)
            except re.error as e:
                raise ValueError(f"not a regular expression: {e}") from e
        return value

    def matches(self, tool_name: str) -> bool:
        return self.matcher == "*" or re.fullmatch(self.matcher, tool_name) is not None


class HooksFile(_Strict):
    pre_tool_execution: list[HookRule] = Field(default_factory=list, max_length=50)
    post_tool_execution: list[HookRule] = Field(default_factory=list, max_length=50)

    def __bool__(self) -> bool:
        return bool(self.pre_tool_execution or self.post_tool_execution)


def parse_hooks(data: bytes) -> HooksFile:
    """The hooks file's content, validated. Raises :class:`InputError` naming the problem."""
    if len(data) > MAX_HOOKS_BYTES:
        raise InputError(f"{HOOKS_FILE} is larger than {MAX_HOOKS_BYTES} bytes")
    try:
        return HooksFile.model_validate_json(data)
    except ValidationError as e:
        raise InputError(f"{HOOKS_FILE}: {describe(e, limit=1)}") from e


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    decision: Literal["allow", "deny"] = "allow"
    reason: str | None = None


@dataclass(frozen=True)
class HookRunner:
    """Runs the hooks of one run: commands in the run's sandbox, HTTP through ``guard``."""

    hooks: HooksFile
    guard: OutboundGuard | None = None

    def check_handlers(self) -> None:
        """Raises :class:`InputError` when an HTTP handler is declared but no guard is wired."""
        rules = [*self.hooks.pre_tool_execution, *self.hooks.post_tool_execution]
        if self.guard is None and any(isinstance(r.handler, HttpHandler) for r in rules):
            raise InputError(f"{HOOKS_FILE}: http handlers need an outbound guard, which this server has not")

    async def before(self, tool: str, args: dict[str, Any], ctx: ToolContext) -> str | None:
        """The reason a pre hook denies the call, or ``None`` when every matching hook allows it."""
        payload: dict[str, Any] = {"event": "pre_tool_execution", "tool_name": tool, "call_id": ctx.call_id}
        payload["arguments"] = args
        for rule in self.hooks.pre_tool_execution:
            if rule.matches(tool):
                reason = await self._decide(rule.handler, payload, ctx)
                if reason is not None:
                    return reason
        return None

    async def after(self, tool: str, args: dict[str, Any], output: ToolOutput, ctx: ToolContext) -> None:
        payload = {
            "event": "post_tool_execution", "tool_name": tool, "call_id": ctx.call_id, "arguments": args,
            "output": output.text[:HOOK_OUTPUT_CHARS], "is_error": output.is_error,
        }
        for rule in self.hooks.post_tool_execution:
            if rule.matches(tool):
                reason = await self._decide(rule.handler, payload, ctx)
                if reason is not None:
                    log.warning("post_hook_failed", tool=tool, call_id=ctx.call_id, reason=reason)

    async def _decide(
        self, handler: CommandHandler | HttpHandler, payload: dict[str, Any], ctx: ToolContext
    ) -> str | None:
        try:
            if isinstance(handler, CommandHandler):
                return await _run_command(handler, payload, ctx)
            return await self._call_http(handler, payload)
        except SandboxGone:
            raise
        except HangarError as e:
            return f"hook failed ({e.code}): {e.message}"

    async def _call_http(self, handler: HttpHandler, payload: dict[str, Any]) -> str | None:
        if self.guard is None:  # check_handlers refused the file already
            return "http hooks are not enabled on this server"
        await self.guard.check(handler.url)
        try:
            async with self.guard.client(timeout=handler.timeout_s, headers=handler.headers) as client:
                response = await client.post(handler.url, json=payload)
        except httpx2.HTTPError as e:
            return f"hook {handler.url} failed: {type(e).__name__}"
        if not response.is_success:
            return f"hook {handler.url} answered HTTP {response.status_code}"
        return _verdict(response.text, f"hook {handler.url}")


async def _run_command(handler: CommandHandler, payload: dict[str, Any], ctx: ToolContext) -> str | None:
    result = await ctx.sandbox.exec(
        handler.command, stdin=json.dumps(payload), timeout_s=handler.timeout_s, max_output_bytes=64 * 1024
    )
    if result.timed_out:
        return f"hook command timed out after {handler.timeout_s:g} s"
    if result.exit_code == DENY_EXIT_CODE:
        return (result.stderr or result.stdout).strip()[:2000] or "denied by a hook"
    if result.exit_code != 0:
        return f"hook command failed with exit code {result.exit_code}: {result.stderr.strip()[:500]}"
    return _verdict(result.stdout, "hook command")


def _verdict(text: str, who: str) -> str | None:
    """``None`` (allow) or the deny reason, from a handler's answer (empty: allow)."""
    if not text.strip():
        return None
    try:
        answer = _Answer.model_validate_json(text)
    except ValidationError:
        if text.lstrip().startswith("{"):
            return f"{who} answered something that is not a decision"
        return None  # plain output of a command: it exited 0, so it allows
    if answer.decision == "deny":
        return answer.reason or f"denied by {who}"
    return None


class HookedTool(Tool):
    """A built-in tool whose calls go through the run's hooks. Built by :func:`hooked`."""

    inner: ClassVar[Tool]
    runner: ClassVar[HookRunner]

    def declaration(self) -> types.FunctionDeclaration:
        return self.inner.declaration()

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        reason = await self.runner.before(self.name, args, ctx)
        if reason is not None:
            log.info("tool_call_denied", tool=self.name, call_id=ctx.call_id, reason=reason)
            return ToolOutput(text=f"denied by a pre_tool_execution hook: {reason}", is_error=True)
        output = await self.inner.run(args, ctx)
        await self.runner.after(self.name, args, output, ctx)
        return output


def hooked(tool: Tool, runner: HookRunner) -> Tool:
    """``tool`` behind ``runner``'s hooks (same name, kind and language, so steps look the same)."""
    attrs = {"name": tool.name, "kind": tool.kind, "language": tool.language, "inner": tool, "runner": runner}
    cls: type[Tool] = type(f"Hooked{type(tool).__name__}", (HookedTool,), attrs)
    return cls()
