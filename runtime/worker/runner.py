"""The seam between the worker and what executes an interaction.

A :class:`Runner` gets a :class:`RunInput` (the interaction, this turn's input steps, the earlier
turns), an ``emit`` callback and a cancel event. It emits ``step.*`` events through ``emit`` (each
is in the log once ``emit`` returns) and returns a :class:`RunResult`. The worker owns the rest of
the lifecycle: the status update when the run starts, the lease, the terminal status and the
``interaction.completed`` event. On cancel the worker also cancels the runner's task, so a runner
only needs ``cancel`` to stop cooperatively between two awaits, and ``finally`` blocks to clean up.
The same cancellation happens at shutdown past the grace period; the run is then resumed by the
next worker from ``RunInput.resumed_steps``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from runtime.steps import FunctionCallStep, ImageContent, ModelOutputStep, Step, TextContent
from runtime.store import InteractionRecord
from runtime.wire import InteractionStatus
from runtime.worker.events import (
    ArgumentsDelta,
    Delta,
    ErrorInfo,
    Event,
    ImageDelta,
    StepDelta,
    StepStart,
    StepStop,
    TextAnnotationDelta,
    ThoughtSignatureDelta,
    Usage,
)

Emit = Callable[[Event], Awaitable[None]]


@runtime_checkable
class BatchEmit(Protocol):
    """An :data:`Emit` that can also log several events in one write (the worker's log writer)."""

    async def __call__(self, event: Event) -> None: ...

    async def many(self, events: Sequence[Event]) -> None:
        """Log ``events`` together, in order (all or none), then publish them."""
        ...


class InteractionConfig(BaseModel):
    """What the create request asked for besides input: echoed back on the interaction."""

    model_config = ConfigDict(extra="allow")

    system_instruction: str | None = None
    tools: list[dict[str, Any]] | None = None
    generation_config: dict[str, Any] | None = None
    agent_config: dict[str, Any] | None = None
    environment: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | list[dict[str, Any]] | None = None
    response_mime_type: str | None = None
    response_modalities: list[str] | None = None
    safety_settings: list[dict[str, Any]] | None = None
    service_tier: str | None = None
    labels: dict[str, str] | None = None
    webhook_config: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunInput:
    interaction: InteractionRecord
    config: InteractionConfig
    input_steps: list[Step]
    """This turn's input."""
    history: list[Step] = field(default_factory=list)
    """Steps of the earlier turns (the ``previous_interaction_id`` chain), oldest first."""
    resumed_steps: list[Step] = field(default_factory=list)
    """Steps this turn already produced in an earlier attempt (a run resumed after its process
    stopped). A runner continues after them, or raises ``InfraError`` when it cannot resume."""

    @property
    def conversation(self) -> list[Step]:
        """A new list: earlier turns, this turn's input, then the steps already produced."""
        return [*self.history, *self.input_steps, *self.resumed_steps]


@dataclass(frozen=True)
class RunResult:
    status: str = InteractionStatus.COMPLETED
    """Terminal status, an :class:`InteractionStatus` value: ``completed``, ``failed``,
    ``incomplete``, ``budget_exceeded``, ``requires_action`` (``cancelled`` is the worker's)."""
    usage: Usage | None = None
    error: ErrorInfo | None = None


class Runner(Protocol):
    async def run(self, run: RunInput, emit: Emit, cancel: asyncio.Event) -> RunResult:
        """Execute one interaction. Raise :class:`runtime.errors.HangarError` for infrastructure
        failures (the interaction fails with its code and message)."""
        ...


class RunnerRegistry:
    """Runners keyed by interaction kind (``"model"``, ``"agent"``)."""

    def __init__(self) -> None:
        self._runners: dict[str, Runner] = {}

    def register(self, kind: str, runner: Runner) -> None:
        self._runners[kind] = runner

    def get(self, kind: str) -> Runner | None:
        return self._runners.get(kind)


class StepWriter:
    """Emits ``step.*`` events with the right indexes (after this turn's input steps).

    A ``function_call`` step always starts with empty ``arguments``, which follow as one
    ``arguments_delta`` (spec §6.4: the documented shape of a streamed call)."""

    def __init__(self, emit: Emit, run: RunInput) -> None:
        self._emit = emit
        self._next = len(run.input_steps) + len(run.resumed_steps)

    async def start(self, step: Step) -> int:
        index = self._take()
        await self._emit(StepStart(index=index, step=step))
        return index

    def _take(self) -> int:
        index = self._next
        self._next += 1
        return index

    async def delta(self, index: int, delta: Delta) -> None:
        await self._emit(StepDelta(index=index, delta=delta))

    async def stop(self, index: int, usage: Usage | None = None) -> None:
        await self._emit(StepStop(index=index, usage=usage))

    async def whole(self, step: Step) -> int:
        """Emit a complete step at once (start, the arguments of a call, stop): in one write
        when ``emit`` can (:class:`BatchEmit`), so a reader gets them one write sooner."""
        index = self._take()
        events: list[Event] = []
        if isinstance(step, FunctionCallStep):
            events.append(StepStart(index=index, step=step.model_copy(update={"arguments": {}})))
            events.append(StepDelta(index=index, delta=ArgumentsDelta(arguments=json.dumps(step.arguments))))
        else:
            events.append(StepStart(index=index, step=step))
        events.append(StepStop(index=index))
        if isinstance(self._emit, BatchEmit):
            await self._emit.many(events)
        else:
            for event in events:
                await self._emit(event)
        return index

    async def finish(self, index: int, step: Step) -> None:
        """Complete a started step whose text streamed: the annotations and images its final
        form added (a research answer's citations and charts), its signature, if any, then stop."""
        if isinstance(step, ModelOutputStep):
            for block in step.content or []:
                if isinstance(block, TextContent) and block.annotations:
                    await self.delta(index, TextAnnotationDelta(annotations=block.annotations))
                elif isinstance(block, ImageContent):
                    image = ImageDelta(data=block.data, uri=block.uri, mime_type=block.mime_type)
                    await self.delta(index, image)
        signature = getattr(step, "signature", None)
        if isinstance(signature, str) and signature:
            await self.delta(index, ThoughtSignatureDelta(signature=signature))
        await self.stop(index)
