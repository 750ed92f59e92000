"""Webhooks of a project, and the outbox of their deliveries.

A delivery row is written when an event happens and is claimed by a dispatcher when it is due:
claiming pushes ``next_attempt_at`` forward with a conditional UPDATE, so two processes never send
the same attempt, and a process that dies mid-send leaves the row due again once the hold expires.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.store.records import JsonObject
from runtime.store.schema import webhook_deliveries, webhooks

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


@dataclass(frozen=True)
class WebhookRecord:
    id: str
    project_id: str
    name: str | None
    uri: str
    subscribed_events: list[str]
    secrets: list[JsonObject]
    """``[{"secret": "whsec_...", "created": t, "expires": t | None}]``, newest last."""
    state: str
    created: float
    updated: float


@dataclass(frozen=True)
class DeliveryRecord:
    id: str
    project_id: str
    webhook_id: str | None
    """``None`` for a per-request (``webhook_config``) target."""
    uri: str
    event_type: str
    payload: JsonObject
    attempts: int
    next_attempt_at: float
    status: str
    last_error: str | None
    created: float


_WEBHOOK_COLUMNS = [
    webhooks.c.id, webhooks.c.project_id, webhooks.c.name, webhooks.c.uri, webhooks.c.subscribed_events,
    webhooks.c.secrets, webhooks.c.state, webhooks.c.created, webhooks.c.updated,
]
_DELIVERY_COLUMNS = [
    webhook_deliveries.c.id, webhook_deliveries.c.project_id, webhook_deliveries.c.webhook_id,
    webhook_deliveries.c.uri, webhook_deliveries.c.event_type, webhook_deliveries.c.payload,
    webhook_deliveries.c.attempts, webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.status,
    webhook_deliveries.c.last_error, webhook_deliveries.c.created,
]


def _webhook(row: Row[Any]) -> WebhookRecord:
    return WebhookRecord(**row._mapping)


def _delivery(row: Row[Any]) -> DeliveryRecord:
    return DeliveryRecord(**row._mapping)


class WebhookRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # -- webhooks ----------------------------------------------------------------------------------

    async def insert(self, record: WebhookRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(webhooks.insert().values(**record.__dict__))

    async def get(self, project_id: str, webhook_id: str) -> WebhookRecord | None:
        query = select(*_WEBHOOK_COLUMNS).where(
            webhooks.c.project_id == project_id, webhooks.c.id == webhook_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _webhook(row)

    async def page(self, project_id: str, offset: int, limit: int) -> list[WebhookRecord]:
        query = (
            select(*_WEBHOOK_COLUMNS)
            .where(webhooks.c.project_id == project_id)
            .order_by(webhooks.c.created, webhooks.c.id)
            .offset(offset)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_webhook(row) for row in await conn.execute(query)]

    async def update(self, project_id: str, webhook_id: str, values: JsonObject) -> WebhookRecord | None:
        """Set ``values`` (and ``updated``); ``None`` when the webhook is not in the project."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(webhooks)
                .where(webhooks.c.project_id == project_id, webhooks.c.id == webhook_id)
                .values(**values, updated=time.time())
            )
            if result.rowcount == 0:
                return None
        return await self.get(project_id, webhook_id)

    async def delete(self, project_id: str, webhook_id: str) -> bool:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
            )
            result = await conn.execute(
                delete(webhooks).where(webhooks.c.project_id == project_id, webhooks.c.id == webhook_id)
            )
            return result.rowcount > 0

    async def enabled(self, project_id: str) -> list[WebhookRecord]:
        query = select(*_WEBHOOK_COLUMNS).where(
            webhooks.c.project_id == project_id, webhooks.c.state == "enabled"
        )
        async with self._engine.connect() as conn:
            return [_webhook(row) for row in await conn.execute(query)]

    async def by_id(self, webhook_id: str) -> WebhookRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*_WEBHOOK_COLUMNS).where(webhooks.c.id == webhook_id))).first()
        return None if row is None else _webhook(row)

    # -- deliveries --------------------------------------------------------------------------------

    async def enqueue(self, deliveries: Sequence[DeliveryRecord]) -> None:
        if not deliveries:
            return
        now = time.time()
        async with self._engine.begin() as conn:
            await conn.execute(
                webhook_deliveries.insert(), [{**d.__dict__, "updated": now} for d in deliveries]
            )

    async def claim_due(self, hold_seconds: float, limit: int) -> list[DeliveryRecord]:
        """Pending deliveries whose time has come, each held for ``hold_seconds`` (one sender only)."""
        now = time.time()
        query = (
            select(*_DELIVERY_COLUMNS)
            .where(webhook_deliveries.c.status == PENDING, webhook_deliveries.c.next_attempt_at <= now)
            .order_by(webhook_deliveries.c.next_attempt_at)
            .limit(limit)
        )
        claimed = []
        async with self._engine.begin() as conn:
            for row in (await conn.execute(query)).all():
                record = _delivery(row)
                result = await conn.execute(
                    update(webhook_deliveries)
                    .where(
                        webhook_deliveries.c.id == record.id,
                        webhook_deliveries.c.status == PENDING,
                        webhook_deliveries.c.next_attempt_at == record.next_attempt_at,
                    )
                    .values(next_attempt_at=now + hold_seconds, updated=now)
                )
                if result.rowcount:
                    claimed.append(record)
        return claimed

    async def record_attempt(
        self, delivery_id: str, *, status: str, attempts: int, next_attempt_at: float, error: str | None
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == delivery_id)
                .values(
                    status=status,
                    attempts=attempts,
                    next_attempt_at=next_attempt_at,
                    last_error=error[:500] if error else None,
                    updated=time.time(),
                )
            )

    async def delivery(self, delivery_id: str) -> DeliveryRecord | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(*_DELIVERY_COLUMNS).where(webhook_deliveries.c.id == delivery_id))
            ).first()
        return None if row is None else _delivery(row)
