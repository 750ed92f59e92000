"""Events written together (a whole step at once, a status written while the run starts), on every
backend: a batch is all or none and fenced like one event; the worker's log writer keeps the order
the events were asked for; PostgreSQL announces each event of a batch to the other processes."""

from __future__ import annotations

import asyncio

import pytest
from pg_cluster import Cluster
from sqlalchemy.exc import IntegrityError
from test_store_interactions import insert

from runtime.errors import InfraError
from runtime.steps import ModelOutputStep
from runtime.store import Lease, LeaseLost, Store, StoredEvent
from runtime.worker.broker import Broker
from runtime.worker.events import StatusUpdate, StepStart, StepStop
from runtime.worker.worker import LogWriter


def step(index: int) -> dict[str, object]:
    return {"event_type": "step.start", "index": index, "step": {"type": "model_output"}}


async def test_a_batch_takes_consecutive_numbers(store: Store) -> None:
    repo = store.interactions
    await insert(store, "int_b1")
    claimed = await repo.claim("w", 30)
    assert claimed is not None
    await repo.append_events("int_b1", 2, [step(1), step(2), step(3)], lease=Lease("w", claimed.lease_epoch))
    logged = await repo.events_after("int_b1", 1)
    assert [(e.seq, e.event["index"]) for e in logged] == [(2, 1), (3, 2), (4, 3)]


async def test_a_stale_owners_batch_writes_nothing(store: Store) -> None:
    repo = store.interactions
    await insert(store, "int_b2")
    stale = await repo.claim("stale", 0.01)
    assert stale is not None
    await asyncio.sleep(0.05)
    assert await repo.claim("fresh", 30, "int_b2") is not None
    with pytest.raises(LeaseLost):
        await repo.append_events("int_b2", 2, [step(1), step(2)], lease=Lease("stale", stale.lease_epoch))
    assert await repo.last_seq("int_b2") == 1


async def test_a_batch_meeting_a_taken_number_writes_none_of_its_events(store: Store) -> None:
    repo = store.interactions
    await insert(store, "int_b3")
    await repo.append_event("int_b3", 3, step(2))  # number 3 is taken: the batch 2..4 collides
    with pytest.raises(IntegrityError):
        await repo.append_events("int_b3", 2, [step(1), step(2), step(3)])
    assert [e.seq for e in await repo.events_after("int_b3")] == [1, 3]


async def test_the_log_writer_keeps_the_order_writes_were_asked_in(store: Store) -> None:
    """A write started in the background (``soon``) goes before the writes asked for after it,
    even those awaited at once; readers get them in the same order."""
    repo = store.interactions
    await insert(store, "int_b4")
    claimed = await repo.claim("w", 30)
    assert claimed is not None
    broker = Broker()
    with broker.subscribe("int_b4") as live:
        writer = LogWriter(store, broker, "int_b4", 1, Lease("w", claimed.lease_epoch))
        status = writer.soon(StatusUpdate(interaction_id="int_b4", status="in_progress"))
        await writer(StepStop(index=7))  # asked for after the status: written after it
        await writer.many([StepStart(index=1, step=ModelOutputStep()), StepStop(index=1)])
        await status
        published = [live.get_nowait() for _ in range(live.qsize())]
    kinds = ["interaction.status_update", "step.stop", "step.start", "step.stop"]
    logged = await repo.events_after("int_b4", 1)
    assert [e.event["event_type"] for e in logged] == kinds
    assert [(e.seq, e.event) for e in published] == [(e.seq, e.event) for e in logged]


async def test_a_refused_background_write_marks_the_log_lost(store: Store) -> None:
    repo = store.interactions
    await insert(store, "int_b5")
    stale = await repo.claim("stale", 0.01)
    assert stale is not None
    await asyncio.sleep(0.05)
    assert await repo.claim("fresh", 30, "int_b5") is not None
    lost = asyncio.Event()
    writer = LogWriter(store, Broker(), "int_b5", 1, Lease("stale", stale.lease_epoch), lost)
    status = writer.soon(StatusUpdate(interaction_id="int_b5", status="in_progress"))
    with pytest.raises(InfraError):
        await status
    assert lost.is_set()
    with pytest.raises(InfraError):  # the writes after it are refused too
        await writer(StepStop(index=1))
    assert await repo.last_seq("int_b5") == 1


async def test_postgresql_announces_every_event_of_a_batch(pg_cluster: Cluster) -> None:
    """(SQLite has no notifications: one process.)"""
    store = Store(pg_cluster.url(await pg_cluster.create_database()))
    await store.open()
    try:
        await _announced(store)
    finally:
        await store.close()


async def _announced(store: Store) -> None:
    repo = store.interactions
    await insert(store, "int_b6")
    heard: list[StoredEvent] = []
    all_heard = asyncio.Event()

    def on_event(interaction_id: str, event: StoredEvent) -> None:
        heard.append(event)
        if len(heard) == 3:
            all_heard.set()

    listener = await store.listen(on_event, lambda interaction_id: interaction_id == "int_b6")
    assert listener is not None
    try:
        await repo.append_events("int_b6", 2, [step(1), step(2), step(3)])
        await asyncio.wait_for(all_heard.wait(), 10)
    finally:
        await listener.stop()
    assert [(e.seq, e.event["index"]) for e in heard] == [(2, 1), (3, 2), (4, 3)]
