"""Credentials of a project. The secret column holds ciphertext only: the service encrypts before
it writes and decrypts after it reads (this layer never sees a secret in the clear)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.errors import AlreadyExists
from runtime.store.records import JsonObject
from runtime.store.schema import credentials


@dataclass(frozen=True)
class CredentialRecord:
    project_id: str
    id: str
    type: str
    status: str
    config: JsonObject
    """The non-secret fields (header name and prefix, client id, token URL, scopes, domains...)."""
    secret: str
    """Ciphertext of the secret fields."""
    created: float
    updated: float

    def __repr__(self) -> str:  # never print the ciphertext either
        return f"CredentialRecord(project_id={self.project_id!r}, id={self.id!r}, type={self.type!r})"


_COLUMNS = [
    credentials.c.project_id, credentials.c.id, credentials.c.type, credentials.c.status,
    credentials.c.config, credentials.c.secret, credentials.c.created, credentials.c.updated,
]


def _record(row: Row[Any]) -> CredentialRecord:
    return CredentialRecord(**row._mapping)


class CredentialRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, record: CredentialRecord) -> None:
        """Raises :class:`AlreadyExists` when the project has a credential with that id."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(credentials.insert().values(**record.__dict__))
        except IntegrityError as e:
            raise AlreadyExists(f"credential '{record.id}' already exists", code="already_exists") from e

    async def get(self, project_id: str, credential_id: str) -> CredentialRecord | None:
        query = select(*_COLUMNS).where(
            credentials.c.project_id == project_id, credentials.c.id == credential_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    async def page(self, project_id: str, offset: int, limit: int) -> list[CredentialRecord]:
        query = (
            select(*_COLUMNS).where(credentials.c.project_id == project_id)
            .order_by(credentials.c.created, credentials.c.id).offset(offset).limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def update(self, project_id: str, credential_id: str, values: JsonObject) -> bool:
        """Set ``values`` (and ``updated``); ``False`` when the credential is not in the project."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(credentials)
                .where(credentials.c.project_id == project_id, credentials.c.id == credential_id)
                .values(**values, updated=time.time())
            )
            return bool(result.rowcount)

    async def delete(self, project_id: str, credential_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(credentials).where(
                    credentials.c.project_id == project_id, credentials.c.id == credential_id
                )
            )
            return bool(result.rowcount)
