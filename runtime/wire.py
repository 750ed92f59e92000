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
from collections.abc import Iterable
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

# --- the error formatter -------------------------------------------------------------------------


def field_path(loc: Iterable[int | str], root: str = "") -> str:
    """``("steps", 0, "content")`` as ``steps[0].content`` (prefixed by ``root``)."""
    path = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    return path.lstrip(".")


def describe(e: ValidationError, root: str = "", *, limit: int = 3) -> str:
    """A short, human message for a pydantic error: the first ``limit`` fields and what is wrong."""
    errors = e.errors(include_url=False)[:limit]
    parts = [f"{field_path(err['loc'], root) or 'body'}: {err['msg']}" for err in errors]
    more = e.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


# --- the step folder -----------------------------------------------------------------------------


def fold_steps(events: Iterable[dict[str, Any]], first_index: int = 0) -> list[dict[str, Any]]:
    """The steps (wire JSON) that the ``step.*`` events of one interaction describe, in order.

    ``first_index`` is the index of the first generated step (after this turn's input steps). A
    step is what its ``step.start`` carried plus its deltas: text and thought summaries joined,
    a signature set, ``arguments_delta`` fragments parsed as the call's JSON arguments."""
    steps: dict[int, dict[str, Any]] = {}
    arguments: dict[int, str] = {}
    for event in events:
        kind = event.get("event_type")
        index = event.get("index")
        if not isinstance(index, int):
            continue
        if kind == "step.start":
            steps[index] = dict(event["step"])
        elif kind == "step.delta" and index in steps:
            _apply_delta(steps[index], event["delta"], arguments, index)
    for index, text in arguments.items():
        try:
            steps[index]["arguments"] = json.loads(text)
        except ValueError:
            steps[index]["arguments"] = {"_raw": text}
    return [steps[i] for i in sorted(steps) if i >= first_index]


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
    elif kind == "arguments_delta":
        arguments[index] = arguments.get(index, "") + (delta.get("arguments") or "")
