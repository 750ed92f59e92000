"""What the loop tells its sink, the moment it happens. Only ``StepAdded`` is state: the rest is
live display (text as the model writes it, a long command's output)."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from runtime import steps as s
from runtime.llm.base import Usage


class RunStatus(enum.StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    BUDGET_EXCEEDED = "budget_exceeded"
    INCOMPLETE = "incomplete"
    REQUIRES_ACTION = "requires_action"


@dataclass(frozen=True)
class StepAdded:
    """A step exists: persist it before showing it."""

    index: int
    step: s.Step


@dataclass(frozen=True)
class TextDelta:
    """Model text or a thought summary as it streams in (belongs to the next step of that kind)."""

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


LoopEvent = StepAdded | TextDelta | ToolProgress | ToolStarted
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
