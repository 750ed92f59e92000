"""Interactions, their lease, and their append-only event log.

Ownership rule: whoever holds the lease of a running interaction, or moves it out of
``in_progress`` with a conditional UPDATE (the worker holding the lease, a cancel of an unclaimed
one), is the only writer of its remaining events. Every statement that changes ownership is one
conditional UPDATE, so two processes sharing the database never both win; on PostgreSQL the claim
also locks its candidate row with ``FOR UPDATE SKIP LOCKED`` so concurrent claimers take different
rows instead of queueing on the same one (SQLite ignores the clause: it serialises writers anyway).

A lease that ran out (its process died, or shut down without finishing the run) is claimable
again, exactly like an unclaimed interaction: the new owner resumes the run from its log.

Fencing: each claim bumps ``lease_epoch``; the owner's writes (events, renewals, the terminal
status) name the :class:`Lease` they hold and are refused once the epoch moved on, so a worker that
was taken over (it stalled past its lease, or lost the database for a while) cannot write a step
twice or out of order. The fence is a conditional UPDATE of the interaction's row in the same
transaction as the event insert: it row-locks against a concurrent claim (PostgreSQL) or is
serialised with it (SQLite), so either the write lands before the takeover (and the new owner sees
it in the log) or it is refused.

On PostgreSQL every appended event is also announced with ``NOTIFY`` on :data:`EVENTS_CHANNEL`
(sent at commit), so readers in other processes see it at once (:mod:`runtime.store.listen`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from runtime.errors import InfraError
from runtime.store.quotas import RunLimits, check_run_limits, lock_project
from runtime.store.records import InteractionRecord, JsonObject, Lease, StoredEvent
from runtime.store.schema import idempotency_keys, interaction_events, interactions
from runtime.wire import InteractionStatus

RUNNING = InteractionStatus.IN_PROGRESS.value
EVENTS_CHANNEL = "hangar_events"
"""The PostgreSQL ``NOTIFY`` channel of appended events (payload: :func:`notify_payload`)."""
NOTIFY_EVENT_BYTES = 7000
"""Events up to this size travel inside the notification (PostgreSQL's limit is 8000 bytes);
larger ones are announced by sequence number only and read from the log."""


class LeaseLost(InfraError):
    """A write by a worker whose lease of the interaction was taken over (or ended)."""

    def __init__(self, interaction_id: str) -> None:
        super().__init__(
            f"lost the lease of interaction {interaction_id}: another worker took it over",
            code="lease_lost", retryable=False,
        )


def notify_payload(interaction_id: str, seq: int, event: JsonObject) -> str:
    """``{"i": id, "s": seq, "e": event}``; without ``e`` when the event is too large."""
    payload = json.dumps({"i": interaction_id, "s": seq, "e": event}, separators=(",", ":"))
    if len(payload.encode()) <= NOTIFY_EVENT_BYTES:
        return payload
    return json.dumps({"i": interaction_id, "s": seq}, separators=(",", ":"))

_COLUMNS = [
    interactions.c.id, interactions.c.project_id, interactions.c.kind, interactions.c.target,
    interactions.c.status, interactions.c.input, interactions.c.config,
    interactions.c.previous_interaction_id, interactions.c.environment_id, interactions.c.usage,
    interactions.c.errors, interactions.c.background, interactions.c.store, interactions.c.created,
    interactions.c.updated, interactions.c.cancel_requested, interactions.c.lease_epoch,
]


def _record(row: Row[Any]) -> InteractionRecord:
    return InteractionRecord(**row._mapping)


class InteractionRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # -- create / read / delete ------------------------------------------------------------------

    async def insert(
        self,
        record: InteractionRecord,
        first_event: JsonObject,
        idempotency_key: str | None = None,
        *,
        limits: RunLimits | None = None,
    ) -> InteractionRecord:
        """Insert ``record`` with event 1. With an idempotency key already used in the project,
        insert nothing and return the interaction that key created. With ``limits``, raises
        :class:`~runtime.errors.QuotaExceeded` when the project is at one (checked in the same
        transaction, serialised per project on PostgreSQL)."""
        if idempotency_key is not None:
            existing = await self._by_idempotency_key(record.project_id, idempotency_key)
            if existing is not None:
                return existing
        try:
            async with self._engine.begin() as conn:
                if limits is not None:
                    await lock_project(conn, record, limits)
                await conn.execute(interactions.insert().values(_values(record)))
                if limits is not None:
                    await check_run_limits(conn, record, limits)
                await conn.execute(
                    interaction_events.insert().values(
                        interaction_id=record.id, seq=1, event=first_event, created=record.created
                    )
                )
                if idempotency_key is not None:
                    await conn.execute(
                        idempotency_keys.insert().values(
                            project_id=record.project_id, key=idempotency_key,
                            interaction_id=record.id, created=record.created,
                        )
                    )
        except IntegrityError:
            if idempotency_key is None:
                raise
            existing = await self._by_idempotency_key(record.project_id, idempotency_key)
            if existing is None:
                raise
            return existing
        return record

    async def _by_idempotency_key(self, project_id: str, key: str) -> InteractionRecord | None:
        async with self._engine.connect() as conn:
            interaction_id = await conn.scalar(
                select(idempotency_keys.c.interaction_id).where(
                    idempotency_keys.c.project_id == project_id, idempotency_keys.c.key == key
                )
            )
        return None if interaction_id is None else await self.get(interaction_id, project_id)

    async def get(self, interaction_id: str, project_id: str | None = None) -> InteractionRecord | None:
        query = select(*_COLUMNS).where(interactions.c.id == interaction_id)
        if project_id is not None:
            query = query.where(interactions.c.project_id == project_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    async def get_with_events(
        self, interaction_id: str, project_id: str
    ) -> tuple[InteractionRecord, list[StoredEvent]] | None:
        """The record and its whole event log in one connection (the GET path)."""
        query = select(*_COLUMNS).where(
            interactions.c.id == interaction_id, interactions.c.project_id == project_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            return _record(row), await _events_after(conn, interaction_id, 0)

    async def delete(self, interaction_id: str, project_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(interactions).where(
                    interactions.c.id == interaction_id, interactions.c.project_id == project_id
                )
            )
            if result.rowcount == 0:
                return False
            await conn.execute(
                delete(interaction_events).where(interaction_events.c.interaction_id == interaction_id)
            )
            await conn.execute(
                delete(idempotency_keys).where(idempotency_keys.c.interaction_id == interaction_id)
            )
        return True

    # -- leases ----------------------------------------------------------------------------------

    async def claim(self, owner: str, lease_seconds: float, interaction_id: str | None = None) -> (
        InteractionRecord | None
    ):
        """Take the lease of ``interaction_id`` (or of the next claimable running interaction).

        Claimable: running, and never leased or its lease ran out (a resumable interrupted run).
        Fair: the next one is the oldest of the projects with the fewest runs being run right now
        (live leases, in every process), so one project's long queue does not starve another's."""
        now = time.time()
        claimable = (
            interactions.c.status == RUNNING,
            or_(interactions.c.lease_until.is_(None), interactions.c.lease_until < now),
        )
        target = select(interactions.c.id).where(*claimable)
        if interaction_id is None:
            target = target.order_by(_running_in_project(now), interactions.c.created)
        else:
            target = target.where(interactions.c.id == interaction_id)
        candidate = target.limit(1).with_for_update(skip_locked=True).scalar_subquery()
        statement = (
            update(interactions)
            .where(interactions.c.id == candidate, *claimable)
            .values(
                lease_owner=owner, lease_until=now + lease_seconds, updated=now,
                lease_epoch=interactions.c.lease_epoch + 1,
            )
            .returning(*_COLUMNS)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else _record(row)

    async def release(self, interaction_id: str, owner: str, *, epoch: int | None = None) -> bool:
        """Give up the lease of a running interaction without finishing it (graceful shutdown):
        the lease is left expired, so the next claim resumes the run from its log."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(interactions)
                .where(*_held(interaction_id, owner, epoch))
                .values(lease_owner=None, lease_until=0.0)
            )
        return result.rowcount > 0

    async def renew(
        self, interaction_id: str, owner: str, lease_seconds: float, *, epoch: int | None = None
    ) -> bool | None:
        """Extend the lease. Returns ``cancel_requested``, or None when the lease was lost."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(interactions)
                    .where(*_held(interaction_id, owner, epoch))
                    .values(lease_until=time.time() + lease_seconds)
                    .returning(interactions.c.cancel_requested)
                )
            ).first()
        return None if row is None else bool(row[0])

    async def finish(
        self,
        interaction_id: str,
        status: str,
        *,
        owner: str | None,
        epoch: int | None = None,
        usage: JsonObject | None = None,
        errors: Sequence[JsonObject] | None = None,
    ) -> bool:
        """Move a running interaction to ``status``. With ``owner`` (and ``epoch``), only while
        holding that lease; without, only while nobody holds a live one. Returns whether this call
        made the transition."""
        values: dict[str, Any] = {"status": status, "updated": time.time(), "lease_until": None}
        if owner is None:
            expired = interactions.c.lease_until < time.time()
            conditions = [
                interactions.c.id == interaction_id, interactions.c.status == RUNNING,
                or_(interactions.c.lease_until.is_(None), expired),
            ]
            # The caller owns the log now: a stale owner of the expired lease is fenced off.
            values.update(lease_owner=None, lease_epoch=interactions.c.lease_epoch + 1)
        else:
            conditions = _held(interaction_id, owner, epoch)
        if usage is not None:
            values["usage"] = usage
        if errors:
            values["errors"] = list(errors)
        async with self._engine.begin() as conn:
            result = await conn.execute(update(interactions).where(*conditions).values(values))
        return result.rowcount > 0

    async def request_cancel(self, interaction_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(interactions)
                .where(interactions.c.id == interaction_id, interactions.c.status == RUNNING)
                .values(cancel_requested=True)
            )

    async def expire_leases(self, error: JsonObject) -> list[str]:
        """Fail every running interaction whose lease ran out. Returns their ids.

        The worker resumes such interactions instead; this stays for tools that must not."""
        now = time.time()
        async with self._engine.begin() as conn:
            rows = await conn.execute(
                update(interactions)
                .where(interactions.c.status == RUNNING, interactions.c.lease_until < now)
                .values(
                    status="failed", updated=now, lease_until=None, errors=[error], lease_owner=None,
                    lease_epoch=interactions.c.lease_epoch + 1,
                )
                .returning(interactions.c.id)
            )
            return [row[0] for row in rows]

    # -- retention -------------------------------------------------------------------------------

    async def purge_finished(self, before: float, limit: int = 500) -> list[InteractionRecord]:
        """Delete up to ``limit`` finished interactions last updated before ``before``, with their
        events and idempotency keys. Returns the deleted records (oldest first)."""
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(*_COLUMNS)
                    .where(interactions.c.status != RUNNING, interactions.c.updated < before)
                    .order_by(interactions.c.updated)
                    .limit(limit)
                )
            ).all()
            ids = [row.id for row in rows]
            if not ids:
                return []
            await conn.execute(delete(interaction_events).where(interaction_events.c.interaction_id.in_(ids)))
            await conn.execute(delete(idempotency_keys).where(idempotency_keys.c.interaction_id.in_(ids)))
            # The status condition again: a row that changed since the select is kept.
            await conn.execute(
                delete(interactions).where(interactions.c.id.in_(ids), interactions.c.status != RUNNING)
            )
        return [_record(row) for row in rows]

    async def environments_in_use(self, environment_ids: Sequence[str]) -> set[str]:
        """Which of ``environment_ids`` some stored interaction still refers to."""
        if not environment_ids:
            return set()
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(interactions.c.environment_id)
                .where(interactions.c.environment_id.in_(list(environment_ids)))
                .distinct()
            )
            return {row[0] for row in rows}

    async def page(
        self, project_id: str, offset: int, limit: int, *, status: str | None = None,
        agent: str | None = None,
    ) -> list[InteractionRecord]:
        """The project's interactions, newest first (ties broken by id), ``limit`` from ``offset``;
        optionally only those with ``status`` or run by ``agent``."""
        query = select(*_COLUMNS).where(interactions.c.project_id == project_id)
        if status is not None:
            query = query.where(interactions.c.status == status)
        if agent is not None:
            query = query.where(interactions.c.kind == "agent", interactions.c.target == agent)
        query = query.order_by(interactions.c.created.desc(), interactions.c.id.desc())
        async with self._engine.connect() as conn:
            rows = await conn.execute(query.offset(offset).limit(limit))
        return [_record(row) for row in rows]

    # -- event log -------------------------------------------------------------------------------

    async def append_event(
        self, interaction_id: str, seq: int, event: JsonObject, *, lease: Lease | None = None
    ) -> None:
        """Log ``event`` as number ``seq``. With ``lease``, only while that lease is held: raises
        :class:`LeaseLost` otherwise (nothing is written). Without, the caller owns the log by
        other means (it moved the interaction out of ``in_progress`` itself)."""
        await self.append_events(interaction_id, seq, [event], lease=lease)

    async def append_events(
        self, interaction_id: str, first_seq: int, events: Sequence[JsonObject], *, lease: Lease | None = None
    ) -> None:
        """Log ``events`` as numbers ``first_seq``, ``first_seq + 1``, ... in one transaction (all
        or none), fenced like :meth:`append_event`."""
        async with self._engine.begin() as conn:
            if lease is not None:
                # Not conditioned on the status: the owner logs ``interaction.completed`` after it
                # moved the run to its terminal status (nobody can claim it any more then).
                fenced = await conn.execute(
                    update(interactions)
                    .where(
                        interactions.c.id == interaction_id,
                        interactions.c.lease_owner == lease.owner,
                        interactions.c.lease_epoch == lease.epoch,
                    )
                    .values(lease_epoch=interactions.c.lease_epoch)
                )
                if fenced.rowcount == 0:
                    raise LeaseLost(interaction_id)
            now = time.time()
            rows = [
                {"interaction_id": interaction_id, "seq": first_seq + i, "event": event, "created": now}
                for i, event in enumerate(events)
            ]
            await conn.execute(interaction_events.insert(), rows)
            if conn.dialect.name == "postgresql":
                notices = [
                    {"channel": EVENTS_CHANNEL, "payload": notify_payload(interaction_id, seq, event)}
                    for seq, event in enumerate(events, start=first_seq)
                ]
                await conn.execute(text("SELECT pg_notify(:channel, :payload)"), notices)

    async def events_after(self, interaction_id: str, after: int = 0) -> list[StoredEvent]:
        async with self._engine.connect() as conn:
            return await _events_after(conn, interaction_id, after)

    async def last_seq(self, interaction_id: str) -> int:
        async with self._engine.connect() as conn:
            value = await conn.scalar(
                select(func.max(interaction_events.c.seq)).where(
                    interaction_events.c.interaction_id == interaction_id
                )
            )
        return int(value or 0)


def _running_in_project(now: float) -> Any:
    """How many runs of the candidate's project hold a live lease (a correlated count)."""
    running = interactions.alias("running")
    return (
        select(func.count())
        .where(
            running.c.project_id == interactions.c.project_id,
            running.c.status == RUNNING,
            running.c.lease_until >= now,
        )
        .scalar_subquery()
    )


def _held(interaction_id: str, owner: str, epoch: int | None) -> list[Any]:
    """The conditions of a running interaction whose lease ``owner`` holds (of ``epoch``)."""
    conditions = [
        interactions.c.id == interaction_id,
        interactions.c.lease_owner == owner,
        interactions.c.status == RUNNING,
    ]
    if epoch is not None:
        conditions.append(interactions.c.lease_epoch == epoch)
    return conditions


async def _events_after(conn: AsyncConnection, interaction_id: str, after: int) -> list[StoredEvent]:
    rows = await conn.execute(
        select(interaction_events.c.seq, interaction_events.c.event)
        .where(interaction_events.c.interaction_id == interaction_id, interaction_events.c.seq > after)
        .order_by(interaction_events.c.seq)
    )
    return [StoredEvent(seq=row[0], event=row[1]) for row in rows]


def _values(record: InteractionRecord) -> dict[str, Any]:
    return {
        "id": record.id, "project_id": record.project_id, "kind": record.kind, "target": record.target,
        "status": record.status, "input": record.input, "config": record.config,
        "previous_interaction_id": record.previous_interaction_id,
        "environment_id": record.environment_id, "usage": record.usage, "errors": record.errors,
        "background": record.background, "store": record.store, "created": record.created,
        "updated": record.updated, "cancel_requested": record.cancel_requested,
    }
