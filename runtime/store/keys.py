"""Projects and API keys. Keys are stored as sha256 hashes; the plaintext is shown once."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.store.records import ApiKeyRecord
from runtime.store.schema import api_keys, projects

DEFAULT_PROJECT = "default"


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_key_plaintext() -> str:
    return "hk_" + secrets.token_urlsafe(32)


class KeyRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def ensure_project(self, project_id: str, name: str | None = None) -> None:
        async with self._engine.begin() as conn:
            found = await conn.scalar(select(projects.c.id).where(projects.c.id == project_id))
            if found is None:
                with contextlib.suppress(IntegrityError):  # created concurrently: fine
                    await conn.execute(
                        projects.insert().values(id=project_id, name=name or project_id, created=time.time())
                    )

    async def create(
        self, project_id: str = DEFAULT_PROJECT, name: str = "", plaintext: str | None = None
    ) -> tuple[ApiKeyRecord, str]:
        """Create a key for ``project_id`` (created if missing). Returns the record and the plaintext."""
        await self.ensure_project(project_id)
        plaintext = plaintext or new_key_plaintext()
        record = ApiKeyRecord(
            id="key_" + secrets.token_hex(8),
            project_id=project_id,
            prefix=plaintext[:8],
            name=name,
            created=time.time(),
            revoked=None,
        )
        async with self._engine.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    id=record.id,
                    project_id=project_id,
                    key_hash=hash_key(plaintext),
                    prefix=record.prefix,
                    name=name,
                    created=record.created,
                )
            )
        return record, plaintext

    async def ensure(self, plaintext: str, project_id: str = DEFAULT_PROJECT, name: str = "dev") -> None:
        """Register ``plaintext`` unless a key with that hash already exists (revoked or not)."""
        async with self._engine.connect() as conn:
            found = await conn.scalar(select(api_keys.c.id).where(api_keys.c.key_hash == hash_key(plaintext)))
        if found is None:
            with contextlib.suppress(IntegrityError):
                await self.create(project_id, name, plaintext)

    async def resolve(self, plaintext: str) -> str | None:
        """The project of a valid (not revoked) key, or None."""
        async with self._engine.connect() as conn:
            return await conn.scalar(
                select(api_keys.c.project_id).where(
                    api_keys.c.key_hash == hash_key(plaintext), api_keys.c.revoked.is_(None)
                )
            )

    async def list(self) -> list[ApiKeyRecord]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(
                    api_keys.c.id, api_keys.c.project_id, api_keys.c.prefix, api_keys.c.name,
                    api_keys.c.created, api_keys.c.revoked,
                ).order_by(api_keys.c.created)
            )
            return [ApiKeyRecord(*row) for row in rows]

    async def revoke(self, key_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked.is_(None))
                .values(revoked=time.time())
            )
            return result.rowcount > 0
