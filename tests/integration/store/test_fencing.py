"""Fenced leases, on every backend: once a run is taken over, the stale owner's writes (events,
renewals, the terminal status, a release) are refused, and the log holds each step once, in order."""

from __future__ import annotations

import asyncio

import pytest
from test_store_interactions import insert

from runtime.store import Lease, LeaseLost, Store


def step(index: int) -> dict[str, object]:
    return {"event_type": "step.start", "index": index, "step": {"type": "model_output"}}


async def test_a_stale_owner_cannot_write_after_a_takeover(store: Store) -> None:
    repo = store.interactions
    await insert(store, "int_f")
    stale = await repo.claim("stale", 0.01)
    assert stale is not None and stale.lease_epoch == 1
    stale_lease = Lease("stale", stale.lease_epoch)
    await repo.append_event("int_f", 2, step(1), lease=stale_lease)
    await asyncio.sleep(0.05)  # the stale owner stalls past its lease

    fresh = await repo.claim("fresh", 30, "int_f")
    assert fresh is not None and fresh.lease_epoch == 2
    fresh_lease = Lease("fresh", fresh.lease_epoch)

    with pytest.raises(LeaseLost):  # its next step, at the seq it believes is next
        await repo.append_event("int_f", 3, step(2), lease=stale_lease)
    await repo.append_event("int_f", 3, step(2), lease=fresh_lease)
    with pytest.raises(LeaseLost):  # nor later, at any seq
        await repo.append_event("int_f", 4, step(3), lease=stale_lease)
    assert await repo.renew("int_f", "stale", 30, epoch=stale_lease.epoch) is None
    assert await repo.release("int_f", "stale", epoch=stale_lease.epoch) is False
    assert await repo.finish("int_f", "completed", owner="stale", epoch=stale_lease.epoch) is False

    await repo.append_event("int_f", 4, step(3), lease=fresh_lease)
    assert await repo.finish("int_f", "completed", owner="fresh", epoch=fresh_lease.epoch) is True
    completed = {"event_type": "interaction.completed", "interaction": {"id": "int_f"}}
    with pytest.raises(LeaseLost):
        await repo.append_event("int_f", 5, completed, lease=stale_lease)
    await repo.append_event("int_f", 5, completed, lease=fresh_lease)  # the owner ends its log
    indexes = [e.event.get("index") for e in await repo.events_after("int_f", 1)]
    assert indexes == [1, 2, 3, None]


async def test_a_cancel_of_an_expired_lease_fences_its_owner(store: Store) -> None:
    repo = store.interactions
    await insert(store, "int_c")
    stale = await repo.claim("stale", 0.01)
    assert stale is not None
    await asyncio.sleep(0.05)
    assert await repo.finish("int_c", "cancelled", owner=None) is True  # nobody holds a live lease
    with pytest.raises(LeaseLost):
        await repo.append_event("int_c", 2, step(1), lease=Lease("stale", stale.lease_epoch))


async def test_the_same_owner_reclaiming_gets_a_new_epoch(store: Store) -> None:
    """The fence is the epoch, not the owner's name: a process that lost its lease and claims
    the run again (a new task) does not let the old task write."""
    repo = store.interactions
    await insert(store, "int_g")
    first = await repo.claim("w", 0.01)
    assert first is not None
    await asyncio.sleep(0.05)
    second = await repo.claim("w", 30, "int_g")
    assert second is not None and second.lease_epoch == first.lease_epoch + 1
    with pytest.raises(LeaseLost):
        await repo.append_event("int_g", 2, step(1), lease=Lease("w", first.lease_epoch))
    await repo.append_event("int_g", 2, step(1), lease=Lease("w", second.lease_epoch))


async def test_concurrent_takeover_and_stale_writes_never_interleave(store: Store) -> None:
    """A stale writer racing a takeover: every write of it lands before the takeover or is
    refused; the log stays gap-free, each seq written once."""
    repo = store.interactions
    await insert(store, "int_r")
    stale = await repo.claim("stale", 0.01)
    assert stale is not None
    stale_lease = Lease("stale", stale.lease_epoch)
    await asyncio.sleep(0.05)
    written: list[int] = []

    async def stale_writer() -> None:
        for seq in range(2, 200):
            try:
                await repo.append_event("int_r", seq, step(seq - 1), lease=stale_lease)
            except LeaseLost:
                return
            written.append(seq)

    async def take_over() -> int:
        await asyncio.sleep(0.02)
        # PostgreSQL's claim skips the row while a write holds its lock: the worker's next poll
        # claims it then.
        while (fresh := await repo.claim("fresh", 30, "int_r")) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        return fresh.lease_epoch

    epoch = (await asyncio.gather(stale_writer(), take_over()))[1]
    last = await repo.last_seq("int_r")
    assert written == list(range(2, last + 1))  # nothing written after the refusal
    await repo.append_event("int_r", last + 1, step(last), lease=Lease("fresh", epoch))
    seqs = [e.seq for e in await repo.events_after("int_r")]
    assert seqs == list(range(1, last + 2))
