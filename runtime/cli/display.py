"""Live display of a run for people: each step as it happens, a spinner while a tool runs."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.status import Status

from runtime import steps as s
from runtime.agent.events import LoopEvent, StepAdded, TextDelta, ToolProgress, ToolStarted
from runtime.agent.planning import plan_of

PREVIEW = 400


def _short(text: str, limit: int = PREVIEW) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more characters]"


def _result_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, list):
        return "\n".join(b.text if isinstance(b, s.TextContent) else f"[{b.type}]" for b in result)
    return json.dumps(result, ensure_ascii=False)


def describe(step: s.Step) -> str | None:
    """One rich-markup line (or a few) for a step; ``None`` for the user's own input."""
    if isinstance(step, s.ThoughtStep):
        text = " ".join(c.text for c in step.summary or [] if isinstance(c, s.TextContent))
        return f"[dim italic]thinking: {escape(_short(text, 200))}[/]" if text else None
    if isinstance(step, s.ModelOutputStep):
        if step.error is not None:
            return f"[red]model error: {escape(str(step.error))}[/]"
        return "[bold]model:[/] " + escape(
            "".join(c.text for c in step.content or [] if isinstance(c, s.TextContent))
        )
    if isinstance(step, s.CodeExecutionCallStep):
        return f"[cyan]▶ {step.arguments.language}[/] {escape(_short(step.arguments.code or '', 300))}"
    if (plan := plan_of(step)) is not None:
        return "[bold magenta]plan:[/]\n" + escape(plan.rstrip())
    if isinstance(step, s.FunctionCallStep):
        return f"[cyan]▶ {step.name}[/] {escape(_short(json.dumps(step.arguments, ensure_ascii=False), 300))}"
    if isinstance(step, s.CodeExecutionResultStep | s.FunctionResultStep):
        colour = "red" if step.is_error else "green"
        return f"[{colour}]◀[/] [dim]{escape(_short(_result_text(step.result)))}[/]"
    if isinstance(step, s.GoogleSearchCallStep):
        return f"[cyan]▶ google_search[/] {escape(', '.join(step.arguments.queries or []))}"
    return None


class LiveDisplay:
    """A run's sink for people. ``quiet`` shows nothing but the final answer (printed by the caller)."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self._status: Status | None = None

    async def __call__(self, event: LoopEvent) -> None:
        if self.quiet:
            return
        if isinstance(event, ToolStarted):
            self._stop_spinner()
            self._status = self.console.status(f"running {event.name} …", spinner="dots")
            self._status.start()
        elif isinstance(event, ToolProgress) and self._status is not None:
            last = event.text.strip().splitlines()[-1:] or [""]
            self._status.update(f"running … {escape(_short(last[0], 80))}")
        elif isinstance(event, StepAdded):
            if isinstance(event.step, s.CodeExecutionResultStep | s.FunctionResultStep):
                self._stop_spinner()
            line = describe(event.step)
            if line:
                self.console.print(line)
        elif isinstance(event, TextDelta):
            pass  # whole steps are printed when they land; deltas matter to streaming API readers

    def close(self) -> None:
        self._stop_spinner()

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
