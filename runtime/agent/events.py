"""What the loop tells its sink, the moment it happens. ``StepAdded`` is state; a step whose
content streams is announced first by ``StepStarted`` (same index, empty content) and its text by
``TextDelta``s, then completed by its ``StepAdded``. The rest is live display (a long command's
output)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from runtime import steps as s
from runtime.llm.base import Usage
from runtime.wire import InteractionStatus

RunStatus = InteractionStatus
"""How a run ended: ``completed``, ``failed``, ``cancelled``, ``budget_exceeded``, ``incomplete``
or ``requires_action`` (the interaction statuses, one enum for every layer)."""


@dataclass(frozen=True)
class StepAdded:
    """A step exists (or a started one is complete): persist it before showing it."""

    index: int
    step: s.Step


@dataclass(frozen=True)
class StepStarted:
    """A step whose content streams has begun: ``step`` is empty, ``TextDelta``s fill it, a
    ``StepAdded`` at the same index completes it."""

    index: int
    step: s.Step


@dataclass(frozen=True)
class TextDelta:
    """Model text or a thought summary as it streams in, for the started step at ``index``."""

    index: int
    kind: Literal["text", "thought"]
    text: str


@dataclass(frozen=True)
class ToolProgress:
    """Output of a running tool call."""

    call_id: str
    text: str


@dataclass(frozen=True)
class ToolStarted:
    call_id: str
    name: str


LoopEvent = StepAdded | StepStarted | TextDelta | ToolProgress | ToolStarted
Sink = Callable[[LoopEvent], Awaitable[None]]


@dataclass
class RunResult:
    status: RunStatus
    reason: str
    """Why the run ended, in a sentence (every terminal status carries one)."""
    usage: Usage = field(default_factory=Usage)
    steps_added: int = 0
    final_text: str = ""
    model_turns: int = 0
