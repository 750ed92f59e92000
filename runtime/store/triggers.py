"""Triggers (scheduled agent runs) and their executions.

Exactly-once firing across processes: an execution row is unique on ``(trigger_id, scheduled_time)``.
The process whose INSERT of a tick's row succeeds owns that tick and, in the same transaction,
moves the trigger's ``next_run_time`` on; every other process's INSERT of the same tick fails
and it does nothing. The tables hang on the shared ``metadata`` (revision 0006 creates them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    Row,
    String,
    Table,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.store.records import JsonObject
from runtime.store.schema import metadata

IN_PROGRESS = "in_progress"

triggers = Table(
    "triggers",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("id", String(64), primary_key=True),
    Column("display_name", String(200), nullable=True),
    Column("interaction", JSON, nullable=False),  # the CreateAgentInteraction body, as validated
    Column("schedule", String(200), nullable=False),
    Column("time_zone", String(100), nullable=False),
    Column("environment_id", String(64), nullable=True),
    Column("execution_timeout_seconds", Integer, nullable=True),
    Column("max_consecutive_failures", Integer, nullable=True),
    Column("status", String(16), nullable=False),  # active | paused | error
    Column("consecutive_failure_count", Integer, nullable=False, default=0),
    Column("previous_interaction_id", String(64), nullable=True),
    Column("next_run_time", Float, nullable=True),  # None while not active
    Column("last_run_time", Float, nullable=True),
    Column("last_pause_time", Float, nullable=True),
    Column("last_resume_time", Float, nullable=True),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Index("ix_triggers_project", "project_id", "created"),
    Index("ix_triggers_due", "status", "next_run_time"),
)

trigger_executions = Table(
    "trigger_executions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("trigger_id", String(64), ForeignKey("triggers.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("scheduled_time", Float, nullable=False),
    Column("start_time", Float, nullable=True),
    Column("end_time", Float, nullable=True),
    Column("interaction_id", String(64), nullable=True),
    Column("environment_id", String(64), nullable=True),
    Column("error", String(500), nullable=True),
    UniqueConstraint("trigger_id", "scheduled_time", name="uq_trigger_executions_tick"),
    Index("ix_trigger_executions_status", "status"),
)


@dataclass(frozen=True)
class TriggerRecord:
    project_id: str
    id: str
    display_name: str | None
    interaction: JsonObject
    schedule: str
    time_zone: str
    environment_id: str | None
    execution_timeout_seconds: int | None
    max_consecutive_failures: int | None
    status: str
    consecutive_failure_count: int
    previous_interaction_id: str | None
    next_run_time: float | None
    last_run_time: float | None
    last_pause_time: float | None
    last_resume_time: float | None
    created: float
    updated: float


@dataclass(frozen=True)
class ExecutionRecord:
    id: str
    trigger_id: str
    project_id: str
    status: str
    scheduled_time: float
    start_time: float | None = None
    end_time: float | None = None
    interaction_id: str | None = None
    environment_id: str | None = None
    error: str | None = None


_TRIGGER_FIELDS = [f.name for f in fields(TriggerRecord)]
_EXECUTION_FIELDS = [f.name for f in fields(ExecutionRecord)]


def _trigger(row: Row[Any]) -> TriggerRecord:
    return TriggerRecord(**{k: row._mapping[k] for k in _TRIGGER_FIELDS})


def _execution(row: Row[Any]) -> ExecutionRecord:
    return ExecutionRecord(**{k: row._mapping[k] for k in _EXECUTION_FIELDS})


class TriggerRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, record: TriggerRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(triggers.insert().values(**record.__dict__))

    async def get(self, project_id: str, trigger_id: str) -> TriggerRecord | None:
        query = select(triggers).where(triggers.c.project_id == project_id, triggers.c.id == trigger_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _trigger(row)

    async def page(self, project_id: str, status: str | None, offset: int, limit: int) -> list[TriggerRecord]:
        query = select(triggers).where(triggers.c.project_id == project_id)
        if status is not None:
            query = query.where(triggers.c.status == status)
        query = query.order_by(triggers.c.created, triggers.c.id).offset(offset).limit(limit)
        async with self._engine.connect() as conn:
            return [_trigger(row) for row in await conn.execute(query)]

    async def update(self, project_id: str, trigger_id: str, values: JsonObject) -> TriggerRecord | None:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(triggers)
                .where(triggers.c.project_id == project_id, triggers.c.id == trigger_id)
                .values(**values, updated=time.time())
            )
            if result.rowcount == 0:
                return None
        return await self.get(project_id, trigger_id)

    async def delete(self, project_id: str, trigger_id: str) -> bool:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(trigger_executions).where(trigger_executions.c.trigger_id == trigger_id)
            )
            result = await conn.execute(
                delete(triggers).where(triggers.c.project_id == project_id, triggers.c.id == trigger_id)
            )
        return bool(result.rowcount)

    async def due(self, now: float, limit: int = 100) -> list[TriggerRecord]:
        """Active triggers whose next tick has come."""
        query = (
            select(triggers)
            .where(triggers.c.status == "active", triggers.c.next_run_time <= now)
            .order_by(triggers.c.next_run_time)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_trigger(row) for row in await conn.execute(query)]

    async def claim_tick(
        self, trigger: TriggerRecord, execution: ExecutionRecord, next_run_time: float | None
    ) -> bool:
        """Record ``execution`` for its tick and move the trigger to ``next_run_time``, atomically.
        ``False`` (nothing written) when another process already recorded that tick."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(trigger_executions.insert().values(**execution.__dict__))
                await conn.execute(
                    update(triggers)
                    .where(triggers.c.id == trigger.id, triggers.c.next_run_time == trigger.next_run_time)
                    .values(next_run_time=next_run_time, last_run_time=execution.scheduled_time)
                )
        except IntegrityError:
            return False
        return True

    async def add_execution(self, execution: ExecutionRecord) -> bool:
        """Record a run-now execution; ``False`` when its time collides with a recorded tick."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(trigger_executions.insert().values(**execution.__dict__))
                await conn.execute(
                    update(triggers)
                    .where(triggers.c.id == execution.trigger_id)
                    .values(last_run_time=execution.scheduled_time)
                )
        except IntegrityError:
            return False
        return True

    async def set_execution(
        self, execution_id: str, values: JsonObject, *, only_if: str | None = None
    ) -> bool:
        """Update an execution; with ``only_if``, only while its status is that (one writer wins)."""
        query = update(trigger_executions).where(trigger_executions.c.id == execution_id)
        if only_if is not None:
            query = query.where(trigger_executions.c.status == only_if)
        if values.get("error"):
            values = {**values, "error": str(values["error"])[:500]}
        async with self._engine.begin() as conn:
            result = await conn.execute(query.values(**values))
        return bool(result.rowcount)

    async def execution(self, execution_id: str) -> ExecutionRecord | None:
        query = select(trigger_executions).where(trigger_executions.c.id == execution_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _execution(row)

    async def executions(self, trigger_id: str, offset: int, limit: int) -> list[ExecutionRecord]:
        """Newest first."""
        query = (
            select(trigger_executions)
            .where(trigger_executions.c.trigger_id == trigger_id)
            .order_by(trigger_executions.c.scheduled_time.desc(), trigger_executions.c.id)
            .offset(offset)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_execution(row) for row in await conn.execute(query)]

    async def running(self, trigger_id: str | None = None) -> list[ExecutionRecord]:
        """Executions still ``in_progress`` (of one trigger, or of all)."""
        query = select(trigger_executions).where(trigger_executions.c.status == IN_PROGRESS)
        if trigger_id is not None:
            query = query.where(trigger_executions.c.trigger_id == trigger_id)
        async with self._engine.connect() as conn:
            return [_execution(row) for row in await conn.execute(query)]

    async def by_id(self, trigger_id: str) -> TriggerRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(triggers).where(triggers.c.id == trigger_id))).first()
        return None if row is None else _trigger(row)

    async def record_outcome(self, trigger_id: str, failed: bool, interaction_id: str | None) -> None:
        """Count a finished execution: a failure adds one to the run of failures (past
        ``max_consecutive_failures`` the trigger goes to ``error``), a success resets it."""
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(triggers).where(triggers.c.id == trigger_id))).first()
            if row is None:
                return
            record = _trigger(row)
            count = record.consecutive_failure_count + 1 if failed else 0
            values: JsonObject = {"consecutive_failure_count": count, "updated": time.time()}
            if interaction_id is not None:
                values["previous_interaction_id"] = interaction_id
            limit = record.max_consecutive_failures
            if failed and limit is not None and count >= limit and record.status == "active":
                values.update(status="error", next_run_time=None)
            await conn.execute(update(triggers).where(triggers.c.id == trigger_id).values(**values))
