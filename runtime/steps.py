"""The Interactions API step types (spec §5) and the content blocks they carry (spec §3.3, §5.1).

A conversation is a flat list of steps, one discriminated union on the literal ``type``. Tool call
steps carry ``id``; their result steps carry the matching ``call_id``.

Wire tolerance: every model keeps fields it does not know (``extra="allow"``), so history sent by a
newer SDK survives a round trip through the store; the open enums of the spec (mime types, search
types, …) accept unknown strings. Steps Hangar builds itself contain only the declared fields, and
:func:`dump_step` drops unset optional ones, so our own output is exact. An unknown step ``type`` is
rejected: the loop could not act on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from runtime.errors import InputError
from runtime.wire import describe


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)


# --- Annotations on text (§5.1) ----------------------------------------------------------------


class _Span(_Wire):
    start_index: int | None = None
    """Byte offset in the text where the annotated span starts."""
    end_index: int | None = None
    """Byte offset where the span ends (exclusive)."""


class UrlCitation(_Span):
    type: Literal["url_citation"] = "url_citation"
    url: str | None = None
    title: str | None = None


class FileCitation(_Span):
    type: Literal["file_citation"] = "file_citation"
    document_uri: str | None = None
    file_name: str | None = None
    source: str | None = None
    page_number: int | None = None
    media_id: str | None = None
    custom_metadata: dict[str, Any] | None = None


class ReviewSnippet(_Wire):
    review_id: str | None = None
    title: str | None = None
    url: str | None = None


class PlaceCitation(_Span):
    type: Literal["place_citation"] = "place_citation"
    place_id: str | None = None
    """``places/{id}``."""
    name: str | None = None
    url: str | None = None
    review_snippets: list[ReviewSnippet] | None = None


class SpeechMetadata(_Span):
    type: Literal["speech_metadata"] = "speech_metadata"
    speaker: str | None = None
    style: str | None = None


class WordInfo(_Span):
    type: Literal["word_info"] = "word_info"
    text: str | None = None
    speaker: str | None = None
    start_offset: str | None = None
    """Duration string, e.g. ``"1.5s"``."""
    end_offset: str | None = None


Annotation = Annotated[
    UrlCitation | FileCitation | PlaceCitation | SpeechMetadata | WordInfo, Field(discriminator="type")
]

# --- Content blocks (§3.3) ---------------------------------------------------------------------

MediaResolution = Literal["low", "medium", "high", "ultra_high"] | str


class TextContent(_Wire):
    type: Literal["text"] = "text"
    text: str
    annotations: list[Annotation] | None = None
    """Citations and other span metadata of model-generated text."""


class _Media(_Wire):
    data: str | None = None
    """Inline bytes, base64-encoded."""
    uri: str | None = None
    """Where the bytes live instead (``gs://``, ``https://``, a file URI)."""
    mime_type: str | None = None
    """Open enum; the spec lists the types the API understands for each block."""


class ImageContent(_Media):
    type: Literal["image"] = "image"
    resolution: MediaResolution | None = None


class AudioContent(_Media):
    type: Literal["audio"] = "audio"
    sample_rate: int | None = None
    channels: int | None = None


class DocumentContent(_Media):
    type: Literal["document"] = "document"


class VideoProcessing(_Wire):
    type: Literal["static"] = "static"
    fps: float | None = None
    start_offset: str | None = None
    """Duration string, e.g. ``"10.5s"``."""
    end_offset: str | None = None


class VideoContent(_Media):
    type: Literal["video"] = "video"
    resolution: MediaResolution | None = None
    name: str | None = None
    processing: Literal["static", "agentic"] | VideoProcessing | None = None


Content = Annotated[
    TextContent | ImageContent | AudioContent | DocumentContent | VideoContent, Field(discriminator="type")
]
ThoughtSummaryContent = Annotated[TextContent | ImageContent, Field(discriminator="type")]

ToolResult = str | list[Content] | dict[str, Any]
"""What a function or MCP tool returned: plain text, content blocks, or a JSON object."""

# --- Step building blocks ----------------------------------------------------------------------


class _Call(_Wire):
    id: str
    """Unique id of the call; the result step repeats it as ``call_id``."""


class _SignedCall(_Call):
    signature: str | None = None
    """Opaque base64 hash the backend validates; clients echo it back in stateless history."""


class _Result(_Wire):
    call_id: str
    """The ``id`` of the call step this answers."""


class _SignedResult(_Result):
    signature: str | None = None
    """Opaque base64 hash the backend validates; clients echo it back in stateless history."""


class Status(_Wire):
    """A ``google.rpc.Status`` error."""

    code: int | None = None
    message: str | None = None
    details: list[dict[str, Any]] | None = None


SearchType = Literal["web_search", "image_search", "enterprise_web_search"] | str
RetrievalType = Literal["vertex_ai_search", "rag_store", "exa_ai_search", "parallel_ai_search"] | str


class CodeExecutionArguments(_Wire):
    code: str | None = None
    language: Literal["python", "bash"] | str | None = None


class GoogleSearchArguments(_Wire):
    queries: list[str] | None = None


class GoogleSearchResultItem(_Wire):
    search_suggestions: str | None = None
    """Rendered search-suggestion chips (HTML) the caller should display."""


class UrlContextArguments(_Wire):
    urls: list[str] | None = None


class UrlContextResultItem(_Wire):
    url: str | None = None
    status: Literal["success", "error", "paywall", "unsafe"] | str | None = None


class GoogleMapsArguments(_Wire):
    queries: list[str] | None = None


class GoogleMapsPlace(_Wire):
    name: str | None = None
    place_id: str | None = None
    url: str | None = None
    review_snippets: list[ReviewSnippet] | None = None


class GoogleMapsResultItem(_Wire):
    places: list[GoogleMapsPlace] | None = None
    widget_context_token: str | None = None


class RetrievalArguments(_Wire):
    queries: list[str] | None = None


# --- Steps (§5) --------------------------------------------------------------------------------


class UserInputStep(_Wire):
    """A user turn."""

    type: Literal["user_input"] = "user_input"
    content: list[Content] | None = None


class ModelOutputStep(_Wire):
    """The model's answer, or the error that ended its turn."""

    type: Literal["model_output"] = "model_output"
    content: list[Content] | None = None
    error: Status | None = None


class ThoughtStep(_Wire):
    """A reasoning summary."""

    type: Literal["thought"] = "thought"
    signature: str | None = None
    """Opaque base64 hash the backend validates; clients echo it back in stateless history."""
    summary: list[ThoughtSummaryContent] | None = None


class FunctionCallStep(_Call):
    """A call of a client-side function: the interaction waits in ``requires_action`` for its result."""

    type: Literal["function_call"] = "function_call"
    name: str
    arguments: dict[str, Any]


class FunctionResultStep(_Result):
    """The answer to a ``function_call``, sent by the client in ``input``."""

    type: Literal["function_result"] = "function_result"
    result: ToolResult
    name: str | None = None
    is_error: bool | None = None


class CodeExecutionCallStep(_SignedCall):
    type: Literal["code_execution_call"] = "code_execution_call"
    arguments: CodeExecutionArguments


class CodeExecutionResultStep(_SignedResult):
    type: Literal["code_execution_result"] = "code_execution_result"
    result: str | list[Content]
    is_error: bool | None = None


class GoogleSearchCallStep(_SignedCall):
    type: Literal["google_search_call"] = "google_search_call"
    arguments: GoogleSearchArguments
    search_type: SearchType | None = None


class GoogleSearchResultStep(_SignedResult):
    type: Literal["google_search_result"] = "google_search_result"
    result: list[GoogleSearchResultItem]
    is_error: bool | None = None


class UrlContextCallStep(_SignedCall):
    type: Literal["url_context_call"] = "url_context_call"
    arguments: UrlContextArguments


class UrlContextResultStep(_SignedResult):
    type: Literal["url_context_result"] = "url_context_result"
    result: list[UrlContextResultItem]
    is_error: bool | None = None


class GoogleMapsCallStep(_SignedCall):
    type: Literal["google_maps_call"] = "google_maps_call"
    arguments: GoogleMapsArguments | None = None


class GoogleMapsResultStep(_SignedResult):
    type: Literal["google_maps_result"] = "google_maps_result"
    result: list[GoogleMapsResultItem]


class FileSearchCallStep(_SignedCall):
    type: Literal["file_search_call"] = "file_search_call"


class FileSearchResultStep(_SignedResult):
    """Carries no result payload in the API schema."""

    type: Literal["file_search_result"] = "file_search_result"


class RetrievalCallStep(_SignedCall):
    type: Literal["retrieval_call"] = "retrieval_call"
    arguments: RetrievalArguments
    retrieval_type: RetrievalType | None = None


class RetrievalResultStep(_SignedResult):
    type: Literal["retrieval_result"] = "retrieval_result"
    is_error: bool | None = None


class McpServerToolCallStep(_Call):
    type: Literal["mcp_server_tool_call"] = "mcp_server_tool_call"
    name: str
    """The tool's name on its server."""
    server_name: str
    """The ``name`` of the ``mcp_server`` tool entry that serves it."""
    arguments: dict[str, Any]


class McpServerToolResultStep(_Result):
    type: Literal["mcp_server_tool_result"] = "mcp_server_tool_result"
    result: ToolResult
    name: str | None = None
    server_name: str | None = None


class ToolSearchArguments(_Wire):
    function_names: list[str] | None = None


class ToolSearchCallStep(_SignedCall):
    """The model looked up function definitions (SDK 3.6); accepted in ``input`` and kept."""

    type: Literal["tool_search_call"] = "tool_search_call"
    arguments: ToolSearchArguments


class ToolSearchResultStep(_SignedResult):
    type: Literal["tool_search_result"] = "tool_search_result"
    result: list[dict[str, Any]] | None = None
    """The function definitions found (``function`` tool objects)."""


class ProcessingCallStep(_SignedCall):
    """Server-initiated media processing (e.g. video understanding)."""

    type: Literal["processing_call"] = "processing_call"


class ProcessingResultStep(_SignedResult):
    type: Literal["processing_result"] = "processing_result"


Step = Annotated[
    UserInputStep
    | ModelOutputStep
    | ThoughtStep
    | FunctionCallStep
    | FunctionResultStep
    | CodeExecutionCallStep
    | CodeExecutionResultStep
    | GoogleSearchCallStep
    | GoogleSearchResultStep
    | UrlContextCallStep
    | UrlContextResultStep
    | GoogleMapsCallStep
    | GoogleMapsResultStep
    | FileSearchCallStep
    | FileSearchResultStep
    | RetrievalCallStep
    | RetrievalResultStep
    | McpServerToolCallStep
    | McpServerToolResultStep
    | ToolSearchCallStep
    | ToolSearchResultStep
    | ProcessingCallStep
    | ProcessingResultStep,
    Field(discriminator="type"),
]
"""One step of an interaction; the variant is chosen by ``type``."""

STEP_ADAPTER: TypeAdapter[Step] = TypeAdapter(Step)
STEPS_ADAPTER: TypeAdapter[list[Step]] = TypeAdapter(list[Step])


RUN_CALLS = (FunctionCallStep, CodeExecutionCallStep, McpServerToolCallStep)
"""The call steps whose results Hangar (or the caller, for client functions) must supply; the
other call types are Gemini's own tools and arrive with their results."""


RunCall = FunctionCallStep | CodeExecutionCallStep | McpServerToolCallStep


def unanswered_calls(steps: Sequence[Step]) -> list[RunCall]:
    """Call steps with no result step (matched by ``call_id``) anywhere in ``steps``."""
    answered = {call_id for st in steps if isinstance(call_id := getattr(st, "call_id", None), str)}
    return [st for st in steps if isinstance(st, RUN_CALLS) and st.id not in answered]


def dump_step(step: Step) -> dict[str, Any]:
    """The step's wire JSON (a dict), without unset optional fields. Unknown fields that came in are kept."""
    data: dict[str, Any] = STEP_ADAPTER.dump_python(step, mode="json", exclude_none=True)
    return data


def dump_steps(steps: Sequence[Step]) -> list[dict[str, Any]]:
    return [dump_step(step) for step in steps]


def parse_step(data: object) -> Step:
    """Validate one wire step. Raises :class:`InputError` naming the bad field."""
    return parse_steps([data])[0]


def parse_steps(data: Sequence[object]) -> list[Step]:
    """Validate a list of wire steps. Raises :class:`InputError` naming the step index and field."""
    try:
        return STEPS_ADAPTER.validate_python(list(data))
    except ValidationError as e:
        raise InputError(f"invalid steps: {describe(e, 'steps', limit=5)}") from e


def parse_stored(data: Iterable[dict[str, Any]]) -> list[Step]:
    """Typed steps from the store's own JSON (folded from its log): valid by construction."""
    return [STEP_ADAPTER.validate_python(step) for step in data]
