"""Environments: a workspace (a named Docker volume) shared by the interactions that name it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from runtime.store.records import JsonObject
from runtime.store.schema import environments, interactions, projects

RUNNING = "in_progress"


@dataclass(frozen=True)
class EnvironmentRecord:
    project_id: str
    id: str
    config: JsonObject
    """The environment's ``sources`` and ``network`` (echoed back; ``network`` is what its boxes get)."""
    volume: str
    created: float
    updated: float
    last_accessed: float | None = None
    """When an interaction or a file operation last used it; ``None`` while never used."""
    applied_sources: list[str] | None = None
    """Digests of the sources already placed in the workspace (each is placed once)."""
    expired: float | None = None
    """When retention expired it (its volume removed); the id then answers 404."""
    workspace_bytes: int | None = None
    """The workspace's usage when last measured (an upload's start, a running box's quota check)."""
    workspace_measured: float | None = None
    """When ``workspace_bytes`` was measured."""

    def last_activity(self) -> float:
        return max(self.updated, self.last_accessed or 0.0)


class EnvironmentRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, record: EnvironmentRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(environments.insert().values(**record.__dict__))

    async def get(self, environment_id: str, project_id: str) -> EnvironmentRecord | None:
        """The environment, if it belongs to ``project_id``."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(environments).where(
                environments.c.id == environment_id, environments.c.project_id == project_id
            ))).first()
        return EnvironmentRecord(**row._mapping) if row is not None else None

    async def page(self, project_id: str, offset: int, limit: int) -> list[EnvironmentRecord]:
        """Oldest first; ``limit`` rows from ``offset``."""
        query = (
            select(environments)
            .where(environments.c.project_id == project_id, environments.c.expired.is_(None))
            .order_by(environments.c.created, environments.c.id).offset(offset).limit(limit)
        )
        async with self._engine.connect() as conn:
            return [EnvironmentRecord(**row._mapping) for row in await conn.execute(query)]

    async def touch(self, environment_id: str, when: float) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(environments).where(environments.c.id == environment_id).values(updated=when)
            )

    async def accessed(self, environment_id: str, when: float) -> None:
        """Record a use (an interaction, a file operation) at ``when``."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(environments).where(environments.c.id == environment_id).values(last_accessed=when)
            )

    async def set_config(self, environment_id: str, config: JsonObject, when: float) -> None:
        """Replace the environment's echoed config (its ``network`` rules, its ``sources``)."""
        async with self._engine.begin() as conn:
            await conn.execute(update(environments).where(environments.c.id == environment_id).values(
                config=config, updated=when
            ))

    async def add_applied(self, environment_id: str, digests: list[str]) -> None:
        """Remember that the sources with these digests are in the workspace."""
        async with self._engine.begin() as conn:
            current = await conn.scalar(
                select(environments.c.applied_sources).where(environments.c.id == environment_id)
            )
            merged = list(dict.fromkeys([*(current or []), *digests]))
            await conn.execute(
                update(environments).where(environments.c.id == environment_id).values(applied_sources=merged)
            )

    async def idle_since(self, before: float, limit: int) -> list[EnvironmentRecord]:
        """Environments of every project not used or changed since ``before`` and not expired yet."""
        c = environments.c
        query = select(environments).where(
            c.expired.is_(None), c.updated < before, (c.last_accessed.is_(None) | (c.last_accessed < before))
        ).order_by(c.updated).limit(limit)
        async with self._engine.connect() as conn:
            return [EnvironmentRecord(**row._mapping) for row in await conn.execute(query)]

    async def expire(self, environment_id: str, before: float, when: float) -> bool:
        """Mark the environment expired unless it was used since ``before`` or an interaction runs
        in it (checked in the same statement, so a run that starts meanwhile keeps it)."""
        c = environments.c
        running = select(interactions.c.id).where(
            interactions.c.environment_id == environment_id, interactions.c.status == RUNNING
        ).exists()
        async with self._engine.begin() as conn:
            result = await conn.execute(update(environments).where(
                c.id == environment_id, c.expired.is_(None), c.updated < before,
                (c.last_accessed.is_(None) | (c.last_accessed < before)), ~running,
            ).values(expired=when))
        return bool(result.rowcount)

    async def record_usage(self, volume: str, used_bytes: int, when: float) -> None:
        """Remember the measured usage of the workspace in ``volume`` (its environment's row)."""
        async with self._engine.begin() as conn:
            await conn.execute(update(environments).where(environments.c.volume == volume).values(
                workspace_bytes=used_bytes, workspace_measured=when
            ))

    async def record_usage_measured(self, volume: str, used_bytes: int) -> None:
        """:meth:`record_usage` now (a running box's quota check reports through this)."""
        await self.record_usage(volume, used_bytes, time.time())

    async def project_usage(self, project_id: str, *, excluding: str | None = None) -> int:
        """Sum of the last measured usage of the project's environments that are not expired
        (without the environment ``excluding``)."""
        async with self._engine.connect() as conn:
            return await project_usage(conn, project_id, excluding=excluding)

    async def volumes(self) -> set[str]:
        """Volume names of every environment that is not expired (any project)."""
        query = select(environments.c.volume).where(environments.c.expired.is_(None))
        async with self._engine.connect() as conn:
            return {row[0] for row in await conn.execute(query)}

    async def of_volumes(self, names: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """Which of these volume names environments (any project) have: name -> (id, expired)."""
        if not names:
            return {}
        c = environments.c
        query = select(c.volume, c.id, c.expired).where(c.volume.in_(list(names)))
        async with self._engine.connect() as conn:
            return {row[0]: (row[1], row[2] is not None) for row in await conn.execute(query)}

    async def history_start(self) -> float | None:
        """When this store's first record was made (the default project's, at its first open):
        no workspace made before it can be one of its environments'."""
        queries = [select(func.min(t.c.created)) for t in (projects, environments, interactions)]
        async with self._engine.connect() as conn:
            found = [(await conn.execute(q)).scalar() for q in queries]
        times = [float(t) for t in found if t is not None]
        return min(times) if times else None

    async def projects_of(self, volumes: list[str]) -> dict[str, tuple[str, str]]:
        """Volume -> (project, environment id) of the environments (not expired) whose workspaces
        these are."""
        if not volumes:
            return {}
        query = select(environments.c.volume, environments.c.project_id, environments.c.id).where(
            environments.c.volume.in_(volumes), environments.c.expired.is_(None)
        )
        async with self._engine.connect() as conn:
            return {row[0]: (row[1], row[2]) for row in await conn.execute(query)}

    async def agent_runs_in_progress(self, project_id: str) -> int:
        """The project's agent interactions ``in_progress`` (each holds, or will hold, a box)."""
        query = select(func.count()).select_from(interactions).where(
            interactions.c.project_id == project_id, interactions.c.status == RUNNING,
            interactions.c.kind == "agent",
        )
        async with self._engine.connect() as conn:
            return int(await conn.scalar(query) or 0)

    async def running_interactions(self, environment_id: str) -> int:
        """How many interactions in this environment are still ``in_progress``."""
        async with self._engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(interactions).where(
                interactions.c.environment_id == environment_id, interactions.c.status == RUNNING
            ))
        return int(count or 0)

    async def delete(self, environment_id: str, project_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(environments).where(
                environments.c.id == environment_id, environments.c.project_id == project_id
            ))
        return bool(result.rowcount)


async def project_usage(conn: AsyncConnection, project_id: str, *, excluding: str | None = None) -> int:
    """See :meth:`EnvironmentRepo.project_usage` (in ``conn``'s transaction)."""
    c = environments.c
    where = [c.project_id == project_id, c.expired.is_(None)]
    if excluding is not None:
        where.append(c.id != excluding)
    return int(await conn.scalar(select(func.coalesce(func.sum(c.workspace_bytes), 0)).where(*where)) or 0)
