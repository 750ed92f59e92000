"""Environments (spec §8): a workspace volume that interactions naming the environment share.

An agent interaction created without an environment gets a fresh one, registered here too, so its
files can be read through ``/environments/{id}/files`` afterwards. Deleting an environment removes
its volume; it is refused while an interaction runs in it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from runtime.agents.wire import Network, Source
from runtime.errors import InputError, NotFound
from runtime.sandbox.base import Provider
from runtime.service.file_boxes import FileBoxes
from runtime.service.paging import Page, next_token, page_bounds
from runtime.service.wire import describe
from runtime.store import EnvironmentRecord, Store
from runtime.worker.agent_runner import workspace_volume
from runtime.worker.timefmt import iso


class CreateEnvironment(BaseModel):
    """``POST /{v}/environments``. Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    sources: list[Source] | None = None
    network: Network | None = None
    from_environment: str | None = None


class Environment(BaseModel):
    """The resource (spec §8.1); ``file_count`` and ``size_bytes`` are int64s (JSON strings)."""

    id: str
    status: Literal["active", "expired"] = "active"
    created: str
    updated: str
    sources: list[dict[str, Any]] | None = None
    network: Any = None
    file_count: str = "0"
    size_bytes: str = "0"


def _new_id() -> str:
    return f"env_{secrets.token_hex(8)}"


class EnvironmentService:
    def __init__(self, store: Store, boxes: FileBoxes, provider: Provider | None) -> None:
        self._store = store
        self._boxes = boxes
        self._provider = provider

    async def create(self, project_id: str, body: dict[str, Any]) -> Environment:
        """Raises :class:`InputError` for an invalid body or an unsupported source."""
        try:
            request = CreateEnvironment.model_validate(body)
        except ValidationError as e:
            raise InputError(f"invalid environment: {describe(e)}") from e
        if request.from_environment:
            raise InputError("from_environment is not supported yet: create an environment and upload files")
        inline = _inline_files(request.sources or [])
        config = request.model_dump(mode="json", exclude_none=True, exclude={"from_environment"})
        record = await self.register(project_id, _new_id(), config)
        if inline:
            async with self._boxes.open(record.volume) as box:
                for target, data in inline:
                    await box.client.write_file(target, data)
        return await self.describe(record, count=bool(inline))

    async def register(
        self, project_id: str, environment_id: str, config: dict[str, Any] | None = None
    ) -> EnvironmentRecord:
        """Record an environment (its volume is created by Docker on first mount)."""
        now = time.time()
        record = EnvironmentRecord(
            project_id=project_id, id=environment_id, config=config or {},
            volume=workspace_volume(environment_id), created=now, updated=now,
        )
        await self._store.environments.insert(record)
        return record

    async def record(self, project_id: str, environment_id: str) -> EnvironmentRecord:
        """Raises :class:`NotFound` for an unknown id or one of another project."""
        environment_id = environment_id.removeprefix("environments/")
        record = await self._store.environments.get(environment_id, project_id)
        if record is None:
            raise NotFound(f"environment '{environment_id}' not found")
        return record

    async def get(self, project_id: str, environment_id: str) -> Environment:
        return await self.describe(await self.record(project_id, environment_id), count=True)

    async def list(self, project_id: str, page_size: int | None, page_token: str | None) -> Page:
        offset, size = page_bounds(page_size, page_token)
        records = await self._store.environments.page(project_id, offset, size + 1)
        items = [await self.describe(r, count=False) for r in records[:size]]
        return Page(items, next_token(offset, size, len(records) > size))

    async def delete(self, project_id: str, environment_id: str) -> None:
        """Remove the environment and its volume. Raises :class:`InputError` while an interaction
        runs in it."""
        record = await self.record(project_id, environment_id)
        if running := await self._store.environments.running_interactions(record.id):
            raise InputError(
                f"environment '{record.id}' has {running} running interaction(s); cancel them first"
            )
        await self._boxes.release(record.volume)
        if self._provider is not None:
            await self._provider.remove_volume(record.volume)
        await self._store.environments.delete(record.id, project_id)

    async def describe(self, record: EnvironmentRecord, *, count: bool) -> Environment:
        """The resource; with ``count`` the workspace is measured (starting a file box)."""
        files = size = 0
        if count and self._provider is not None:
            async with self._boxes.open(record.volume) as box:
                entries = await box.client.list_files(".", recursive=True)
            files = sum(1 for e in entries if e.type == "file")
            size = sum(e.size for e in entries if e.type == "file")
        return Environment(
            id=record.id, created=iso(record.created), updated=iso(record.updated),
            file_count=str(files), size_bytes=str(size), **record.config,
        )


def _inline_files(sources: list[Source]) -> list[tuple[str, bytes]]:
    """``(target, bytes)`` of the inline sources. Raises :class:`InputError` for other source types,
    which this server cannot fetch."""
    files = []
    for i, source in enumerate(sources):
        if source.type not in (None, "inline") or source.content is None:
            raise InputError(f"sources[{i}]: only inline sources (type 'inline' with content) are supported")
        if not source.target:
            raise InputError(f"sources[{i}].target: required for an inline source")
        data = source.content.encode()
        if source.encoding == "base64":
            try:
                data = base64.b64decode(source.content, validate=True)
            except binascii.Error as e:
                raise InputError(f"sources[{i}].content: not valid base64") from e
        elif source.encoding not in (None, "", "utf-8"):
            raise InputError(f"sources[{i}].encoding: use 'base64' or leave it unset")
        files.append((source.target, data))
    return files
