"""Agents created through the API, per project. The spec is stored as given (only the fields the
caller set), so ``base_agent`` inheritance is applied on every read, against today's parents."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.store.records import JsonObject
from runtime.store.schema import agents


@dataclass(frozen=True)
class AgentRecord:
    project_id: str
    id: str
    spec: JsonObject
    created: float


class AgentRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, record: AgentRecord) -> bool:
        """Insert ``record``; ``False`` when the project already has an agent with that id."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(agents.insert().values(
                    project_id=record.project_id, id=record.id, spec=record.spec, created=record.created,
                ))
        except IntegrityError:
            return False
        return True

    async def get(self, project_id: str, agent_id: str) -> AgentRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(
                select(agents).where(agents.c.project_id == project_id, agents.c.id == agent_id)
            )).first()
        return AgentRecord(**row._mapping) if row is not None else None

    async def list(self, project_id: str) -> list[AgentRecord]:
        """The project's agents, by id."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(agents).where(agents.c.project_id == project_id).order_by(agents.c.id)
            )
            return [AgentRecord(**row._mapping) for row in rows]

    async def delete(self, project_id: str, agent_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(agents).where(agents.c.project_id == project_id, agents.c.id == agent_id)
            )
        return bool(result.rowcount)
