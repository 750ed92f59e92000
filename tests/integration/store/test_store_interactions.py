"""The interaction store on every backend: leases, reclaiming expired ones, the event log, retention."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy.exc import IntegrityError

from runtime.store import DEFAULT_PROJECT, InteractionRecord, Store


def record(interaction_id: str, *, created: float | None = None, environment_id: str | None = None) -> (
    InteractionRecord
):
    now = created or time.time()
    return InteractionRecord(
        id=interaction_id, project_id=DEFAULT_PROJECT, kind="model", target="m", status="in_progress",
        input=[{"type": "user_input", "content": [{"type": "text", "text": "hi"}]}], config={},
        previous_interaction_id=None, environment_id=environment_id, usage=None, errors=None,
        background=True, store=True, created=now, updated=now,
    )


async def insert(store: Store, interaction_id: str, **kwargs: object) -> None:
    event = {"event_type": "interaction.created", "interaction": {"id": interaction_id}}
    await store.interactions.insert(record(interaction_id, **kwargs), event)  # type: ignore[arg-type]


async def test_claim_takes_the_oldest_once(store: Store) -> None:
    await insert(store, "int_b", created=2.0)
    await insert(store, "int_a", created=1.0)
    first = await store.interactions.claim("w1", 30)
    second = await store.interactions.claim("w2", 30)
    assert (first and first.id, second and second.id) == ("int_a", "int_b")
    assert await store.interactions.claim("w3", 30) is None


async def test_concurrent_claims_never_share_an_interaction(store: Store) -> None:
    for i in range(20):
        await insert(store, f"int_{i:02d}", created=float(i + 1))

    async def claimer(owner: str) -> list[str]:
        taken = []
        while (claimed := await store.interactions.claim(owner, 30)) is not None:
            taken.append(claimed.id)
        return taken

    results = await asyncio.gather(*(claimer(f"w{n}") for n in range(6)))
    everything = [i for taken in results for i in taken]
    assert sorted(everything) == [f"int_{i:02d}" for i in range(20)]


async def test_expired_lease_is_claimable_again_and_the_old_owner_loses_it(store: Store) -> None:
    await insert(store, "int_x")
    assert await store.interactions.claim("dead", 0.01) is not None
    await asyncio.sleep(0.05)
    taken = await store.interactions.claim("alive", 30, "int_x")
    assert taken is not None
    assert await store.interactions.renew("int_x", "dead", 30) is None
    assert await store.interactions.finish("int_x", "completed", owner="dead") is False
    assert await store.interactions.renew("int_x", "alive", 30) is False
    assert await store.interactions.finish("int_x", "completed", owner="alive") is True


async def test_live_lease_is_not_claimable(store: Store) -> None:
    await insert(store, "int_live")
    assert await store.interactions.claim("w1", 30) is not None
    assert await store.interactions.claim("w2", 30, "int_live") is None
    assert await store.interactions.finish("int_live", "cancelled", owner=None) is False


async def test_release_leaves_an_expired_lease_for_the_next_claim(store: Store) -> None:
    await insert(store, "int_r")
    assert await store.interactions.claim("w1", 30) is not None
    assert await store.interactions.release("int_r", "w2") is False
    assert await store.interactions.release("int_r", "w1") is True
    assert await store.interactions.renew("int_r", "w1", 30) is None
    again = await store.interactions.claim("w2", 30)
    assert again is not None and again.id == "int_r"


async def test_event_sequence_numbers_are_unique(store: Store) -> None:
    await insert(store, "int_e")
    await store.interactions.append_event("int_e", 2, {"event_type": "step.start", "index": 1})
    with pytest.raises(IntegrityError):
        await store.interactions.append_event("int_e", 2, {"event_type": "step.start", "index": 1})
    assert [e.seq for e in await store.interactions.events_after("int_e")] == [1, 2]
    assert await store.interactions.last_seq("int_e") == 2


async def test_purge_deletes_only_old_finished_interactions_with_their_events(store: Store) -> None:
    await insert(store, "int_old", environment_id="env_shared")
    await insert(store, "int_new", environment_id="env_shared")
    await insert(store, "int_running", environment_id="env_alone")
    for interaction_id in ("int_old", "int_new"):
        assert await store.interactions.claim("w", 30, interaction_id) is not None
        assert await store.interactions.finish(interaction_id, "completed", owner="w")
    cutoff = time.time() + 1
    purged = await store.interactions.purge_finished(cutoff, limit=1)
    assert [r.id for r in purged] == ["int_old"]
    assert await store.interactions.get("int_old") is None
    assert await store.interactions.events_after("int_old") == []
    assert [r.id for r in await store.interactions.purge_finished(cutoff)] == ["int_new"]
    assert await store.interactions.purge_finished(cutoff) == []  # int_running is never purged
    in_use = await store.interactions.environments_in_use(["env_shared", "env_alone"])
    assert in_use == {"env_alone"}
