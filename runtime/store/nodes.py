"""Server nodes: one row per server process, with a heartbeat.

A node's id is the owner label (``hangar.owner``) of every container and volume it creates. A node
whose heartbeat is older than the dead-after interval, or that recorded a clean stop, is dead: a
live node of the same namespace may then remove what it left on a shared engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.store.schema import nodes


@dataclass(frozen=True)
class NodeRecord:
    id: str
    namespace: str
    hostname: str
    started: float
    heartbeat: float
    stopped: float | None = None

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

    async def beat(self, node_id: str, when: float) -> bool:
        """Renew the heartbeat; ``False`` when the row is gone or the node was stopped."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(nodes).where(nodes.c.id == node_id, nodes.c.stopped.is_(None)).values(heartbeat=when)
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

    async def forget_dead(self, namespace: str, before: float) -> int:
        """Drop rows of nodes dead since before ``before`` (their boxes were reaped)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(nodes).where(
                nodes.c.namespace == namespace, nodes.c.heartbeat < before
            ))
        return int(result.rowcount or 0)
