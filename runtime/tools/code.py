"""Shell and Python: the persistent sessions of the sandbox, shown as code execution steps."""

from __future__ import annotations

import base64
import posixpath
from typing import Any, ClassVar

from google.genai import types

from runtime import steps as s
from runtime.sandboxd.protocol import WORKSPACE
from runtime.tools.base import Tool, ToolContext, ToolOutput, arg_num, arg_str, declare, with_images

DEFAULT_TIMEOUT_S = 300.0


class CodeExecutionTool(Tool):
    """A tool whose calls are ``code_execution_call``/``_result`` steps (the code is the argument)."""

    source_arg: ClassVar[str] = "code"
    """The argument holding the code."""

    def call_step(self, call_id: str, args: dict[str, Any], signature: str | None) -> s.Step:
        code = args.get(self.source_arg)
        return s.CodeExecutionCallStep(
            id=call_id,
            signature=signature,
            arguments=s.CodeExecutionArguments(
                code=code if isinstance(code, str) else None, language=self.language
            ),
        )

    def result_step(self, call_id: str, output: ToolOutput) -> s.Step:
        result = with_images(output)
        assert not isinstance(result, dict)
        return s.CodeExecutionResultStep(call_id=call_id, result=result, is_error=output.is_error or None)


def interrupted_code_result(call: s.CodeExecutionCallStep, text: str) -> s.Step:
    """The error answer to a ``code_execution_call`` that never finished."""
    return s.CodeExecutionResultStep(call_id=call.id, result=text, is_error=True)


def code_call_name(step: s.CodeExecutionCallStep) -> str:
    """The tool the model called, for the history (``python`` or ``shell``)."""
    return PythonTool.name if step.arguments.language == "python" else ShellTool.name


def code_call_args(step: s.CodeExecutionCallStep) -> dict[str, Any]:
    """The call's arguments as the model sent them, for the history."""
    tool = PythonTool if step.arguments.language == "python" else ShellTool
    return {tool.source_arg: step.arguments.code or ""}


class ShellTool(CodeExecutionTool):
    name = "shell"
    kind = "code_execution"
    language = "bash"
    source_arg = "command"

    def declaration(self) -> types.FunctionDeclaration:
        return declare(
            self.name,
            "Run a bash command in a persistent shell in the sandbox (working directory, exported "
            "variables and background jobs survive between calls). The workspace is /workspace. "
            "Returns the combined output and the exit code.",
            {
                "command": {"type": "string", "description": "Bash command(s) to run."},
                "timeout_s": {
                    "type": "number",
                    "description": f"Time limit, default {DEFAULT_TIMEOUT_S:g} s.",
                },
            },
            ["command"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        result = await ctx.sandbox.shell(
            arg_str(args, "command"), timeout_s=arg_num(args, "timeout_s", default=DEFAULT_TIMEOUT_S)
        )
        notes = [f"exit code {result.exit_code}"]
        if result.timed_out:
            notes.append("timed out: the command was interrupted")
        if result.truncated:
            notes.append("output truncated")
        text = f"{result.output.rstrip()}\n[{'; '.join(notes)}; cwd {_absolute(result.cwd)}]".lstrip()
        return ToolOutput(text=text, is_error=result.exit_code != 0 or result.timed_out)


class PythonTool(CodeExecutionTool):
    name = "python"
    kind = "code_execution"
    language = "python"

    def declaration(self) -> types.FunctionDeclaration:
        return declare(
            self.name,
            "Run Python code in a persistent interpreter in the sandbox, like a notebook cell: "
            "variables and imports survive between calls, the value of the last expression is "
            "returned, matplotlib figures come back as images. numpy and matplotlib are installed.",
            {
                "code": {"type": "string", "description": "Python source to execute."},
                "timeout_s": {
                    "type": "number",
                    "description": f"Time limit, default {DEFAULT_TIMEOUT_S:g} s.",
                },
            },
            ["code"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        result = await ctx.sandbox.python(
            arg_str(args, "code"), timeout_s=arg_num(args, "timeout_s", default=DEFAULT_TIMEOUT_S)
        )
        parts = [result.stdout.rstrip()]
        if result.stderr.strip():
            parts.append(f"[stderr]\n{result.stderr.rstrip()}")
        if result.result is not None:
            parts.append(f"[result] {result.result}")
        if result.error is not None:
            parts.append(
                f"[error] {result.error.ename}: {result.error.evalue}\n{result.error.traceback.rstrip()}"
            )
        if result.timed_out:
            parts.append("[timed out: execution was interrupted]")
        images = [base64.b64decode(img) for img in result.images]
        if images:
            parts.append(f"[{len(images)} figure(s) attached]")
        text = "\n".join(p for p in parts if p) or "[no output]"
        return ToolOutput(text=text, is_error=result.error is not None or result.timed_out, images=images)


def _absolute(cwd: str) -> str:
    """sandboxd reports the cwd relative to the workspace; the model thinks in absolute paths."""
    return cwd if cwd.startswith("/") else posixpath.normpath(posixpath.join(WORKSPACE, cwd))
