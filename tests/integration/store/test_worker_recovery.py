"""Crash recovery and graceful shutdown of the worker, on every store backend."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from test_store_interactions import insert

from runtime.steps import ModelOutputStep, Step, TextContent
from runtime.store import InteractionRecord, Store
from runtime.worker import Broker, Emit, RunInput, RunnerRegistry, RunResult, StepWriter, Worker
from runtime.worker.events import StatusUpdate, StepStart, dump_event, fold_steps


class Counting:
    """Writes ``total`` text steps in all, continuing after the steps it is resumed with; can be
    told to hang after writing some (for shutdown tests)."""

    def __init__(self, total: int = 3, hang_after: int | None = None) -> None:
        self.total = total
        self.hang_after = hang_after
        self.resumed: list[list[Step]] = []
        self.hanging = asyncio.Event()

    async def run(self, run: RunInput, emit: Emit, cancel: asyncio.Event) -> RunResult:
        self.resumed.append(list(run.resumed_steps))
        writer = StepWriter(emit, run)
        for n in range(len(run.resumed_steps), self.total):
            if self.hang_after is not None and n == self.hang_after:
                self.hanging.set()
                await asyncio.Event().wait()
            await writer.whole(ModelOutputStep(content=[TextContent(text=f"step {n}")]))
        return RunResult()


async def until_done(store: Store, interaction_id: str, limit: float = 10) -> InteractionRecord:
    async with asyncio.timeout(limit):
        while True:
            record = await store.interactions.get(interaction_id)
            assert record is not None
            if record.status != "in_progress":
                return record
            await asyncio.sleep(0.02)


def worker(store: Store, runner: Counting, **kwargs: float) -> Worker:
    registry = RunnerRegistry()
    registry.register("model", runner)
    options: dict[str, float] = {"poll_seconds": 0.05, "lease_seconds": 1.0, **kwargs}
    return Worker(store, Broker(), registry, **options)  # type: ignore[arg-type]


async def texts(store: Store, interaction_id: str) -> list[str]:
    events = [e.event for e in await store.interactions.events_after(interaction_id)]
    starts = Counter(e["index"] for e in events if e["event_type"] == "step.start")
    assert all(n == 1 for n in starts.values()), f"a step index was logged twice: {starts}"
    return [s["content"][0]["text"] for s in fold_steps(events, first_index=1)]


async def crashed_after_one_step(store: Store, interaction_id: str, lease: float = 0.01) -> None:
    """What a process killed mid-run leaves: a lease that runs out, one step, left open."""
    await insert(store, interaction_id)
    assert await store.interactions.claim("dead", lease, interaction_id) is not None
    log = [
        StatusUpdate(interaction_id=interaction_id, status="in_progress"),
        StepStart(index=1, step=ModelOutputStep(content=[TextContent(text="step 0")])),
    ]
    for seq, event in enumerate(log, start=2):
        await store.interactions.append_event(interaction_id, seq, dump_event(event))
    await asyncio.sleep(0.02)


async def test_interrupted_run_resumes_after_its_last_step(store: Store) -> None:
    await crashed_after_one_step(store, "int_crash")
    runner = Counting(total=3)
    w = worker(store, runner)
    await w.start()
    try:
        record = await until_done(store, "int_crash")
    finally:
        await w.stop()
    assert record.status == "completed"
    assert [len(r) for r in runner.resumed] == [1]
    assert await texts(store, "int_crash") == ["step 0", "step 1", "step 2"]
    kinds = [e.event["event_type"] for e in await store.interactions.events_after("int_crash")]
    assert kinds[:5] == [
        "interaction.created", "interaction.status_update", "step.start",
        "interaction.status_update", "step.stop",  # the second attempt closes the open step
    ]


async def test_expired_leases_of_other_processes_are_reclaimed_while_running(store: Store) -> None:
    await crashed_after_one_step(store, "int_later", lease=0.5)  # expires after we started
    runner = Counting(total=2)
    w = worker(store, runner)
    await w.start()
    try:
        record = await until_done(store, "int_later")
    finally:
        await w.stop()
    assert record.status == "completed"
    assert await texts(store, "int_later") == ["step 0", "step 1"]


async def test_an_interaction_that_keeps_crashing_fails_as_interrupted(store: Store) -> None:
    await crashed_after_one_step(store, "int_doomed")
    w = worker(store, Counting(), max_attempts=1)
    await w.start()
    try:
        record = await until_done(store, "int_doomed")
    finally:
        await w.stop()
    assert record.status == "failed"
    assert record.errors is not None and record.errors[0]["code"] == "interrupted"


async def test_model_interaction_interrupted_mid_answer_fails_clearly(store: Store) -> None:
    from runtime.llm.script import turn
    from runtime.llm.scripted import ScriptedModel
    from runtime.worker.model_runner import ModelRunner

    await crashed_after_one_step(store, "int_model")
    registry = RunnerRegistry()
    registry.register("model", ModelRunner(ScriptedModel([turn("never asked")])))
    w = Worker(store, Broker(), registry, poll_seconds=0.05)
    await w.start()
    try:
        record = await until_done(store, "int_model")
    finally:
        await w.stop()
    assert record.status == "failed"
    assert record.errors is not None and record.errors[0]["code"] == "interrupted"


async def test_shutdown_lets_runs_finish_within_the_grace_period(store: Store) -> None:
    await insert(store, "int_quick")
    w = worker(store, Counting(total=2), grace_seconds=5)
    await w.start()
    await until_done(store, "int_quick")
    await w.stop()
    record = await store.interactions.get("int_quick")
    assert record is not None and record.status == "completed"


async def test_shutdown_past_the_grace_period_leaves_the_run_to_resume(store: Store) -> None:
    await insert(store, "int_slow")
    hanging = Counting(total=3, hang_after=1)
    first = worker(store, hanging, grace_seconds=0.1)
    await first.start()
    async with asyncio.timeout(10):
        await hanging.hanging.wait()
    started = time.monotonic()
    await first.stop()
    assert time.monotonic() - started < 3
    record = await store.interactions.get("int_slow")
    assert record is not None and record.status == "in_progress"  # not failed: resumable

    second_runner = Counting(total=3)
    second = worker(store, second_runner)
    await second.start()  # claims at once: the released lease is already expired
    try:
        record = await until_done(store, "int_slow", limit=5)
    finally:
        await second.stop()
    assert record.status == "completed"
    assert [len(r) for r in second_runner.resumed] == [1]
    assert await texts(store, "int_slow") == ["step 0", "step 1", "step 2"]
