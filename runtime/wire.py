"""The Interactions API vocabulary every layer shares, in one place so no second copy drifts:

* :class:`InteractionStatus`, the status values of spec §4.1 (the loop's run statuses among them);
* the step folder: the ``step.*`` events of an interaction's log back into its steps
  (:func:`fold_steps`, spec §6) — what ``GET``, follow-up turns and resumed runs read;
* :func:`describe`, the one formatter of validation errors into a short message naming fields.

The step types are :mod:`runtime.steps`; the event types :mod:`runtime.worker.events`; steps
become the model's history in :mod:`runtime.agent.history`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError


class InteractionStatus(enum.StrEnum):
    """An interaction's ``status`` (spec §4.1)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    REQUIRES_ACTION = "requires_action"
    """Paused until the caller answers its ``function_call`` steps."""
    REQUIRES_CONTINUATION = "requires_continuation"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    """Stopped early: the wall-clock limit, or ``max_output_tokens``."""
    BUDGET_EXCEEDED = "budget_exceeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    IDLE = "idle"
    """In SDK 3.6's enum (live interactions); Hangar never sets it."""

    @property
    def is_error(self) -> bool:
        """Whether the run ended without its answer (it carries an error with the reason)."""
        return self in _ERRORS


_ERRORS = frozenset(
    {InteractionStatus.FAILED, InteractionStatus.INCOMPLETE, InteractionStatus.BUDGET_EXCEEDED}
)

STOPPED = frozenset(
    {
        InteractionStatus.COMPLETED,
        InteractionStatus.FAILED,
        InteractionStatus.CANCELLED,
        InteractionStatus.BUDGET_EXCEEDED,
        InteractionStatus.INCOMPLETE,
        InteractionStatus.REQUIRES_ACTION,
    }
)
"""The statuses a run stops in (ended, or paused for the caller): a live reader stops following."""

# --- the error formatter -------------------------------------------------------------------------


_UNION_TAGS = frozenset({"string", "object", "list"})
"""Branch tags of the wire models' string/object/list unions, which pydantic puts in error locations."""


def field_path(loc: Iterable[int | str], root: str = "") -> str:
    """``("steps", 0, "content")`` as ``steps[0].content`` (prefixed by ``root``; union branch
    tags left out, so the path names the caller's field)."""
    path = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc if p not in _UNION_TAGS)
    return path.lstrip(".")


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def describe(e: ValidationError, root: str = "", *, limit: int = 3) -> str:
    """A short, human message for a pydantic error: the first ``limit`` fields and what is wrong."""
    return describe_errors(e.errors(include_url=False), root, limit=limit)


def describe_errors(errors: Sequence[Mapping[str, Any]], root: str = "", *, limit: int = 3) -> str:
    """:func:`describe` for errors already listed (FastAPI's ``RequestValidationError.errors()``)."""
    parts = [f"{field_path(err.get('loc', ()), root) or 'body'}: {_message(str(err.get('msg', 'invalid')))}"
             for err in errors[:limit]]
    more = len(errors) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


# --- the step folder -----------------------------------------------------------------------------


class StepFolder:
    """Builds steps (wire JSON) from ``step.*`` events as they come: a step is what its
    ``step.start`` carried plus its deltas — text and thought summaries joined, a signature set,
    ``arguments_delta`` fragments parsed as the call's JSON arguments. Live readers (the CLI) and
    :func:`fold_steps` (the whole log) share it, so a streamed step reads the same everywhere."""

    def __init__(self) -> None:
        self._steps: dict[int, dict[str, Any]] = {}
        self._arguments: dict[int, str] = {}

    def add(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Apply one event; returns the step a ``step.stop`` completed."""
        kind = event.get("event_type")
        index = event.get("index")
        if not isinstance(index, int):
            return None
        if kind == "step.start":
            self._steps[index] = dict(event["step"])
        elif kind == "step.delta" and index in self._steps:
            _apply_delta(self._steps[index], event["delta"], self._arguments, index)
        elif kind == "step.stop":
            return self.step(index)
        return None

    def step(self, index: int) -> dict[str, Any] | None:
        """Step ``index`` as far as its events went (``None`` if it never started)."""
        step = self._steps.get(index)
        if step is None:
            return None
        text = self._arguments.get(index)
        if text is not None:
            try:
                step["arguments"] = json.loads(text)
            except ValueError:
                step["arguments"] = {"_raw": text}
        return step

    def steps(self, first_index: int = 0) -> list[dict[str, Any]]:
        """Every started step from ``first_index`` on, in index order (open ones included)."""
        return [step for i in sorted(self._steps) if i >= first_index and (step := self.step(i))]


def fold_steps(events: Iterable[dict[str, Any]], first_index: int = 0) -> list[dict[str, Any]]:
    """The steps (wire JSON) that the ``step.*`` events of one interaction describe, in order.

    ``first_index`` is the index of the first generated step (after this turn's input steps)."""
    folder = StepFolder()
    for event in events:
        folder.add(event)
    return folder.steps(first_index)


def _apply_delta(step: dict[str, Any], delta: dict[str, Any], arguments: dict[int, str], index: int) -> None:
    kind = delta.get("type")
    if kind == "text":
        content = step.setdefault("content", [])
        if content and content[-1].get("type") == "text" and not content[-1].get("annotations"):
            content[-1] = {**content[-1], "text": content[-1]["text"] + delta["text"]}
        else:
            content.append({"type": "text", "text": delta["text"]})
    elif kind == "thought_summary" and delta.get("content"):
        summary = step.setdefault("summary", [])
        block = delta["content"]
        if summary and block.get("type") == "text" and summary[-1].get("type") == "text":
            summary[-1] = {**summary[-1], "text": summary[-1]["text"] + block.get("text", "")}
        else:
            summary.append(block)
    elif kind == "thought_signature" and delta.get("signature"):
        step["signature"] = delta["signature"]
    elif kind == "text_annotation_delta" and delta.get("annotations"):
        content = step.setdefault("content", [])
        if not content or content[-1].get("type") != "text":
            content.append({"type": "text", "text": ""})
        notes = [*content[-1].get("annotations", []), *delta["annotations"]]
        content[-1] = {**content[-1], "annotations": notes}
    elif kind in ("image", "audio", "video", "document"):
        step.setdefault("content", []).append(dict(delta))
    elif kind == "arguments_delta":
        arguments[index] = arguments.get(index, "") + (delta.get("arguments") or "")
