"""One model turn as steps, streamed as it is written.

While the model streams, each run of text deltas (or of thought-summary deltas) opens a step at
once — a ``model_output`` or ``thought`` step with empty content — and every delta is told to the
sink against that step's index. A run of the other kind closes it (steps stream one after the
other, as for model interactions), with exactly the text that streamed; the last run is closed
when the turn is complete, with the thought signature of its parts. (Gemini puts a turn's
signature on its first function call or its last part, so an earlier run has none to lose.) The
turn's other parts become steps after them. Without streaming (or for parts that were not
streamed) consecutive parts of one kind become one step.

Gemini's own searches and URL fetches (:mod:`runtime.agent.grounding`) are known only once the turn
is complete: they come before the answer when nothing was streamed, after the streamed steps
otherwise (their indexes are taken by then).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from runtime import steps as s
from runtime.agent.events import LoopEvent, Sink, StepAdded, StepStarted, TextDelta
from runtime.agent.grounding import grounding_steps
from runtime.agent.history import encode_signature
from runtime.llm.base import FunctionCallPart, ModelTurn, ModelTurnDelta, TextPart, ThoughtPart

Kind = Literal["text", "thought"]
Finalize = Callable[[s.ModelOutputStep], Awaitable[None]]
"""Completes the final answer's step in place before it is closed (citations, charts)."""


class StepLog:
    """The run's steps list and its sink: a step goes to the sink the moment it exists, and a
    streamed step is opened (its index taken) before its content is known."""

    def __init__(self, steps: list[s.Step], sink: Sink | None) -> None:
        self.steps = steps
        self.sink = sink
        self.added = 0

    async def add(self, step: s.Step) -> int:
        self.steps.append(step)
        self.added += 1
        index = len(self.steps) - 1
        await self.emit(StepAdded(index=index, step=step))
        return index

    async def open(self, step: s.Step) -> int:
        """Take the next index for a step whose content will stream; :meth:`close` completes it."""
        self.steps.append(step)
        self.added += 1
        index = len(self.steps) - 1
        await self.emit(StepStarted(index=index, step=step))
        return index

    async def close(self, index: int, step: s.Step) -> None:
        self.steps[index] = step
        await self.emit(StepAdded(index=index, step=step))

    async def emit(self, event: LoopEvent) -> None:
        if self.sink is not None:
            await self.sink(event)


@dataclass
class _Run:
    """One streamed step: its kind, index, streamed text, and the parts it turned out to hold."""

    kind: Kind
    index: int
    text: list[str] = field(default_factory=list)
    parts: list[TextPart | ThoughtPart] = field(default_factory=list)
    closed: bool = False

    def step(self) -> s.Step:
        return _content_step(self.kind, "".join(self.text), self.parts)


def _kind(part: TextPart | ThoughtPart) -> Kind:
    return "thought" if isinstance(part, ThoughtPart) else "text"


def _content_step(kind: Kind, text: str, parts: list[TextPart | ThoughtPart]) -> s.Step:
    sig = next((encode_signature(p.signature) for p in reversed(parts) if p.signature), None)
    if kind == "thought":
        return s.ThoughtStep(signature=sig, summary=[s.TextContent(text=text)] if text else None)
    step = s.ModelOutputStep(content=[s.TextContent(text=text)])
    if sig:
        step.signature = sig  # type: ignore[attr-defined]  # extra field, kept for the history
    return step


class TurnStream:
    """Records one model turn into a :class:`StepLog`: ``on_delta`` while it streams, then
    :meth:`finish` with the complete turn (or :meth:`abandon` when the call failed)."""

    def __init__(self, log: StepLog, finalize: Finalize | None = None) -> None:
        self._log = log
        self._runs: list[_Run] = []
        self._open: _Run | None = None
        self._finalize = finalize
        self._final: object = None
        """The run or part group holding the final answer (of a turn without calls)."""

    async def on_delta(self, delta: ModelTurnDelta) -> None:
        if delta.kind == "code" or delta.kind == "code_result" or not delta.text:
            return  # agents run code in their box; Gemini's own code execution is not sent to them
        run = self._open
        if run is not None and run.kind != delta.kind:
            await self._close(run)
        if run is None or run.kind != delta.kind:
            empty = s.ThoughtStep(summary=[]) if delta.kind == "thought" else s.ModelOutputStep(content=[])
            run = _Run(kind=delta.kind, index=await self._log.open(empty))
            self._runs.append(run)
            self._open = run
        run.text.append(delta.text)
        await self._log.emit(TextDelta(index=run.index, kind=delta.kind, text=delta.text))

    async def finish(self, turn: ModelTurn) -> list[FunctionCallPart]:
        """Close the streamed steps, add the turn's other steps; returns its function calls."""
        unmatched = self._assign(turn)
        if self._finalize is not None and not turn.function_calls:
            groups = [g for g in unmatched if g[0] == "text"]
            runs = [r for r in self._runs if r.kind == "text"]
            self._final = groups[-1] if groups else runs[-1] if runs else None
        grounding = grounding_steps(turn, len(self._log.steps))
        streamed = bool(self._runs)
        if not streamed:
            for step in grounding:  # they ran before the model answered
                await self._log.add(step)
        await self._close_runs()
        for group in unmatched:
            kind, parts = group
            step = _content_step(kind, "".join(p.text for p in parts), parts)
            await self._log.add(await self._finished(group, step))
        if streamed:
            for step in grounding:
                await self._log.add(step)
        if not turn.parts and turn.finish_reason not in (None, "STOP"):
            error = s.Status(message=f"model stopped: {turn.finish_reason}")
            await self._log.add(s.ModelOutputStep(error=error))
        return turn.function_calls

    async def abandon(self) -> None:
        """The call failed mid-stream: close the open steps with what was streamed."""
        self._final = None
        await self._close_runs()

    async def _close_runs(self) -> None:
        runs, self._runs, self._open = self._runs, [], None
        for run in runs:
            if not run.closed:
                await self._close(run)

    async def _close(self, run: _Run) -> None:
        run.closed = True
        await self._log.close(run.index, await self._finished(run, run.step()))

    async def _finished(self, source: object, step: s.Step) -> s.Step:
        if source is self._final and self._finalize is not None and isinstance(step, s.ModelOutputStep):
            self._final = None
            await self._finalize(step)
        return step

    def _assign(self, turn: ModelTurn) -> list[tuple[Kind, list[TextPart | ThoughtPart]]]:
        """Give each text or thought part to the streamed run it came in (same order, same kind);
        parts that were not streamed are grouped by kind, a function call ending a group."""
        upcoming = list(self._runs)
        current: _Run | None = None
        groups: list[tuple[Kind, list[TextPart | ThoughtPart]]] = []
        group_open = False
        for part in turn.parts:
            if not isinstance(part, TextPart | ThoughtPart):
                group_open = False
                continue
            kind = _kind(part)
            if current is not None and current.kind == kind:
                current.parts.append(part)
            elif upcoming and upcoming[0].kind == kind:
                current = upcoming.pop(0)
                current.parts.append(part)
            elif group_open and groups[-1][0] == kind:
                groups[-1][1].append(part)
            else:
                groups.append((kind, [part]))
                group_open = True
        return groups
