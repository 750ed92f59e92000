"""Model interactions (``"model": ...``): one streamed model call over the whole conversation.

The conversation (earlier turns from ``previous_interaction_id`` plus this input) becomes Gemini
contents; text and thought summaries stream out as ``model_output`` / ``thought`` steps; function
calls end the interaction in ``requires_action`` (the client answers with ``function_result`` steps
in the next interaction's input). Interrupted by a crash before its first step, the call is simply
made again; after, the interaction fails with ``interrupted`` (see :meth:`ModelRunner.run`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from google.genai import types

from runtime.agent.history import build_history, encode_signature
from runtime.errors import InfraError
from runtime.llm.base import (
    GenerationSettings,
    ModelClient,
    ModelRequest,
    ModelTools,
    ModelTurnDelta,
    ThinkingSettings,
)
from runtime.llm.base import (
    Usage as ModelUsage,
)
from runtime.steps import FunctionCallStep, ModelOutputStep, TextContent, ThoughtStep
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
        turn = await self._client.generate(build_request(run), on_delta=stream.on_delta)
        await stream.close()
        for call in turn.function_calls:
            step = FunctionCallStep(id=call.id or f"call_{call.name}", name=call.name, arguments=call.args)
            if call.signature:
                # Kept so the continuation sends it back (Gemini 3 rejects a call without it).
                step.signature = encode_signature(call.signature)  # type: ignore[attr-defined]
            await writer.whole(step)
        status = "completed"
        if turn.function_calls:
            status = "requires_action"
        elif turn.finish_reason == "MAX_TOKENS":
            status = "incomplete"
        return RunResult(status=status, usage=to_usage(turn.usage))


class _StepStream:
    """Opens a step per run of same-kind deltas (thought, then text, ...) and closes it."""

    def __init__(self, writer: StepWriter) -> None:
        self._writer = writer
        self._kind: str | None = None
        self._index = -1

    async def on_delta(self, delta: ModelTurnDelta) -> None:
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


def build_request(run: RunInput) -> ModelRequest:
    config = run.config
    generation = config.generation_config or {}
    return ModelRequest(
        model=run.interaction.target,
        contents=build_history(run.conversation),
        system_instruction=config.system_instruction,
        tools=request_tools(config.tools or []),
        generation=GenerationSettings(
            temperature=generation.get("temperature"),
            top_p=generation.get("top_p"),
            max_output_tokens=_int(generation.get("max_output_tokens")),
            stop_sequences=generation.get("stop_sequences"),
            seed=_int(generation.get("seed")),
        ),
        thinking=_thinking(generation),
    )


def request_tools(tools: list[dict[str, Any]]) -> ModelTools:
    functions = [
        types.FunctionDeclaration(
            name=tool.get("name"),
            description=tool.get("description"),
            parameters_json_schema=tool.get("parameters"),
        )
        for tool in tools
        if tool.get("type") == "function"
    ]
    kinds = {tool.get("type") for tool in tools}
    return ModelTools(
        functions=functions, google_search="google_search" in kinds, url_context="url_context" in kinds
    )


def _thinking(generation: dict[str, Any]) -> ThinkingSettings | None:
    level = generation.get("thinking_level")
    summaries = generation.get("thinking_summaries")
    if level is None and summaries is None:
        return None
    return ThinkingSettings(
        include_thoughts=summaries != "none",
        level=level if level in ("minimal", "low", "medium", "high") else None,
    )


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else None


def to_usage(usage: ModelUsage) -> Usage:
    return Usage(
        total_input_tokens=usage.input_tokens,
        total_output_tokens=usage.output_tokens,
        total_thought_tokens=usage.thought_tokens,
        total_cached_tokens=usage.cached_tokens,
        total_tokens=usage.total_tokens or usage.input_tokens + usage.output_tokens + usage.thought_tokens,
    )
