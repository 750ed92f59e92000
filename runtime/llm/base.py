"""The model seam: :class:`ModelClient` and the typed request and turn it speaks.

The agent loop builds a :class:`ModelRequest` (history as ``google.genai.types.Content``), calls
``generate`` and gets a :class:`ModelTurn` back. ``turn.content`` is the model's message exactly as
the API sent it (thought signatures included): append it to the history unchanged, or the next
request loses the model's reasoning state (Gemini rejects function-call turns missing their
signature).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, Protocol, Self

from google.genai import types
from pydantic import BaseModel, ConfigDict, Field


class Usage(BaseModel):
    """Token counts of one model call, or of a whole run (``a + b``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_tokens: int = 0
    """Prompt tokens, cached ones included."""
    output_tokens: int = 0
    """Candidate (visible output) tokens, thoughts excluded."""
    thought_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens served from the context cache (a subset of ``input_tokens``)."""
    total_tokens: int = 0
    tool_use_tokens: int = 0
    """Prompt tokens of tool results Gemini's own tools (search, code execution) added."""
    input_by_modality: dict[str, int] = Field(default_factory=dict)
    """Per modality (``text``, ``image``, ...), where Gemini reports it; the same for the others."""
    output_by_modality: dict[str, int] = Field(default_factory=dict)
    cached_by_modality: dict[str, int] = Field(default_factory=dict)
    tool_use_by_modality: dict[str, int] = Field(default_factory=dict)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            thought_tokens=self.thought_tokens + other.thought_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            tool_use_tokens=self.tool_use_tokens + other.tool_use_tokens,
            input_by_modality=_merge(self.input_by_modality, other.input_by_modality),
            output_by_modality=_merge(self.output_by_modality, other.output_by_modality),
            cached_by_modality=_merge(self.cached_by_modality, other.cached_by_modality),
            tool_use_by_modality=_merge(self.tool_use_by_modality, other.tool_use_by_modality),
        )

    @classmethod
    def from_metadata(cls, meta: types.GenerateContentResponseUsageMetadata | None) -> Self:
        if meta is None:
            return cls()
        return cls(
            input_tokens=meta.prompt_token_count or 0,
            output_tokens=meta.candidates_token_count or 0,
            thought_tokens=meta.thoughts_token_count or 0,
            cached_tokens=meta.cached_content_token_count or 0,
            total_tokens=meta.total_token_count or 0,
            tool_use_tokens=meta.tool_use_prompt_token_count or 0,
            input_by_modality=_by_modality(meta.prompt_tokens_details),
            output_by_modality=_by_modality(meta.candidates_tokens_details),
            cached_by_modality=_by_modality(meta.cache_tokens_details),
            tool_use_by_modality=_by_modality(meta.tool_use_prompt_tokens_details),
        )


def _by_modality(details: list[types.ModalityTokenCount] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in details or []:
        if item.modality is None or item.modality == types.MediaModality.MODALITY_UNSPECIFIED:
            continue
        name = str(item.modality.value).lower()
        out[name] = out.get(name, 0) + (item.token_count or 0)
    return out


def _merge(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {key: a.get(key, 0) + b.get(key, 0) for key in {**a, **b}}


# --- request -----------------------------------------------------------------------------------


class GoogleMapsSettings(BaseModel):
    """Google Maps grounding: an optional location to search around, and the widget token."""

    model_config = ConfigDict(extra="forbid")

    latitude: float | None = None
    longitude: float | None = None
    enable_widget: bool | None = None


class ModelTools(BaseModel):
    """What the model may call: our function declarations and Gemini's built-in tools."""

    model_config = ConfigDict(extra="forbid")

    functions: list[types.FunctionDeclaration] = Field(default_factory=list)
    google_search: bool = False
    url_context: bool = False
    code_execution: bool = False
    """Gemini's own code execution tool (code runs on Google's side, not in a sandbox)."""
    google_maps: GoogleMapsSettings | None = None
    """Gemini's Google Maps grounding (places found on Google's side), when given."""


class ToolChoice(BaseModel):
    """How the model must use the function declarations (Gemini's ``FunctionCallingConfig``)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "any", "none", "validated"] = "auto"
    allowed: list[str] | None = None
    """Function names the model may call (modes ``any`` and ``validated``)."""


class SafetyRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str
    """Wire name, e.g. ``hate_speech`` (Gemini's ``HARM_CATEGORY_HATE_SPEECH``)."""
    threshold: str
    """Wire name, e.g. ``block_only_high``."""
    method: Literal["severity", "probability"] | None = None


class GenerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float | None = None
    top_p: float | None = None
    top_k: float | None = None
    max_output_tokens: int | None = None
    stop_sequences: list[str] | None = None
    seed: int | None = None
    response_mime_type: str | None = None
    response_schema: dict[str, Any] | None = None
    """JSON Schema the answer must match (with ``response_mime_type: application/json``)."""
    image_aspect_ratio: str | None = None
    image_size: str | None = None
    service_tier: Literal["flex", "standard", "priority"] | None = None
    safety: list[SafetyRule] = Field(default_factory=list)
    tool_choice: ToolChoice | None = None


class ThinkingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_thoughts: bool = True
    """Ask for thought summaries (surfaced as :class:`ThoughtPart`)."""
    budget: int | None = None
    """Thinking token budget (Gemini 2.5); ``-1`` lets the model decide, ``0`` turns thinking off."""
    level: Literal["minimal", "low", "medium", "high", "xhigh"] | None = None
    """Thinking level (Gemini 3); do not combine with ``budget``."""


class ModelRequest(BaseModel):
    """One model call: the whole history, since Gemini's generateContent is stateless."""

    model_config = ConfigDict(extra="forbid")

    model: str
    """Model id, e.g. ``gemini-3-flash-preview``."""
    contents: list[types.Content]
    system_instruction: str | None = None
    tools: ModelTools = Field(default_factory=ModelTools)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    thinking: ThinkingSettings | None = None


# --- turn --------------------------------------------------------------------------------------


_PART_CONFIG = ConfigDict(extra="forbid", frozen=True, ser_json_bytes="base64", val_json_bytes="base64")


class TextPart(BaseModel):
    model_config = _PART_CONFIG
    type: Literal["text"] = "text"
    text: str
    signature: bytes | None = None
    """Thought signature exactly as received (opaque bytes), if the part carried one."""


class ThoughtPart(BaseModel):
    """A thought summary (``thought: true``)."""

    model_config = _PART_CONFIG
    type: Literal["thought"] = "thought"
    text: str
    signature: bytes | None = None


class FunctionCallPart(BaseModel):
    model_config = _PART_CONFIG
    type: Literal["function_call"] = "function_call"
    id: str | None
    """The call id when the model gave one; echo it in the matching ``FunctionResponse``."""
    name: str
    args: dict[str, Any]
    signature: bytes | None = None


class OtherPart(BaseModel):
    """Any other part (inline data, executable code, …), kept as the SDK parsed it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["other"] = "other"
    part: types.Part


TurnPart = Annotated[TextPart | ThoughtPart | FunctionCallPart | OtherPart, Field(discriminator="type")]


class ModelTurn(BaseModel):
    """What the model answered in one call."""

    model_config = ConfigDict(extra="forbid")

    parts: list[TurnPart]
    content: types.Content
    """The model message to append to the history as-is (role ``model``, signatures intact)."""
    finish_reason: str | None = None
    """``STOP``, ``MAX_TOKENS``, ``SAFETY``, … or a prompt block reason; ``None`` if not given."""
    finish_message: str | None = None
    grounding: types.GroundingMetadata | None = None
    url_context: types.UrlContextMetadata | None = None
    """The URLs the ``url_context`` tool fetched for this turn, with their retrieval status."""
    usage: Usage = Field(default_factory=Usage)
    model_version: str | None = None
    response_id: str | None = None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def thoughts(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, ThoughtPart))

    @property
    def function_calls(self) -> list[FunctionCallPart]:
        return [p for p in self.parts if isinstance(p, FunctionCallPart)]


class ModelTurnDelta(BaseModel):
    """A piece of text or thought summary as it streams in, or a whole part of Gemini's own code
    execution (``code``: the code it ran; ``code_result``: that run's output)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["text", "thought", "code", "code_result"]
    text: str
    language: str | None = None
    """``code``: the language Gemini named, lower case (``python``)."""
    failed: bool = False
    """``code_result``: the code's run did not succeed (Gemini's outcome was not ``OUTCOME_OK``)."""
    part_id: str | None = None
    """``code`` / ``code_result``: the id Gemini gave the part, when it gave one."""
    signature: bytes | None = None


DeltaCallback = Callable[[ModelTurnDelta], Awaitable[None] | None]
"""Called with each delta, in order, before ``generate`` returns."""


class ModelClient(Protocol):
    """The one thing the agent loop needs from a model."""

    async def generate(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None) -> ModelTurn:
        """Run one model call and return the complete turn.

        With ``on_delta`` the call streams and ``on_delta`` sees text and thoughts as they arrive;
        the returned turn is the same as without it.

        Raises:
            ModelError: the API refused the request (not retryable) or kept failing after retries
                (``ModelUnavailable``, retryable by the caller later).
        """
        ...
