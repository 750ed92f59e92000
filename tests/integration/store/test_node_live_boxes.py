"""What a node publishes with its heartbeat for ``HANGAR_PROJECT_MAX_LIVE_BOXES``, on every
backend: the project's boxes on the namespace's other live nodes count; the asking node's own,
a stale node's, a stopped node's, another namespace's and another project's do not; a follow-up
run's kept box is left out; a beat without numbers keeps the last ones. Revision 0010 goes down and
up again."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from runtime.store import NodeRecord, Store
from runtime.store.db import MIGRATIONS_DIR

NOW = 1_000_000.0
DEAD_AFTER = 30.0


async def node(store: Store, node_id: str, namespace: str = "ns", heartbeat: float = NOW) -> None:
    await store.nodes.register(NodeRecord(
        id=node_id, namespace=namespace, hostname="h", started=heartbeat, heartbeat=heartbeat,
    ))


async def elsewhere(store: Store, project: str, exclude: str = "node-me", taking: str | None = None) -> int:
    return await store.nodes.boxes_elsewhere(
        "ns", project, exclude=exclude, now=NOW, dead_after=DEAD_AFTER, taking=taking,
    )


async def test_live_nodes_published_boxes_count_and_nothing_else(store: Store) -> None:
    for node_id in ("node-me", "node-a", "node-b", "node-stale", "node-stopped"):
        await node(store, node_id)
    await node(store, "node-other-ns", namespace="other")
    assert await elsewhere(store, "p") == 0  # registered, nothing published yet

    mine = {"p": {"kept": ["ws-me"], "files": 4}}
    assert await store.nodes.beat("node-me", NOW, mine)
    assert await store.nodes.beat("node-a", NOW, {"p": {"kept": ["ws-1", "ws-2"], "files": 1},
                                                  "q": {"kept": ["ws-q"], "files": 0}})
    assert await store.nodes.beat("node-b", NOW - 5, {"p": {"kept": [], "files": 2}})
    assert await store.nodes.beat("node-stale", NOW - DEAD_AFTER - 1, {"p": {"kept": ["ws-s"], "files": 3}})
    assert await store.nodes.beat("node-stopped", NOW, {"p": {"kept": ["ws-x"], "files": 3}})
    await store.nodes.stopped("node-stopped", NOW)
    assert await store.nodes.beat("node-other-ns", NOW, {"p": {"kept": ["ws-o"], "files": 3}})

    assert await elsewhere(store, "p") == 5  # a's 3 and b's 2
    assert await elsewhere(store, "q") == 1
    assert await elsewhere(store, "r") == 0
    assert await elsewhere(store, "p", exclude="node-a") == 2 + 5  # b's and mine, as a sees them
    assert await elsewhere(store, "p", taking="ws-2") == 4  # the follow-up takes that kept box
    assert await elsewhere(store, "q", taking="ws-q") == 0


async def test_a_beat_without_numbers_keeps_the_last_ones_and_a_new_life_starts_empty(store: Store) -> None:
    await node(store, "node-a")
    assert await store.nodes.beat("node-a", NOW, {"p": {"kept": ["ws-1"], "files": 0}})
    assert await store.nodes.beat("node-a", NOW + 1)  # (the count failed this beat)
    assert await elsewhere(store, "p") == 1
    assert await store.nodes.beat("node-a", NOW + 2, {})  # its boxes are gone
    assert await elsewhere(store, "p") == 0
    assert await store.nodes.beat("node-a", NOW + 3, {"p": {"kept": ["ws-1"], "files": 0}})
    await node(store, "node-a", heartbeat=NOW + 4)  # restarted: its previous life's boxes are gone
    assert await elsewhere(store, "p") == 0
    (row,) = await store.nodes.of_namespace("ns")
    assert row.live_boxes is None


def _alembic(connection: Connection, direction: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    getattr(command, direction)(config, revision)


def _node_columns(connection: Connection) -> set[str]:
    return {c["name"] for c in inspect(connection).get_columns("nodes")}


async def test_revision_0010_adds_and_drops_the_column(store: Store) -> None:
    async with store.engine.begin() as conn:
        assert "live_boxes" in await conn.run_sync(_node_columns)
        await conn.run_sync(_alembic, "downgrade", "0009")
        assert "live_boxes" not in await conn.run_sync(_node_columns)
        await conn.run_sync(_alembic, "upgrade", "head")
        assert "live_boxes" in await conn.run_sync(_node_columns)
    await node(store, "node-a")
    assert await store.nodes.beat("node-a", NOW, {"p": {"kept": [], "files": 1}})
    assert await elsewhere(store, "p") == 1
