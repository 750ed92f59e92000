"""API keys: who is calling (a project), and key management for the CLI."""

from __future__ import annotations

import hashlib
import time

from runtime.errors import InputError
from runtime.store import DEFAULT_PROJECT, ApiKeyRecord, Store

MAX_CACHED_KEYS = 10_000


class Unauthenticated(InputError):
    code = "unauthenticated"
    http_status = 401


class KeyService:
    """Resolved keys are remembered for ``cache_seconds`` (every request authenticates; the lookup
    is a database round trip). Revoking through this service forgets them at once; a key revoked
    by another process stops working within ``cache_seconds``."""

    def __init__(self, store: Store, *, cache_seconds: float = 10.0) -> None:
        self._store = store
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[str, float]] = {}

    async def authenticate(self, api_key: str | None) -> str:
        """The project of ``api_key``. Raises :class:`Unauthenticated` when missing, unknown or revoked."""
        if not api_key:
            raise Unauthenticated(
                "missing API key: send it in the x-goog-api-key header or as Authorization: Bearer"
            )
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        project_id = await self._store.keys.resolve(api_key)
        if project_id is None:
            raise Unauthenticated("invalid or revoked API key")
        if len(self._cache) >= MAX_CACHED_KEYS:
            self._cache.clear()
        self._cache[digest] = (project_id, now + self._cache_seconds)
        return project_id

    async def ensure(self, api_key: str) -> None:
        await self._store.keys.ensure(api_key, DEFAULT_PROJECT)

    async def create(self, project_id: str = DEFAULT_PROJECT, name: str = "") -> tuple[ApiKeyRecord, str]:
        return await self._store.keys.create(project_id, name)

    async def list(self) -> list[ApiKeyRecord]:
        return await self._store.keys.list()

    async def revoke(self, key_id: str) -> bool:
        self._cache.clear()
        return await self._store.keys.revoke(key_id)
