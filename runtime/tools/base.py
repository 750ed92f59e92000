"""The tool seam: a function declaration for the model, its execution in the sandbox, and the
steps a call of it becomes (each kind builds its own call, result and interrupted-result steps)."""

from __future__ import annotations

import abc
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from google.genai import types

from runtime import steps as s
from runtime.errors import InputError
from runtime.sandbox.client import SandboxdClient

StepKind = Literal["code_execution", "function"]
"""How a call shows up in the steps: ``code_execution_call``/``_result`` (shell and python) or
``function_call``/``function_result`` (every other built-in)."""

OutputSink = Callable[[str], Awaitable[None] | None]


@dataclass
class ToolContext:
    """What a running tool may use."""

    sandbox: SandboxdClient
    call_id: str
    on_output: OutputSink | None = None
    """Live output (a long command's progress) for the run's display; optional."""


@dataclass
class ToolOutput:
    """A tool's answer to the model."""

    text: str
    is_error: bool = False
    images: list[bytes] = field(default_factory=list)
    """PNG images the model should see (a screenshot)."""


class Tool(abc.ABC):
    """A built-in tool. Subclasses set the class attributes and implement both methods."""

    name: ClassVar[str]
    kind: ClassVar[StepKind] = "function"
    language: ClassVar[Literal["bash", "python"] | None] = None

    @abc.abstractmethod
    def declaration(self) -> types.FunctionDeclaration:
        """What the model is told about the tool."""

    @abc.abstractmethod
    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        """Execute the call. Raises ``InputError`` for bad arguments (the loop turns any
        ``HangarError`` except ``SandboxGone`` into an error result for the model)."""

    # --- steps (``function`` kind; code execution tools override them) ---------------------------

    def call_step(self, call_id: str, args: dict[str, Any], signature: str | None) -> s.Step:
        """The step recording the model's call (``signature``: its base64 thought signature)."""
        return function_call_step(call_id, self.name, args, signature)

    def result_step(self, call_id: str, output: ToolOutput) -> s.Step:
        """The step answering the call with ``output`` (its text already cut to the budget)."""
        return s.FunctionResultStep(
            call_id=call_id, name=self.name, result=with_images(output), is_error=output.is_error or None
        )


def function_call_step(call_id: str, name: str, args: dict[str, Any], signature: str | None) -> s.Step:
    step = s.FunctionCallStep(id=call_id, name=name, arguments=args)
    if signature:
        step.signature = signature  # type: ignore[attr-defined]  # extra field, kept for the history
    return step


def with_images(output: ToolOutput) -> s.ToolResult:
    """The output's text, or text and PNG image blocks when it has images."""
    if not output.images:
        return output.text
    images = [
        s.ImageContent(data=base64.b64encode(img).decode(), mime_type="image/png") for img in output.images
    ]
    return [s.TextContent(text=output.text), *images]


def interrupted_function_result(call: s.FunctionCallStep, text: str) -> s.Step:
    """The error answer to a ``function_call`` that never finished."""
    return s.FunctionResultStep(call_id=call.id, name=call.name, result=text, is_error=True)


def declare(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> types.FunctionDeclaration:
    """A function declaration with a JSON-Schema ``object`` of parameters."""
    schema = {"type": "object", "properties": properties, "required": required}
    return types.FunctionDeclaration(name=name, description=description, parameters_json_schema=schema)


def arg_str(args: dict[str, Any], key: str, *, default: str | None = None) -> str:
    value = args.get(key, default)
    if not isinstance(value, str):
        raise InputError(f"argument {key!r} must be a string" + ("" if key in args else " (it is missing)"))
    return value


def arg_opt_str(args: dict[str, Any], key: str) -> str | None:
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"argument {key!r} must be a string")
    return value


def arg_num(args: dict[str, Any], key: str, *, default: float | None = None) -> float | None:
    value = args.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"argument {key!r} must be a number")
    return float(value)


def arg_bool(args: dict[str, Any], key: str, *, default: bool = False) -> bool:
    value = args.get(key, default)
    if not isinstance(value, bool):
        raise InputError(f"argument {key!r} must be true or false")
    return value
