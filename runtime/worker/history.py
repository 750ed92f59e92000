"""The steps of stored interactions: this turn's input steps followed by those folded from the log."""

from __future__ import annotations

from typing import Any

from runtime.errors import InputError
from runtime.steps import Step, parse_steps
from runtime.store import InteractionRecord, StoredEvent
from runtime.store.interactions import InteractionRepo
from runtime.wire import fold_steps

MAX_CHAIN = 1000


def steps_of(record: InteractionRecord, events: list[StoredEvent]) -> list[dict[str, Any]]:
    """Wire JSON of every step of ``record``, given its log."""
    generated = fold_steps((e.event for e in events), first_index=len(record.input))
    return [*record.input, *generated]


async def load_history(repo: InteractionRepo, record: InteractionRecord) -> list[Step]:
    """The steps of the earlier turns (``previous_interaction_id`` chain), oldest first.

    Raises :class:`InputError` when the chain is broken (an earlier interaction was deleted)."""
    turns: list[list[dict[str, Any]]] = []
    seen = {record.id}
    previous_id = record.previous_interaction_id
    while previous_id is not None:
        if previous_id in seen or len(seen) > MAX_CHAIN:
            raise InputError(f"previous_interaction_id chain of {record.id} loops or is too long")
        seen.add(previous_id)
        previous = await repo.get(previous_id, record.project_id)
        if previous is None:
            raise InputError(f"previous interaction {previous_id} no longer exists", code="not_found")
        turns.append(steps_of(previous, await repo.events_after(previous.id)))
        previous_id = previous.previous_interaction_id
    return parse_steps([step for turn in reversed(turns) for step in turn])
