"""Interactions steps → Gemini ``Content`` history (for model interactions).

User-side steps (``user_input``, ``function_result``) become ``user`` turns, model-side steps
(``model_output``, ``function_call``) ``model`` turns; consecutive steps of one side merge into one
turn. Steps the model API cannot take back as history (thoughts without text, built-in tool
calls) are left out.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from google.genai import types

from runtime.steps import (
    Content,
    FunctionCallStep,
    FunctionResultStep,
    ModelOutputStep,
    Step,
    TextContent,
    UserInputStep,
)


def to_contents(steps: Sequence[Step]) -> list[types.Content]:
    turns: list[types.Content] = []
    for step in steps:
        role, parts = _convert(step)
        if not parts:
            continue
        if turns and turns[-1].role == role:
            turns[-1].parts = [*(turns[-1].parts or []), *parts]
        else:
            turns.append(types.Content(role=role, parts=parts))
    return turns


def _convert(step: Step) -> tuple[str, list[types.Part]]:
    if isinstance(step, UserInputStep):
        return "user", [p for block in step.content or [] if (p := _part(block)) is not None]
    if isinstance(step, ModelOutputStep):
        return "model", [p for block in step.content or [] if (p := _part(block)) is not None]
    if isinstance(step, FunctionCallStep):
        call = types.FunctionCall(id=step.id, name=step.name, args=step.arguments)
        return "model", [types.Part(function_call=call)]
    if isinstance(step, FunctionResultStep):
        response = types.FunctionResponse(id=step.call_id, name=step.name or "", response=_result(step))
        return "user", [types.Part(function_response=response)]
    return "user", []


def _part(block: Content) -> types.Part | None:
    if isinstance(block, TextContent):
        return types.Part(text=block.text)
    if block.data is not None:
        blob = types.Blob(data=base64.b64decode(block.data), mime_type=block.mime_type)
        return types.Part(inline_data=blob)
    if block.uri is not None:
        return types.Part(file_data=types.FileData(file_uri=block.uri, mime_type=block.mime_type))
    return None


def _result(step: FunctionResultStep) -> dict[str, Any]:
    result = step.result
    if isinstance(result, dict):
        value: dict[str, Any] = result
    elif isinstance(result, str):
        value = {"result": result}
    else:
        value = {"result": "".join(b.text for b in result if isinstance(b, TextContent))}
    return {"error": value} if step.is_error else value
