"""What a claimed interaction's log says about earlier attempts to run it.

An interaction whose process died (or shut down past its grace period) keeps its log: this turn's
input, every step already emitted, and one ``interaction.status_update`` per attempt. The next
owner resumes from there: it closes steps left open, hands the steps to the runner (which continues
after them) and writes new steps at the following indexes, so no step is ever logged twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.steps import Step, parse_stored
from runtime.store import InteractionRecord, StoredEvent
from runtime.wire import InteractionStatus, fold_steps


@dataclass(frozen=True)
class Resumption:
    attempts: int
    """How many times a worker already started this interaction (0: a fresh run)."""
    steps: list[Step] = field(default_factory=list)
    """The steps already generated in this turn, in index order."""
    open_indexes: list[int] = field(default_factory=list)
    """Steps started but never stopped (the process died while streaming them)."""


def resumption(record: InteractionRecord, events: list[StoredEvent]) -> Resumption:
    logged = [e.event for e in events]
    attempts = sum(
        1
        for e in logged
        if e.get("event_type") == "interaction.status_update"
        and e.get("status") == InteractionStatus.IN_PROGRESS
    )
    started = {e["index"] for e in logged if e.get("event_type") == "step.start"}
    stopped = {e["index"] for e in logged if e.get("event_type") == "step.stop"}
    steps = parse_stored(fold_steps(logged, first_index=len(record.input)))
    return Resumption(attempts=attempts, steps=steps, open_indexes=sorted(started - stopped))
