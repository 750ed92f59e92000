"""A whole step goes to a log that can batch (the worker's) in one write; to a plain ``emit``,
event by event. Either way the events and their indexes are the same, and fold back to the step."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from runtime import steps as s
from runtime.worker.events import Event, dump_event, fold_steps
from runtime.worker.runner import BatchEmit, StepWriter


class Batching:
    def __init__(self) -> None:
        self.writes: list[list[dict[str, Any]]] = []

    async def __call__(self, event: Event) -> None:
        self.writes.append([dump_event(event)])

    async def many(self, events: Sequence[Event]) -> None:
        self.writes.append([dump_event(e) for e in events])


def _run() -> Any:
    user = s.UserInputStep(content=[s.TextContent(text="go")])
    return SimpleNamespace(input_steps=[user], resumed_steps=[])


CALL = s.FunctionCallStep(id="c1", name="lookup", arguments={"q": "x"})
RESULT = s.FunctionResultStep(call_id="c1", name="lookup", result="found")


async def test_a_whole_step_is_one_write_to_a_batching_log() -> None:
    log = Batching()
    assert isinstance(log, BatchEmit)
    writer = StepWriter(log, _run())
    assert await writer.whole(CALL) == 1
    assert await writer.whole(RESULT) == 2
    kinds = [[e["event_type"] for e in write] for write in log.writes]
    assert kinds == [["step.start", "step.delta", "step.stop"], ["step.start", "step.stop"]]
    events = [e for write in log.writes for e in write]
    assert fold_steps(events, first_index=1) == s.dump_steps([CALL, RESULT])


async def test_a_plain_emit_gets_the_same_events_one_by_one() -> None:
    batching, plain = Batching(), []

    async def emit(event: Event) -> None:
        plain.append(dump_event(event))

    assert not isinstance(emit, BatchEmit)
    for log in (batching, emit):
        writer = StepWriter(log, _run())
        await writer.whole(CALL)
        await writer.whole(RESULT)
    assert plain == [e for write in batching.writes for e in write]
