"""Resumable upload sessions (the bytes themselves are in the workspace volume).

The session id is a credential (it is the upload URL's secret): only its SHA-256 is stored.
``advance`` is conditional on the offset it started from, so two servers fed the same chunk at
once cannot both record it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.store.schema import upload_sessions


@dataclass
class UploadRecord:
    project_id: str
    environment_id: str
    volume: str
    path: str
    overwrite: bool
    extract: bool
    size: int | None
    temp: str
    used_bytes: int
    used_entries: int
    created: float
    received: int = 0


def _key(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()


_FIELDS = [c for c in upload_sessions.c if c.name != "id_hash"]


class UploadRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, session: str, record: UploadRecord) -> None:
        values = {f.name: getattr(record, f.name) for f in _FIELDS}
        async with self._engine.begin() as conn:
            await conn.execute(upload_sessions.insert().values(id_hash=_key(session), **values))

    async def get(self, session: str, newer_than: float) -> UploadRecord | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(*_FIELDS).where(
                        upload_sessions.c.id_hash == _key(session), upload_sessions.c.created >= newer_than
                    )
                )
            ).first()
        return None if row is None else _record(dict(row._mapping))

    async def advance(self, session: str, start: int, end: int) -> bool:
        """Record ``end`` bytes received, if ``start`` still is the count. Returns whether it was."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(upload_sessions)
                .where(upload_sessions.c.id_hash == _key(session), upload_sessions.c.received == start)
                .values(received=end)
            )
        return result.rowcount > 0

    async def delete(self, session: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(upload_sessions).where(upload_sessions.c.id_hash == _key(session)))

    async def purge(self, older_than: float) -> list[UploadRecord]:
        """Delete the sessions started before ``older_than``; returns them (their temp files to remove)."""
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(select(*_FIELDS).where(upload_sessions.c.created < older_than))
            ).all()
            await conn.execute(delete(upload_sessions).where(upload_sessions.c.created < older_than))
        return [_record(dict(r._mapping)) for r in rows]


def _record(values: dict[str, object]) -> UploadRecord:
    return UploadRecord(**values)  # type: ignore[arg-type]
