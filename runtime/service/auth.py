"""API keys: who is calling (a project), and key management for the CLI."""

from __future__ import annotations

from runtime.errors import InputError
from runtime.store import DEFAULT_PROJECT, ApiKeyRecord, Store


class Unauthenticated(InputError):
    code = "unauthenticated"
    http_status = 401


class KeyService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def authenticate(self, api_key: str | None) -> str:
        """The project of ``api_key``. Raises :class:`Unauthenticated` when missing, unknown or revoked."""
        if not api_key:
            raise Unauthenticated(
                "missing API key: send it in the x-goog-api-key header or as Authorization: Bearer"
            )
        project_id = await self._store.keys.resolve(api_key)
        if project_id is None:
            raise Unauthenticated("invalid or revoked API key")
        return project_id

    async def ensure(self, api_key: str) -> None:
        await self._store.keys.ensure(api_key, DEFAULT_PROJECT)

    async def create(self, project_id: str = DEFAULT_PROJECT, name: str = "") -> tuple[ApiKeyRecord, str]:
        return await self._store.keys.create(project_id, name)

    async def list(self) -> list[ApiKeyRecord]:
        return await self._store.keys.list()

    async def revoke(self, key_id: str) -> bool:
        return await self._store.keys.revoke(key_id)
