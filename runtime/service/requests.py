"""Create-time validation of ``POST /{v}/interactions`` (STYLE "Accepted means applied").

The body is parsed with the typed models of :mod:`runtime.request_models` (closed where the wire is
closed), then checked against what Hangar applies for its kind: every field is either applied
(model interactions: by Gemini through google-genai's config; agent interactions: by the loop) or
refused here with a 400 naming it. Agents refuse what Google's agents refuse (generation
parameters, structured output, tools they do not support).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from runtime.errors import InputError
from runtime.request_models import (
    CodeMenderConfig,
    CreateInteractionBody,
    DeepResearchConfig,
    FunctionTool,
    GoogleSearchTool,
    McpServerTool,
    TextFormat,
    ToolChoiceConfig,
)
from runtime.service.wire import CreateInteraction, describe
from runtime.tools.toolset import BUILTIN_TOOL_NAMES

MODEL_TOOLS = frozenset({"function", "code_execution", "google_search", "url_context", "google_maps"})
"""Tools a model interaction applies (Gemini's own tools, and client-side functions)."""
AGENT_TOOLS = frozenset(
    {"function", "code_execution", "google_search", "url_context", "google_maps", "mcp_server"}
)
"""Google's ``AgentTool`` subset: what an agent interaction applies."""
_WHY_MODEL_TOOL = {
    "mcp_server": "MCP servers are run for agent interactions only; use an agent",
    "file_search": "it needs Google's hosted file search stores, which Hangar does not have",
    "computer_use": "Hangar's browser tool belongs to agents",
    "retrieval": "Hangar has no Vertex AI Search / RAG retrieval",
}
_UNSUPPORTED_GENERATION = ("speech_config", "video_config", "transcription_config")
_AGENT_REFUSED = ("generation_config", "response_format", "response_mime_type", "safety_settings")
_JSON = "application/json"


def parse_create(data: dict[str, Any]) -> CreateInteraction:
    """The validated create request. Raises :class:`InputError` (400) naming the first bad field."""
    try:
        body = CreateInteractionBody.model_validate(data)
    except ValidationError as e:
        raise InputError(f"invalid request: {describe(e)}") from e
    check_body(body)
    try:
        return CreateInteraction.model_validate(data)
    except ValidationError as e:  # pragma: no cover - the typed body is stricter
        raise InputError(f"invalid request: {describe(e)}") from e


def check_body(body: CreateInteractionBody) -> None:
    """Refuse what the body's kind does not apply. Raises :class:`InputError`."""
    for name in ("cached_content", "continuation_token"):
        if getattr(body, name) is not None:
            raise InputError(f"`{name}` is not supported by Hangar (no context caches or continuations)")
    if body.response_modalities is not None and set(body.response_modalities) - {"text"}:
        raise InputError("`response_modalities`: Hangar answers with text only; send [\"text\"] or omit it")
    _check_unique(body)
    if body.agent and not body.model:
        _check_agent(body)
    elif body.model and not body.agent:
        _check_model(body)


def _check_model(body: CreateInteractionBody) -> None:
    if body.agent_config is not None:
        raise InputError("`agent_config` is for agent interactions (models take `generation_config`)")
    if body.service_tier == "deferred":
        raise InputError("`service_tier`: `deferred` is not supported by Hangar (flex, standard, priority)")
    for index, tool in enumerate(body.tools or []):
        if tool.type not in MODEL_TOOLS:
            why = _WHY_MODEL_TOOL.get(tool.type, "not supported")
            raise InputError(f"`tools[{index}]`: `{tool.type}` is not supported on model interactions: {why}")
        _check_search(index, tool)
    generation = body.generation_config
    _check_tool_choice(body)
    for name in _UNSUPPORTED_GENERATION:
        if generation is not None and getattr(generation, name) is not None:
            raise InputError(f"`generation_config.{name}` is not supported by Hangar (text models only)")
    _check_formats(body)


def _check_formats(body: CreateInteractionBody) -> None:
    formats = body.formats()
    for index, item in enumerate(formats):
        if not isinstance(item, TextFormat):
            raise InputError(f"`response_format[{index}]`: `{item.type}` output is not supported by Hangar")
    if len(formats) > 1:
        raise InputError("`response_format`: Hangar applies one text format; send a single item")
    text = formats[0] if formats and isinstance(formats[0], TextFormat) else None
    mime = body.response_mime_type
    if mime is not None and mime not in (_JSON, "text/plain"):
        raise InputError("`response_mime_type` must be application/json or text/plain")
    if text is not None and text.mime_type and mime and text.mime_type != mime:
        raise InputError("`response_mime_type` contradicts `response_format.mime_type`")
    if text is not None and text.json_schema is not None and _JSON not in (text.mime_type, mime):
        raise InputError("`response_format.schema` needs `mime_type: application/json`")


def _check_tool_choice(body: CreateInteractionBody) -> None:
    choice = body.generation_config.tool_choice if body.generation_config else None
    if not isinstance(choice, ToolChoiceConfig) or choice.allowed_tools is None:
        return
    declared = {tool.name for tool in body.tools or [] if isinstance(tool, FunctionTool)}
    unknown = sorted(set(choice.allowed_tools.tools or []) - declared)
    if unknown:
        raise InputError(
            f"`generation_config.tool_choice.allowed_tools.tools`: {', '.join(unknown)} "
            "not declared in `tools`"
        )


def _check_unique(body: CreateInteractionBody) -> None:
    names = [tool.name for tool in body.tools or [] if isinstance(tool, FunctionTool | McpServerTool)]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"`tools`: {', '.join(duplicates)} declared more than once")


def _check_search(index: int, tool: object) -> None:
    if isinstance(tool, GoogleSearchTool) and tool.search_types not in (None, ["web_search"]):
        raise InputError(f"`tools[{index}].search_types`: Hangar applies web search only")


def _check_agent(body: CreateInteractionBody) -> None:
    for name in _AGENT_REFUSED:
        if getattr(body, name) is not None:
            raise InputError(f"`{name}` is not supported for agent interactions (as on Google's agents)")
    if body.service_tier not in (None, "standard"):
        raise InputError("`service_tier` is not supported for agent interactions")
    for index, tool in enumerate(body.tools or []):
        if tool.type == "file_search":
            why = _WHY_MODEL_TOOL["file_search"]
            raise InputError(f"`tools[{index}]`: `file_search` is not supported for agents: {why}")
        if tool.type not in AGENT_TOOLS:
            raise InputError(f"`tools[{index}]`: agents do not support `{tool.type}` tools")
        _check_search(index, tool)
        if isinstance(tool, FunctionTool) and tool.name in BUILTIN_TOOL_NAMES:
            raise InputError(f"`tools[{index}].name`: {tool.name!r} is the name of a built-in tool")
    config = body.agent_config
    if isinstance(config, CodeMenderConfig):
        raise InputError("`agent_config`: Hangar has no code-mender agent")
    if isinstance(config, DeepResearchConfig) and config.enable_bigquery_tool:
        raise InputError(
            "`agent_config.enable_bigquery_tool` is not supported by Hangar: it needs Google's hosted "
            "BigQuery datasets"
        )
