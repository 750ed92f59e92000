"""Steps → the model's conversation. The steps list is the single source of truth: a run continues
after a restart or from ``previous_interaction_id`` by rebuilding its history from them.

Thought signatures travel on the steps (base64) and are put back on the same parts, exactly as
Gemini 3 requires for multi-turn function calling.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from google.genai import types

from runtime import steps as s
from runtime.tools.code import code_call_args, code_call_name
from runtime.tools.mcp import qualified_name

ELIDED = "[older tool output elided to save context; re-run the tool if you need it again]"


def encode_signature(sig: bytes | None) -> str | None:
    return base64.b64encode(sig).decode() if sig else None


def decode_signature(sig: object) -> bytes | None:
    if not isinstance(sig, str) or not sig:
        return None
    try:
        return base64.b64decode(sig)
    except (binascii.Error, ValueError):
        return None


def _content_parts(blocks: Sequence[Any] | None) -> list[types.Part]:
    parts: list[types.Part] = []
    for block in blocks or []:
        if isinstance(block, s.TextContent):
            parts.append(types.Part(text=block.text))
        elif isinstance(block, s.ImageContent | s.AudioContent | s.DocumentContent | s.VideoContent):
            if block.data:
                parts.append(
                    types.Part.from_bytes(data=base64.b64decode(block.data), mime_type=block.mime_type or "")
                )
            elif block.uri:
                parts.append(types.Part.from_uri(file_uri=block.uri, mime_type=block.mime_type))
    return parts


def result_payload(
    result: s.ToolResult, is_error: bool | None
) -> tuple[dict[str, Any], list[types.FunctionResponsePart]]:
    """A tool result as a FunctionResponse body plus inline images."""
    if isinstance(result, dict):
        return result, []
    if isinstance(result, str):
        text, images = result, []
    else:
        text = "\n".join(b.text for b in result if isinstance(b, s.TextContent))
        images = [
            types.FunctionResponsePart(
                inline_data=types.FunctionResponseBlob(
                    data=base64.b64decode(b.data), mime_type=b.mime_type or "image/png"
                )
            )
            for b in result
            if isinstance(b, s.ImageContent) and b.data
        ]
    return ({"error": text} if is_error else {"output": text}), images


class _Builder:
    def __init__(self) -> None:
        self.contents: list[types.Content] = []

    def add(self, role: str, part: types.Part) -> None:
        """Consecutive parts of one role form one message (parallel calls, their responses)."""
        if self.contents and self.contents[-1].role == role:
            self.contents[-1].parts = [*(self.contents[-1].parts or []), part]
        else:
            self.contents.append(types.Content(role=role, parts=[part]))


def build_history(
    steps: Sequence[s.Step], *, elide_before: int = 0, builtin_code: bool = False
) -> list[types.Content]:
    """The model conversation for ``steps``. Tool results of steps with index < ``elide_before``
    are replaced by a short note (context compaction for long runs). ``builtin_code``: code
    execution steps are Gemini's own (a model interaction's), replayed as its code parts rather
    than as calls of the sandbox's code tools."""
    return History(builtin_code=builtin_code).contents(steps, elide_before=elide_before)


class History:
    """:func:`build_history` for a growing steps list: each call converts only the steps added
    since the last one (a long run would otherwise pay for its whole history on every turn), and
    starts over when the elision point moves. The list must only grow between calls."""

    def __init__(self, *, builtin_code: bool = False) -> None:
        self._builtin_code = builtin_code
        self._reset(0)

    def _reset(self, elide_before: int) -> None:
        self._builder = _Builder()
        self._names: dict[str, str] = {}
        self._done = 0
        self._elide_before = elide_before

    def contents(self, steps: Sequence[s.Step], *, elide_before: int = 0) -> list[types.Content]:
        if elide_before != self._elide_before or len(steps) < self._done:
            self._reset(elide_before)
        for index in range(self._done, len(steps)):
            step = steps[index]
            if self._builtin_code and isinstance(step, s.CodeExecutionCallStep | s.CodeExecutionResultStep):
                self._builder.add("model", _builtin_code_part(step))
            else:
                _add_step(self._builder, step, self._names, elide=index < elide_before)
        self._done = len(steps)
        return list(self._builder.contents)


def _builtin_code_part(step: s.CodeExecutionCallStep | s.CodeExecutionResultStep) -> types.Part:
    """Gemini's own code execution step as the part Gemini sent (both are the model's turn)."""
    sig = decode_signature(step.signature)
    if isinstance(step, s.CodeExecutionCallStep):
        language = types.Language.PYTHON if step.arguments.language in (None, "python") else None
        code = types.ExecutableCode(code=step.arguments.code or "", language=language)
        return types.Part(executable_code=code, thought_signature=sig)
    output = _result_text(step.result)
    outcome = types.Outcome.OUTCOME_FAILED if step.is_error else types.Outcome.OUTCOME_OK
    result = types.CodeExecutionResult(outcome=outcome, output=output)
    return types.Part(code_execution_result=result, thought_signature=sig)


def _result_text(result: str | list[s.Content]) -> str:
    if isinstance(result, str):
        return result
    return "".join(c.text for c in result if isinstance(c, s.TextContent))


def _add_step(b: _Builder, step: s.Step, names: dict[str, str], *, elide: bool) -> None:
    if isinstance(step, s.UserInputStep):
        for part in _content_parts(step.content):
            b.add("user", part)
    elif isinstance(step, s.ThoughtStep):
        sig = decode_signature(step.signature)
        text = "".join(c.text for c in step.summary or [] if isinstance(c, s.TextContent))
        if sig or text:
            b.add("model", types.Part(text=text, thought=True, thought_signature=sig))
    elif isinstance(step, s.ModelOutputStep):
        sig = decode_signature(getattr(step, "signature", None))
        parts = _content_parts(step.content)
        if sig and parts:
            parts[-1].thought_signature = sig
        for part in parts:
            b.add("model", part)
    elif isinstance(step, s.FunctionCallStep | s.CodeExecutionCallStep):
        name = step.name if isinstance(step, s.FunctionCallStep) else code_call_name(step)
        args = step.arguments if isinstance(step, s.FunctionCallStep) else code_call_args(step)
        names[step.id] = name
        sig = decode_signature(getattr(step, "signature", None))
        b.add(
            "model",
            types.Part(
                function_call=types.FunctionCall(id=step.id, name=name, args=args), thought_signature=sig
            ),
        )
    elif isinstance(step, s.FunctionResultStep | s.CodeExecutionResultStep | s.McpServerToolResultStep):
        result: s.ToolResult = ELIDED if elide else step.result
        is_error = getattr(step, "is_error", None)
        response, images = result_payload(result, is_error)
        name = names.get(step.call_id) or getattr(step, "name", None) or "tool"
        b.add(
            "user",
            types.Part(
                function_response=types.FunctionResponse(
                    id=step.call_id, name=name, response=response, parts=images or None
                )
            ),
        )
    elif isinstance(step, s.McpServerToolCallStep):
        # The model called the tool by the name it was declared under, not the server's own name.
        name = qualified_name(step.server_name, step.name)
        names[step.id] = name
        sig = decode_signature(getattr(step, "signature", None))
        b.add(
            "model",
            types.Part(
                function_call=types.FunctionCall(id=step.id, name=name, args=step.arguments),
                thought_signature=sig,
            ),
        )
    # Gemini's own tools (search, URL context, …) ran on the model's side: their effect is already
    # in the model's text, and they cannot be replayed as parts.


def pending_calls(steps: Sequence[s.Step]) -> list[s.FunctionCallStep]:
    """Function calls not answered yet (a run in ``requires_action``)."""
    return [st for st in s.unanswered_calls(steps) if isinstance(st, s.FunctionCallStep)]
