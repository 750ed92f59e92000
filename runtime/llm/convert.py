"""Conversions between Hangar's model types and google-genai's: config out, turns in.

Nothing here copies or re-encodes a part the model sent: ``ModelTurn.content`` holds the SDK's own
``types.Part`` objects, so thought signatures go back to the API byte for byte.
"""

from __future__ import annotations

from google.genai import types

from runtime.llm.base import (
    FunctionCallPart,
    ModelRequest,
    ModelTools,
    ModelTurn,
    ModelTurnDelta,
    OtherPart,
    SafetyRule,
    TextPart,
    ThinkingSettings,
    ThoughtPart,
    ToolChoice,
    TurnPart,
    Usage,
)

_PLAIN_TEXT_FIELDS = frozenset({"text", "thought", "thought_signature"})


def build_config(request: ModelRequest) -> types.GenerateContentConfig:
    """The ``GenerateContentConfig`` for a request, automatic function calling always off."""
    gen = request.generation
    image = None
    if gen.image_aspect_ratio or gen.image_size:
        image = types.ImageConfig(aspect_ratio=gen.image_aspect_ratio, image_size=gen.image_size)
    return types.GenerateContentConfig(
        system_instruction=request.system_instruction,
        temperature=gen.temperature,
        top_p=gen.top_p,
        top_k=gen.top_k,
        max_output_tokens=gen.max_output_tokens,
        stop_sequences=gen.stop_sequences,
        seed=gen.seed,
        response_mime_type=gen.response_mime_type,
        response_json_schema=gen.response_schema,
        image_config=image,
        service_tier=types.ServiceTier[gen.service_tier.upper()] if gen.service_tier else None,
        safety_settings=[_safety(rule) for rule in gen.safety] or None,
        tool_config=_tool_config(gen.tool_choice, _maps_location(request.tools)),
        tools=build_tools(request.tools) or None,
        thinking_config=build_thinking(request.thinking),
        # We run tools ourselves, in the sandbox; the SDK must never call Python functions.
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def _safety(rule: SafetyRule) -> types.SafetySetting:
    return types.SafetySetting(
        category=types.HarmCategory[f"HARM_CATEGORY_{rule.category.upper()}"],
        threshold=types.HarmBlockThreshold[rule.threshold.upper()],
        method=types.HarmBlockMethod[rule.method.upper()] if rule.method else None,
    )


def _tool_config(
    choice: ToolChoice | None, retrieval: types.RetrievalConfig | None = None
) -> types.ToolConfig | None:
    if choice is None and retrieval is None:
        return None
    calling = None
    if choice is not None:
        calling = types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode[choice.mode.upper()], allowed_function_names=choice.allowed
        )
    return types.ToolConfig(function_calling_config=calling, retrieval_config=retrieval)


def build_tools(tools: ModelTools) -> list[types.ToolUnion]:
    out: list[types.ToolUnion] = []
    if tools.functions:
        out.append(types.Tool(function_declarations=list(tools.functions)))
    if tools.google_search:
        out.append(types.Tool(google_search=types.GoogleSearch()))
    if tools.url_context:
        out.append(types.Tool(url_context=types.UrlContext()))
    if tools.code_execution:
        out.append(types.Tool(code_execution=types.ToolCodeExecution()))
    if tools.google_maps is not None:
        out.append(types.Tool(google_maps=types.GoogleMaps(enable_widget=tools.google_maps.enable_widget)))
    return out


def _maps_location(tools: ModelTools) -> types.RetrievalConfig | None:
    """Where Google Maps grounding searches around (``latitude``/``longitude`` of the tool)."""
    maps = tools.google_maps
    if maps is None or maps.latitude is None or maps.longitude is None:
        return None
    return types.RetrievalConfig(lat_lng=types.LatLng(latitude=maps.latitude, longitude=maps.longitude))


def build_thinking(thinking: ThinkingSettings | None) -> types.ThinkingConfig | None:
    if thinking is None:
        return None
    level = types.ThinkingLevel[thinking.level.upper()] if thinking.level else None
    return types.ThinkingConfig(
        include_thoughts=thinking.include_thoughts, thinking_budget=thinking.budget, thinking_level=level
    )


def turn_part(part: types.Part) -> TurnPart:
    """The Hangar view of one SDK part (the SDK part itself stays in ``ModelTurn.content``)."""
    sig = part.thought_signature
    if part.function_call is not None:
        call = part.function_call
        return FunctionCallPart(id=call.id, name=call.name or "", args=dict(call.args or {}), signature=sig)
    if part.text is not None and _is_plain_text(part):
        if part.thought:
            return ThoughtPart(text=part.text, signature=sig)
        return TextPart(text=part.text, signature=sig)
    return OtherPart(part=part)


def code_delta(part: types.Part) -> ModelTurnDelta | None:
    """A part of Gemini's own code execution (the code it ran, or that run's output) as a whole
    delta, so it becomes a ``code_execution_call`` / ``code_execution_result`` step in order."""
    sig = part.thought_signature
    if (code := part.executable_code) is not None:
        language = _enum_str(code.language).lower() if code.language else None
        return ModelTurnDelta(
            kind="code", text=code.code or "", language=language, part_id=code.id, signature=sig
        )
    if (result := part.code_execution_result) is not None:
        failed = result.outcome is not None and result.outcome != types.Outcome.OUTCOME_OK
        return ModelTurnDelta(
            kind="code_result", text=result.output or "", failed=failed, part_id=result.id, signature=sig
        )
    return None


def turn_from_response(response: types.GenerateContentResponse) -> ModelTurn:
    """Build the turn from a complete (non-streamed) response; the first candidate is the turn."""
    candidate = response.candidates[0] if response.candidates else None
    content = _model_content(candidate.content if candidate else None)
    finish_reason, finish_message = _finish(response, candidate)
    return ModelTurn(
        parts=[turn_part(p) for p in content.parts or []],
        content=content,
        finish_reason=finish_reason,
        finish_message=finish_message,
        grounding=candidate.grounding_metadata if candidate else None,
        url_context=candidate.url_context_metadata if candidate else None,
        usage=Usage.from_metadata(response.usage_metadata),
        model_version=response.model_version,
        response_id=response.response_id,
    )


class StreamAssembler:
    """Folds streamed chunks into one turn, yielding text and thought deltas on the way.

    Consecutive text chunks of the same kind are joined into one part until a chunk carries a
    thought signature: that part is then closed, so every signature stays on the text it came with.
    """

    def __init__(self) -> None:
        self._parts: list[types.Part] = []
        self._last: types.GenerateContentResponse | None = None
        self._candidate: types.Candidate | None = None
        self._usage: types.GenerateContentResponseUsageMetadata | None = None
        self.chunks = 0

    def add(self, chunk: types.GenerateContentResponse) -> list[ModelTurnDelta]:
        self.chunks += 1
        self._last = chunk
        self._usage = chunk.usage_metadata or self._usage
        candidate = chunk.candidates[0] if chunk.candidates else None
        if candidate is None:
            return []
        self._candidate = _merge_candidate(self._candidate, candidate)
        deltas: list[ModelTurnDelta] = []
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        for part in parts:
            self._append(part)
            if part.text and _is_plain_text(part):
                deltas.append(ModelTurnDelta(kind="thought" if part.thought else "text", text=part.text))
            elif (code := code_delta(part)) is not None:
                deltas.append(code)
        return deltas

    def turn(self) -> ModelTurn:
        content = types.Content(role="model", parts=list(self._parts))
        response = self._last or types.GenerateContentResponse()
        finish_reason, finish_message = _finish(response, self._candidate)
        return ModelTurn(
            parts=[turn_part(p) for p in self._parts],
            content=content,
            finish_reason=finish_reason,
            finish_message=finish_message,
            grounding=self._candidate.grounding_metadata if self._candidate else None,
            url_context=self._candidate.url_context_metadata if self._candidate else None,
            usage=Usage.from_metadata(self._usage),
            model_version=response.model_version,
            response_id=response.response_id,
        )

    def _append(self, part: types.Part) -> None:
        last = self._parts[-1] if self._parts else None
        if (
            last is not None
            and part.text is not None
            and _is_plain_text(part)
            and _is_plain_text(last)
            and last.text is not None
            and bool(last.thought) == bool(part.thought)
            and last.thought_signature is None
        ):
            self._parts[-1] = last.model_copy(
                update={"text": last.text + part.text, "thought_signature": part.thought_signature}
            )
        else:
            self._parts.append(part)


def _is_plain_text(part: types.Part) -> bool:
    return set(part.model_dump(exclude_none=True)) <= _PLAIN_TEXT_FIELDS


def _model_content(content: types.Content | None) -> types.Content:
    if content is None:
        return types.Content(role="model", parts=[])
    if content.role is None:
        return content.model_copy(update={"role": "model"})
    return content


def _merge_candidate(old: types.Candidate | None, new: types.Candidate) -> types.Candidate:
    """Keep the latest non-empty finish reason, message, grounding and URL context across chunks."""
    if old is None:
        return new
    return old.model_copy(
        update={
            "finish_reason": new.finish_reason or old.finish_reason,
            "finish_message": new.finish_message or old.finish_message,
            "grounding_metadata": new.grounding_metadata or old.grounding_metadata,
            "url_context_metadata": new.url_context_metadata or old.url_context_metadata,
        }
    )


def _finish(
    response: types.GenerateContentResponse, candidate: types.Candidate | None
) -> tuple[str | None, str | None]:
    if candidate is not None and candidate.finish_reason is not None:
        return _enum_str(candidate.finish_reason), candidate.finish_message
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        return _enum_str(feedback.block_reason), feedback.block_reason_message
    return None, candidate.finish_message if candidate else None


def _enum_str(value: object) -> str:
    return str(getattr(value, "value", value))
