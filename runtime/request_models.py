"""Typed models of the ``POST /{v}/interactions`` body (spec §3): tools, ``generation_config``,
``agent_config``, ``response_format``, safety settings, webhook config and labels.

Closed wherever the wire is closed (``extra="forbid"``), so a typo or an unknown field is a 400 at
create time. These are the shapes the wire allows; which of them Hangar applies for a model or an
agent interaction is decided in :mod:`runtime.service.requests`. The worker re-reads the stored
request through the same models, so it never sees a shape create did not accept.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from runtime.agents.wire import (  # re-exported: the tool shapes agents and requests share
    AllowedTools,
    CodeExecutionTool,
    FunctionTool,
    GoogleMapsTool,
    GoogleSearchTool,
    Int64,
    McpServerTool,
    UrlContextTool,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- tools (§3.4) --------------------------------------------------------------------------------


class FileSearchTool(_Strict):
    type: Literal["file_search"]
    file_search_store_names: list[str] | None = None
    top_k: int | None = None
    metadata_filter: str | None = None


class ComputerUseTool(_Strict):
    type: Literal["computer_use"]
    environment: Literal["browser", "mobile", "desktop"] | None = None
    excluded_predefined_functions: list[str] | None = None
    disabled_safety_policies: list[str] | None = None
    enable_prompt_injection_detection: bool | None = None


class RetrievalTool(BaseModel):
    """Vertex AI Search / RAG retrieval; its many sub-configs are not modelled (it is refused)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["retrieval"]


RequestTool = Annotated[
    FunctionTool
    | CodeExecutionTool
    | UrlContextTool
    | GoogleSearchTool
    | McpServerTool
    | GoogleMapsTool
    | FileSearchTool
    | ComputerUseTool
    | RetrievalTool,
    Field(discriminator="type"),
]

# --- generation_config (§3.5) --------------------------------------------------------------------


class ToolChoiceConfig(_Strict):
    allowed_tools: AllowedTools | None = None


AspectRatio = Literal[
    "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "1:8", "8:1", "1:4", "4:1"
]


class ImageConfig(_Strict):
    aspect_ratio: AspectRatio | None = None
    image_size: Literal["512", "1K", "2K", "4K"] | None = None


ThinkingLevel = Literal["minimal", "low", "medium", "high", "xhigh"]
ToolChoiceMode = Literal["auto", "any", "none", "validated"]


class GenerationConfig(_Strict):
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop_sequences: list[str] | None = Field(default=None, max_length=5)
    """Gemini takes at most five."""
    thinking_level: ThinkingLevel | None = None
    thinking_summaries: Literal["auto", "none"] | None = None
    tool_choice: ToolChoiceMode | ToolChoiceConfig | None = None
    image_config: ImageConfig | None = None
    speech_config: dict[str, Any] | list[dict[str, Any]] | None = None
    video_config: dict[str, Any] | None = None
    transcription_config: dict[str, Any] | None = None


# --- agent_config (§3.6) -------------------------------------------------------------------------


class AntigravityConfig(_Strict):
    type: Literal["antigravity"]
    model: str | None = Field(default=None, max_length=200)
    max_total_tokens: Int64 | None = None


class DynamicConfig(_Strict):
    type: Literal["dynamic"]


class DeepResearchConfig(_Strict):
    type: Literal["deep-research"]
    thinking_summaries: Literal["auto", "none"] | None = None
    visualization: Literal["off", "auto"] | None = None
    collaborative_planning: bool | None = None
    enable_bigquery_tool: bool | None = None


class CodeMenderConfig(BaseModel):
    """Not modelled field by field: Hangar has no code-mender agent (it is refused)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["code-mender"]


AgentConfigUnion = Annotated[
    AntigravityConfig | DynamicConfig | DeepResearchConfig | CodeMenderConfig, Field(discriminator="type")
]

# --- response_format (§3.8) ----------------------------------------------------------------------


class TextFormat(_Strict):
    type: Literal["text"]
    mime_type: Literal["application/json", "text/plain"] | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")


class AudioFormat(_Strict):
    type: Literal["audio"]
    mime_type: str | None = None
    sample_rate: int | None = None
    bit_rate: int | None = None
    delivery: Literal["inline", "uri"] | None = None


class ImageFormat(_Strict):
    type: Literal["image"]
    mime_type: str | None = None
    aspect_ratio: str | None = None
    image_size: str | None = None
    delivery: Literal["inline", "uri"] | None = None


class VideoFormat(_Strict):
    type: Literal["video"]
    aspect_ratio: Literal["16:9", "9:16"] | None = None
    resolution: Literal["360p", "720p", "1080p", "4k"] | None = None
    duration: str | None = None
    gcs_uri: str | None = None
    delivery: Literal["inline", "uri"] | None = None


ResponseFormat = Annotated[TextFormat | AudioFormat | ImageFormat | VideoFormat, Field(discriminator="type")]

# --- the rest --------------------------------------------------------------------------------------

HarmCategory = Literal[
    "hate_speech", "dangerous_content", "harassment", "sexually_explicit", "civic_integrity", "image_hate",
    "image_dangerous_content", "image_harassment", "image_sexually_explicit", "jailbreak",
]


Threshold = Literal["block_low_and_above", "block_medium_and_above", "block_only_high", "block_none", "off"]


class SafetySetting(_Strict):
    type: HarmCategory
    threshold: Threshold
    method: Literal["severity", "probability"] | None = None


class WebhookConfig(_Strict):
    uris: list[str] | None = Field(default=None, max_length=10)
    user_metadata: dict[str, Any] | None = None


LabelKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
LabelValue = Annotated[str, Field(pattern=r"^[a-z0-9_-]{0,63}$")]
Labels = dict[LabelKey, LabelValue]
Modality = Literal["text", "image", "audio", "video", "document"]
_ID = Field(default=None, max_length=200)


class CreateInteractionBody(_Strict):
    """The whole create body, as the SDK's ``CreateModelInteraction`` / ``CreateAgentInteraction``."""

    model: str | None = _ID
    agent: str | None = _ID
    input: str | dict[str, Any] | list[Any] | None = None
    previous_interaction_id: str | None = _ID
    background: bool = False
    stream: bool = False
    store: bool = True
    system_instruction: str | None = None
    tools: list[RequestTool] | None = None
    generation_config: GenerationConfig | None = None
    agent_config: AgentConfigUnion | None = None
    environment: str | dict[str, Any] | None = None
    response_format: ResponseFormat | list[ResponseFormat] | None = None
    response_mime_type: str | None = Field(default=None, max_length=100)
    response_modalities: list[Modality] | None = None
    safety_settings: list[SafetySetting] | None = None
    service_tier: Literal["flex", "standard", "priority", "deferred"] | None = None
    labels: Labels | None = None
    webhook_config: WebhookConfig | None = None
    cached_content: str | None = None
    continuation_token: str | None = None

    def formats(self) -> list[TextFormat | AudioFormat | ImageFormat | VideoFormat]:
        if self.response_format is None:
            return []
        return self.response_format if isinstance(self.response_format, list) else [self.response_format]


__all__ = [
    "AgentConfigUnion", "AllowedTools", "AntigravityConfig", "CodeExecutionTool", "CodeMenderConfig",
    "CreateInteractionBody", "DeepResearchConfig", "DynamicConfig", "FunctionTool", "GenerationConfig",
    "GoogleSearchTool", "McpServerTool", "RequestTool", "ResponseFormat", "SafetySetting", "TextFormat",
    "ToolChoiceConfig", "UrlContextTool",
]
