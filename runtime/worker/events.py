"""The events of an interaction (spec §6.2): what the log stores and what SSE streams carry. The
steps of an interaction are folded from them by :func:`runtime.wire.fold_steps`.

The log stores events without ``event_id``: the id is the event's sequence number in the log,
added when the event is rendered (:func:`render_event`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from runtime.steps import Annotation, Content, Step, TextContent, ThoughtStep, dump_step
from runtime.wire import fold_steps


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class Usage(_Wire):
    """Token totals of an interaction (spec §4.2)."""

    total_input_tokens: int = 0
    total_output_tokens: int = 0
    total_thought_tokens: int = 0
    total_cached_tokens: int = 0
    total_tool_use_tokens: int = 0
    total_tokens: int = 0


class ErrorInfo(_Wire):
    code: str
    message: str


class InteractionRef(_Wire):
    """The partial interaction carried by lifecycle events (spec §6.3)."""

    id: str
    status: str
    object: Literal["interaction"] = "interaction"
    model: str | None = None
    agent: str | None = None
    created: str | None = None
    updated: str | None = None
    usage: Usage | None = None


# --- deltas (spec §6.4) --------------------------------------------------------------------------


class TextDelta(_Wire):
    type: Literal["text"] = "text"
    text: str


class ThoughtSummaryDelta(_Wire):
    type: Literal["thought_summary"] = "thought_summary"
    content: Content | None = None


class ThoughtSignatureDelta(_Wire):
    type: Literal["thought_signature"] = "thought_signature"
    signature: str | None = None


class ArgumentsDelta(_Wire):
    type: Literal["arguments_delta"] = "arguments_delta"
    arguments: str | None = None
    """A fragment of the call's JSON arguments."""


class TextAnnotationDelta(_Wire):
    type: Literal["text_annotation_delta"] = "text_annotation_delta"
    annotations: list[Annotation] | None = None
    """Citations of the text streamed so far (a research answer's ``url_citation`` s)."""


class ImageDelta(_Wire):
    type: Literal["image"] = "image"
    data: str | None = None
    """Base64 bytes (a chart of a research answer)."""
    uri: str | None = None
    mime_type: str | None = None


Delta = Annotated[
    TextDelta | ThoughtSummaryDelta | ThoughtSignatureDelta | ArgumentsDelta | TextAnnotationDelta
    | ImageDelta,
    Field(discriminator="type"),
]

# --- events --------------------------------------------------------------------------------------


class InteractionCreated(_Wire):
    event_type: Literal["interaction.created"] = "interaction.created"
    interaction: InteractionRef


class StatusUpdate(_Wire):
    event_type: Literal["interaction.status_update"] = "interaction.status_update"
    interaction_id: str
    status: str
    usage: Usage | None = None


class StepStart(_Wire):
    event_type: Literal["step.start"] = "step.start"
    index: int
    step: Step


class StepDelta(_Wire):
    event_type: Literal["step.delta"] = "step.delta"
    index: int
    delta: Delta


class StepStop(_Wire):
    event_type: Literal["step.stop"] = "step.stop"
    index: int
    usage: Usage | None = None


class InteractionCompleted(_Wire):
    event_type: Literal["interaction.completed"] = "interaction.completed"
    interaction: InteractionRef


class InteractionCancelled(_Wire):
    """The interaction was cancelled (SDK 3.6's ``InteractionCancelledEvent``: only ``usage``).
    Sent just before the ``interaction.completed`` that ends every stream, so clients that only
    know the older events still see the end."""

    event_type: Literal["interaction.cancelled"] = "interaction.cancelled"
    usage: Usage | None = None


class ErrorEvent(_Wire):
    event_type: Literal["error"] = "error"
    error: ErrorInfo


Event = Annotated[
    InteractionCreated
    | StatusUpdate
    | StepStart
    | StepDelta
    | StepStop
    | InteractionCancelled
    | InteractionCompleted
    | ErrorEvent,
    Field(discriminator="event_type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

TERMINAL_EVENT = "interaction.completed"


def dump_event(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = EVENT_ADAPTER.dump_python(event, mode="json", exclude_none=True)
    return data


def render_event(seq: int, event: dict[str, Any]) -> str:
    """One SSE frame: ``event:``/``id:`` lines for generic clients, ``event_id`` in the JSON for the SDK."""
    payload = {**event, "event_id": str(seq)}
    return f"event: {event.get('event_type', 'error')}\nid: {seq}\ndata: {json.dumps(payload)}\n\n"


__all__ = [
    "EVENT_ADAPTER",
    "TERMINAL_EVENT",
    "ArgumentsDelta",
    "Delta",
    "ErrorEvent",
    "ErrorInfo",
    "Event",
    "ImageDelta",
    "InteractionCancelled",
    "InteractionCompleted",
    "InteractionCreated",
    "InteractionRef",
    "StatusUpdate",
    "StepDelta",
    "StepStart",
    "StepStop",
    "TextAnnotationDelta",
    "TextContent",
    "TextDelta",
    "ThoughtSignatureDelta",
    "ThoughtStep",
    "ThoughtSummaryDelta",
    "Usage",
    "dump_event",
    "dump_step",
    "fold_steps",
    "render_event",
]
