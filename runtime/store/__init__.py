"""Persistence: SQLAlchemy 2 async over SQLite (WAL) by default, Alembic migrations at start-up."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.errors import InfraError
from runtime.store.agents import AgentRecord, AgentRepo
from runtime.store.credentials import CredentialRecord, CredentialRepo
from runtime.store.db import create_engine, migrate
from runtime.store.environments import EnvironmentRecord, EnvironmentRepo
from runtime.store.interactions import InteractionRepo, LeaseLost
from runtime.store.keys import DEFAULT_PROJECT, KeyRepo
from runtime.store.listen import EventListener, OnEvent, Wanted
from runtime.store.nodes import NodeRecord, NodeRepo
from runtime.store.records import ApiKeyRecord, InteractionRecord, JsonObject, Lease, StoredEvent
from runtime.store.uploads import UploadRecord, UploadRepo
from runtime.store.webhooks import WebhookRepo

__all__ = [
    "DEFAULT_PROJECT", "AgentRecord", "ApiKeyRecord", "CredentialRecord", "EnvironmentRecord",
    "EventListener", "InteractionRecord", "JsonObject", "Lease", "LeaseLost", "NodeRecord", "Store",
    "StoredEvent", "UploadRecord",
]


class Store:
    """The database of one Hangar process. ``open()`` creates the engine and migrates the schema."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._engine: AsyncEngine | None = None

    async def open(self) -> None:
        self._engine = create_engine(self._url)
        await migrate(self._engine)
        await self.keys.ensure_project(DEFAULT_PROJECT)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def ping(self) -> None:
        """Raise when the database does not answer (readiness)."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def listen(self, on_event: OnEvent, wanted: Wanted) -> EventListener | None:
        """Receive the events other processes append (PostgreSQL ``LISTEN``; see
        :mod:`runtime.store.listen`); ``None`` on a backend without notifications (SQLite)."""
        if self.engine.dialect.name != "postgresql":
            return None
        listener = EventListener(self._url, self.interactions, on_event, wanted)
        await listener.start()
        return listener

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise InfraError("store is not open", code="store_closed", retryable=False)
        return self._engine

    @property
    def keys(self) -> KeyRepo:
        return KeyRepo(self.engine)

    @property
    def interactions(self) -> InteractionRepo:
        return InteractionRepo(self.engine)

    @property
    def agents(self) -> AgentRepo:
        return AgentRepo(self.engine)

    @property
    def environments(self) -> EnvironmentRepo:
        return EnvironmentRepo(self.engine)

    @property
    def webhooks(self) -> WebhookRepo:
        return WebhookRepo(self.engine)

    @property
    def credentials(self) -> CredentialRepo:
        return CredentialRepo(self.engine)

    @property
    def uploads(self) -> UploadRepo:
        return UploadRepo(self.engine)

    @property
    def nodes(self) -> NodeRepo:
        return NodeRepo(self.engine)
