"""Worker leases and the event log, on a real SQLite store (no HTTP)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.steps import ModelOutputStep, TextContent
from runtime.store import DEFAULT_PROJECT, InteractionRecord, Store
from runtime.worker import Broker, Emit, RunInput, RunnerRegistry, RunResult, StepWriter, Worker
from runtime.worker.events import TextDelta, fold_steps


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'hangar.db'}")
    await store.open()
    yield store
    await store.close()


def _record(interaction_id: str, kind: str = "model") -> InteractionRecord:
    now = time.time()
    return InteractionRecord(
        id=interaction_id, project_id=DEFAULT_PROJECT, kind=kind, target="m", status="in_progress",
        input=[{"type": "user_input", "content": [{"type": "text", "text": "hi"}]}], config={},
        previous_interaction_id=None, environment_id=None, usage=None, errors=None, background=True,
        store=True, created=now, updated=now,
    )


async def _insert(store: Store, interaction_id: str, kind: str = "model") -> None:
    ref = {"id": interaction_id, "status": "in_progress"}
    event = {"event_type": "interaction.created", "interaction": ref}
    await store.interactions.insert(_record(interaction_id, kind), event)


class EchoRunner:
    async def run(self, run: RunInput, emit: Emit, cancel: asyncio.Event) -> RunResult:
        steps = StepWriter(emit, run)
        index = await steps.start(ModelOutputStep(content=[]))
        await steps.delta(index, TextDelta(text="he"))
        await steps.delta(index, TextDelta(text="llo"))
        await steps.stop(index)
        return RunResult()


async def _until_done(store: Store, interaction_id: str) -> InteractionRecord:
    async with asyncio.timeout(5):
        while True:
            record = await store.interactions.get(interaction_id)
            assert record is not None
            if record.status != "in_progress":
                return record
            await asyncio.sleep(0.02)


async def test_expired_lease_is_resumed_at_start_up(store: Store) -> None:
    await _insert(store, "int_crashed")
    claimed = await store.interactions.claim("dead-worker", lease_seconds=0.01)
    assert claimed is not None
    await asyncio.sleep(0.05)
    registry = RunnerRegistry()
    registry.register("model", EchoRunner())
    worker = Worker(store, Broker(), registry, poll_seconds=0.05)
    await worker.start()
    try:
        record = await _until_done(store, "int_crashed")
    finally:
        await worker.stop()
    assert record.status == "completed"
    events = [e.event["event_type"] for e in await store.interactions.events_after("int_crashed")]
    assert events[0] == "interaction.created"
    assert events[-1] == "interaction.completed"


async def test_runner_events_are_logged_and_folded_into_steps(store: Store) -> None:
    registry = RunnerRegistry()
    registry.register("model", EchoRunner())
    worker = Worker(store, Broker(), registry, poll_seconds=0.05)
    await worker.start()
    try:
        await _insert(store, "int_echo")
        worker.submit()
        record = await _until_done(store, "int_echo")
    finally:
        await worker.stop()
    assert record.status == "completed"
    events = [e.event for e in await store.interactions.events_after("int_echo")]
    assert [e["event_type"] for e in events] == [
        "interaction.created", "interaction.status_update", "step.start", "step.delta", "step.delta",
        "step.stop", "interaction.completed",
    ]
    assert fold_steps(events, first_index=1) == [
        ModelOutputStep(content=[TextContent(text="hello")]).model_dump(exclude_none=True)
    ]


async def test_agent_without_runner_fails_with_clear_message(store: Store) -> None:
    worker = Worker(store, Broker(), RunnerRegistry(), poll_seconds=0.05)
    await worker.start()
    try:
        await _insert(store, "int_agent", kind="agent")
        worker.submit()
        record = await _until_done(store, "int_agent")
    finally:
        await worker.stop()
    assert record.status == "failed"
    assert record.errors == [{"code": "not_implemented", "message": "agent runs are not wired yet"}]


async def test_cancel_of_unclaimed_interaction_is_immediate_and_idempotent(store: Store) -> None:
    worker = Worker(store, Broker(), RunnerRegistry())  # not started: nothing claims
    await _insert(store, "int_queued")
    record = await store.interactions.get("int_queued")
    assert record is not None
    await worker.cancel(record)
    await worker.cancel(record)
    after = await store.interactions.get("int_queued")
    assert after is not None
    assert after.status == "cancelled"
    events = [e.event["event_type"] for e in await store.interactions.events_after("int_queued")]
    assert events == ["interaction.created", "interaction.cancelled", "interaction.completed"]
