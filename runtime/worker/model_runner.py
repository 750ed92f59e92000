"""Model interactions (``"model": ...``): one streamed model call over the whole conversation.

The conversation (earlier turns from ``previous_interaction_id`` plus this input) becomes Gemini
contents; text and thought summaries stream out as ``model_output`` / ``thought`` steps; function
calls end the interaction in ``requires_action`` (the client answers with ``function_result`` steps
in the next interaction's input). Interrupted by a crash before its first step, the call is simply
made again; after, the interaction fails with ``interrupted`` (see :meth:`ModelRunner.run`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from google.genai import types
from pydantic import TypeAdapter, ValidationError

from runtime.agent.grounding import grounding_steps, maps_settings
from runtime.agent.history import build_history, encode_signature
from runtime.errors import InfraError, InputError
from runtime.llm.base import (
    GenerationSettings,
    ModelClient,
    ModelRequest,
    ModelTools,
    ModelTurnDelta,
    SafetyRule,
    ThinkingSettings,
    ToolChoice,
)
from runtime.llm.base import (
    Usage as ModelUsage,
)
from runtime.request_models import (
    FunctionTool,
    GenerationConfig,
    RequestTool,
    ResponseFormat,
    SafetySetting,
    TextFormat,
    ToolChoiceConfig,
)
from runtime.steps import (
    CodeExecutionArguments,
    CodeExecutionCallStep,
    CodeExecutionResultStep,
    FunctionCallStep,
    ModelOutputStep,
    TextContent,
    ThoughtStep,
)
from runtime.wire import InteractionStatus, describe
from runtime.worker import Emit, RunInput, RunResult, StepWriter
from runtime.worker.events import TextDelta, ThoughtSummaryDelta, Usage


class ModelRunner:
    def __init__(self, client: ModelClient) -> None:
        self._client = client

    async def run(self, run: RunInput, emit: Emit, cancel: asyncio.Event) -> RunResult:
        if run.resumed_steps:
            # One model call cannot continue a half-streamed answer, and asking again would log
            # a second answer after the first one's steps.
            raise InfraError(
                "the Hangar server stopped while the model's answer was streaming; "
                "create a new interaction to retry",
                code="interrupted",
                retryable=True,
            )
        writer = StepWriter(emit, run)
        stream = _StepStream(writer)
        request = build_request(run)
        tools = request.tools
        if tools.google_search or tools.url_context or tools.google_maps is not None:
            # What Gemini's own tools did is known once the answer is complete, and their steps
            # come before it (as on Google's service): the answer's deltas wait for them.
            held: list[ModelTurnDelta] = []
            turn = await self._client.generate(request, on_delta=_hold(held))
            for grounded in grounding_steps(turn, len(run.input_steps)):
                await writer.whole(grounded)
            for delta in held:
                await stream.on_delta(delta)
        else:
            turn = await self._client.generate(request, on_delta=stream.on_delta)
        await stream.close()
        for call in turn.function_calls:
            step = FunctionCallStep(id=call.id or f"call_{call.name}", name=call.name, arguments=call.args)
            if call.signature:
                # Kept so the continuation sends it back (Gemini 3 rejects a call without it).
                step.signature = encode_signature(call.signature)  # type: ignore[attr-defined]
            await writer.whole(step)
        status = InteractionStatus.COMPLETED
        if turn.function_calls:
            status = InteractionStatus.REQUIRES_ACTION
        elif turn.finish_reason == "MAX_TOKENS":
            status = InteractionStatus.INCOMPLETE
        return RunResult(status=status, usage=to_usage(turn.usage))


def _hold(held: list[ModelTurnDelta]) -> Callable[[ModelTurnDelta], Awaitable[None]]:
    async def on_delta(delta: ModelTurnDelta) -> None:
        held.append(delta)

    return on_delta


class _StepStream:
    """Opens a step per run of same-kind deltas (thought, then text, ...) and closes it."""

    def __init__(self, writer: StepWriter) -> None:
        self._writer = writer
        self._kind: str | None = None
        self._index = -1
        self._codes = 0
        self._code_id: str | None = None

    async def on_delta(self, delta: ModelTurnDelta) -> None:
        if delta.kind == "code" or delta.kind == "code_result":
            await self.close()
            await self._writer.whole(self._code_step(delta))
            return
        if delta.kind != self._kind:
            await self.close()
            step = ThoughtStep(summary=[]) if delta.kind == "thought" else ModelOutputStep(content=[])
            self._index = await self._writer.start(step)
            self._kind = delta.kind
        if delta.kind == "thought":
            await self._writer.delta(self._index, ThoughtSummaryDelta(content=TextContent(text=delta.text)))
        else:
            await self._writer.delta(self._index, TextDelta(text=delta.text))

    async def close(self) -> None:
        if self._kind is not None:
            await self._writer.stop(self._index)
            self._kind = None

    def _code_step(self, delta: ModelTurnDelta) -> CodeExecutionCallStep | CodeExecutionResultStep:
        """Gemini's own code execution: the code it ran, then that run's output (answering it)."""
        signature = encode_signature(delta.signature) if delta.signature else None
        if delta.kind == "code":
            self._codes += 1
            self._code_id = delta.part_id or f"code_{self._codes}"
            arguments = CodeExecutionArguments(code=delta.text, language=delta.language)
            return CodeExecutionCallStep(id=self._code_id, arguments=arguments, signature=signature)
        call_id = delta.part_id or self._code_id or f"code_{self._codes}"
        return CodeExecutionResultStep(
            call_id=call_id, result=delta.text, is_error=delta.failed or None, signature=signature
        )


def build_request(run: RunInput) -> ModelRequest:
    """The Gemini call for a model interaction; every field create accepted is applied here."""
    config = run.config
    generation = _typed(GenerationConfig, config.generation_config or {}, "generation_config")
    return ModelRequest(
        model=run.interaction.target,
        contents=build_history(run.conversation, builtin_code=True),
        system_instruction=config.system_instruction,
        tools=request_tools(config.tools or []),
        generation=GenerationSettings(
            temperature=generation.temperature,
            top_p=generation.top_p,
            max_output_tokens=generation.max_output_tokens,
            stop_sequences=generation.stop_sequences,
            seed=generation.seed,
            image_aspect_ratio=generation.image_config.aspect_ratio if generation.image_config else None,
            image_size=generation.image_config.image_size if generation.image_config else None,
            service_tier=_tier(config.service_tier),
            safety=[
                SafetyRule(category=rule.type, threshold=rule.threshold, method=rule.method)
                for rule in _typed(_SAFETY, config.safety_settings or [], "safety_settings")
            ],
            tool_choice=_tool_choice(generation.tool_choice),
            **_output_format(config.response_format, config.response_mime_type),
        ),
        thinking=_thinking(generation),
    )


_TOOLS: TypeAdapter[list[RequestTool]] = TypeAdapter(list[RequestTool])
_SAFETY: TypeAdapter[list[SafetySetting]] = TypeAdapter(list[SafetySetting])
_FORMATS: TypeAdapter[list[ResponseFormat]] = TypeAdapter(list[ResponseFormat])
M = TypeVar("M")


def _typed(model: type[M] | TypeAdapter[M], value: object, field: str) -> M:
    """``value`` read back through the create-time model (stored requests were validated at create;
    one from an older server that no longer parses fails the run with a clear message)."""
    adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
    try:
        return adapter.validate_python(value)
    except ValidationError as e:
        raise InputError(f"stored request has an invalid `{field}`: {describe(e, field, limit=1)}") from e


def _output_format(
    response_format: dict[str, Any] | list[dict[str, Any]] | None, mime_type: str | None
) -> dict[str, Any]:
    """``response_mime_type`` and ``response_schema`` for Gemini (structured output)."""
    items = response_format if isinstance(response_format, list) else [response_format or {}]
    items = [item for item in items if item]
    schema = None
    for item in _typed(_FORMATS, items, "response_format"):
        if isinstance(item, TextFormat):
            mime_type = mime_type or item.mime_type
            schema = item.json_schema
    return {"response_mime_type": mime_type, "response_schema": schema}


def _tool_choice(choice: str | ToolChoiceConfig | None) -> ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        return ToolChoice(mode=choice)
    allowed = choice.allowed_tools
    mode = allowed.mode if allowed and allowed.mode else "any"
    return ToolChoice(mode=mode, allowed=allowed.tools if allowed else None)


def _tier(tier: str | None) -> Literal["flex", "standard", "priority"] | None:
    if tier in ("flex", "standard", "priority"):
        return tier  # type: ignore[return-value]
    return None


def request_tools(tools: list[dict[str, Any]]) -> ModelTools:
    """The tools of a request as Gemini tools (function declarations and Gemini's built-ins)."""
    typed = _typed(_TOOLS, tools, "tools")
    functions = [
        types.FunctionDeclaration(
            name=tool.name, description=tool.description, parameters_json_schema=tool.parameters
        )
        for tool in typed
        if isinstance(tool, FunctionTool)
    ]
    kinds = {tool.type for tool in typed}
    return ModelTools(
        functions=functions,
        google_search="google_search" in kinds,
        url_context="url_context" in kinds,
        code_execution="code_execution" in kinds,
        google_maps=maps_settings(typed),
    )


def _thinking(generation: GenerationConfig) -> ThinkingSettings | None:
    level = generation.thinking_level
    summaries = generation.thinking_summaries
    if level is None and summaries is None:
        return None
    return ThinkingSettings(include_thoughts=summaries != "none", level=level)


def to_usage(usage: ModelUsage) -> Usage:
    return Usage(
        total_input_tokens=usage.input_tokens,
        total_output_tokens=usage.output_tokens,
        total_thought_tokens=usage.thought_tokens,
        total_cached_tokens=usage.cached_tokens,
        total_tokens=usage.total_tokens or usage.input_tokens + usage.output_tokens + usage.thought_tokens,
        total_tool_use_tokens=usage.tool_use_tokens,
        **_modalities(usage),
    )


def _modalities(usage: ModelUsage) -> dict[str, Any]:
    """The ``*_tokens_by_modality`` lists of spec §4.2, for the counts Gemini reported."""
    lists = {
        "input_tokens_by_modality": usage.input_by_modality,
        "output_tokens_by_modality": usage.output_by_modality,
        "cached_tokens_by_modality": usage.cached_by_modality,
        "tool_use_tokens_by_modality": usage.tool_use_by_modality,
    }
    return {
        name: [{"modality": m, "tokens": n} for m, n in sorted(counts.items())]
        for name, counts in lists.items()
        if counts
    }
