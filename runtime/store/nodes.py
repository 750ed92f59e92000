"""Server nodes: one row per server process, with a heartbeat.

A node's id is the owner label (``hangar.owner``) of every container and volume it creates. A node
whose heartbeat is older than the dead-after interval, or that recorded a clean stop, is dead: a
live node of the same namespace may then remove what it left on a shared engine.

Each beat may also publish the node's ``live_boxes``: per project, its boxes that
``HANGAR_PROJECT_MAX_LIVE_BOXES`` counts besides the project's runs (the workspace volumes of its
kept boxes, and how many file boxes). The other nodes add the live nodes' numbers to their own
count (:meth:`NodeRepo.boxes_elsewhere`); a dead or stale node's numbers count for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.store.schema import nodes


class ProjectBoxes(TypedDict):
    """A node's live boxes of one project, besides the project's runs."""

    kept: list[str]
    """The workspace volumes of its boxes kept warm."""
    files: int
    """How many file boxes it serves."""


@dataclass(frozen=True)
class NodeRecord:
    id: str
    namespace: str
    hostname: str
    started: float
    heartbeat: float
    stopped: float | None = None
    live_boxes: dict[str, ProjectBoxes] | None = None
    """Project id -> the node's kept and file boxes of the project, as of its last beat."""

    def alive(self, now: float, dead_after: float) -> bool:
        return self.stopped is None and now - self.heartbeat <= dead_after


class NodeRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def register(self, record: NodeRecord) -> None:
        """Record the node's start (a restarted node replaces the row of its previous life)."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(nodes).where(nodes.c.id == record.id))
            await conn.execute(nodes.insert().values(**record.__dict__))

    async def beat(
        self, node_id: str, when: float, live_boxes: Mapping[str, ProjectBoxes] | None = None
    ) -> bool:
        """Renew the heartbeat, with the node's ``live_boxes`` when given (in the same statement:
        publishing costs no round trip of its own); ``False`` when the row is gone or the node
        was stopped."""
        values: dict[str, object] = {"heartbeat": when}
        if live_boxes is not None:
            values["live_boxes"] = dict(live_boxes)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(nodes).where(nodes.c.id == node_id, nodes.c.stopped.is_(None)).values(**values)
            )
        return bool(result.rowcount)

    async def stopped(self, node_id: str, when: float) -> None:
        """Record a clean stop (the node's boxes are already removed, or may be reaped at once)."""
        async with self._engine.begin() as conn:
            await conn.execute(update(nodes).where(nodes.c.id == node_id).values(stopped=when))

    async def declare_dead(self, namespace: str, now: float, dead_after: float) -> list[str]:
        """Record as stopped the namespace's nodes whose heartbeat is older than ``dead_after`` (in
        one conditional statement, so exactly one caller declares each); returns their ids. A node
        declared dead stays dead: its later beats are refused."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(nodes)
                .where(nodes.c.namespace == namespace, nodes.c.stopped.is_(None),
                       nodes.c.heartbeat < now - dead_after)
                .values(stopped=now)
                .returning(nodes.c.id)
            )
            return sorted(row[0] for row in result)

    async def of_namespace(self, namespace: str) -> list[NodeRecord]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(nodes).where(nodes.c.namespace == namespace))
            return [NodeRecord(**row._mapping) for row in rows]

    async def live(self, namespace: str, now: float, dead_after: float) -> set[str]:
        """Ids of the namespace's nodes that are alive at ``now``."""
        return {n.id for n in await self.of_namespace(namespace) if n.alive(now, dead_after)}

    async def boxes_elsewhere(
        self, namespace: str, project_id: str, *, exclude: str, now: float, dead_after: float,
        taking: str | None = None,
    ) -> int:
        """The project's boxes the namespace's live nodes other than ``exclude`` published, less
        a box kept for the volume ``taking`` (a follow-up run's: it takes that box)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(nodes.c.live_boxes).where(
                nodes.c.namespace == namespace, nodes.c.id != exclude, nodes.c.stopped.is_(None),
                nodes.c.heartbeat >= now - dead_after,
            ))
            return sum(_count(row[0], project_id, taking) for row in rows)

    async def forget_dead(self, namespace: str, before: float) -> int:
        """Drop rows of nodes dead since before ``before`` (their boxes were reaped)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(nodes).where(
                nodes.c.namespace == namespace, nodes.c.heartbeat < before
            ))
        return int(result.rowcount or 0)


def _count(published: object, project_id: str, taking: str | None) -> int:
    """The project's boxes in a node's published ``live_boxes`` (0 when it has none there)."""
    boxes = published.get(project_id) if isinstance(published, dict) else None
    if not isinstance(boxes, dict):
        return 0
    kept, files = boxes.get("kept"), boxes.get("files")
    kept_count = sum(1 for v in kept if v != taking) if isinstance(kept, list) else 0
    return kept_count + (files if isinstance(files, int) and files > 0 else 0)
