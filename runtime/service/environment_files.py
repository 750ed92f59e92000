"""Files of an environment's workspace (spec §8.3): list, download, and resumable uploads.

Paths are relative to the workspace; a leading ``/`` and a leading ``workspace/`` segment are
dropped (the API shows files as ``workspace/<path>``). sandboxd confines every path to the
workspace. An upload session is started by one request and fed by the next ones (the Google
resumable protocol): its bytes are appended to a hidden file in the workspace as they arrive,
never held whole in memory, and moved into place (or extracted, for ``extract``) on ``finalize``.
Sessions live in this process's memory: an upload must finish on the server that started it.
"""

from __future__ import annotations

import contextlib
import mimetypes
import posixpath
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel

from runtime.errors import InputError, NotFound
from runtime.sandbox.client import SandboxdClient
from runtime.sandboxd.protocol import FileInfo
from runtime.service.environments import EnvironmentService
from runtime.service.file_boxes import FileBoxes
from runtime.service.paging import page_of

CHUNK = 1024 * 1024
"""Bytes read from sandboxd, or written to it, per call."""
SESSION_TTL_S = 3600.0
TEMP_PREFIX = ".hangar-upload-"


class EnvironmentFile(BaseModel):
    name: str
    path: str
    """``workspace/<path in the workspace>``."""
    type: str
    mime_type: str | None = None
    size_bytes: str
    modified: str


class FilesPage(BaseModel):
    files: list[EnvironmentFile]
    next_page_token: str = ""


@dataclass
class _Upload:
    project_id: str
    environment_id: str
    volume: str
    path: str
    overwrite: bool
    extract: bool
    size: int | None
    temp: str
    created: float
    received: int = 0


def workspace_path(path: str) -> str:
    """``path`` relative to the workspace (``.`` for its root), as sandboxd takes it."""
    rel = path.lstrip("/")
    if rel == "workspace" or rel.startswith("workspace/"):
        rel = rel.removeprefix("workspace").lstrip("/")
    return rel or "."


def to_api(info: FileInfo) -> EnvironmentFile:
    rel = "" if info.path == "." else info.path
    kind = "directory" if info.type == "directory" else "file"
    mime = (mimetypes.guess_type(rel)[0] or "application/octet-stream") if kind == "file" else None
    return EnvironmentFile(
        name=posixpath.basename(rel) or "workspace", path=posixpath.join("workspace", rel).rstrip("/"),
        type=kind, mime_type=mime, size_bytes=str(info.size if kind == "file" else 0),
        modified=datetime.fromtimestamp(info.mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


class EnvironmentFiles:
    def __init__(self, environments: EnvironmentService, boxes: FileBoxes, *, max_upload_bytes: int) -> None:
        self._environments = environments
        self._boxes = boxes
        self._max = max_upload_bytes
        self._uploads: dict[str, _Upload] = {}

    async def list(
        self, project_id: str, environment_id: str, path: str, *, recursive: bool = False,
        page_size: int | None = None, page_token: str | None = None,
    ) -> FilesPage:
        """A directory's entries (all levels with ``recursive``), or one file's metadata.
        Raises :class:`NotFound` for an unknown environment or path, ``PathOutsideWorkspace`` (400)."""
        record = await self._environments.record(project_id, environment_id)
        async with self._boxes.open(record.volume) as box:
            entries = await box.client.list_files(workspace_path(path), recursive=recursive)
        shown = [to_api(e) for e in entries if not posixpath.basename(e.path).startswith(TEMP_PREFIX)]
        page = page_of(shown, page_size, page_token)
        return FilesPage(files=page.items, next_page_token=page.next_page_token)

    async def download(self, project_id: str, environment_id: str, path: str) -> AsyncIterator[bytes]:
        """The file's bytes, chunk by chunk. Checks run before the first chunk: :class:`NotFound`,
        :class:`InputError` for a directory."""
        record = await self._environments.record(project_id, environment_id)
        rel = workspace_path(path)
        async with self._boxes.open(record.volume) as box:
            info = await box.client.stat(rel)
        if info.type == "directory":
            raise InputError(f"'{path}' is a directory: list it, or download its files one by one")
        return self._read(record.volume, rel, info.size)

    async def _read(self, volume: str, rel: str, size: int) -> AsyncIterator[bytes]:
        async with self._boxes.open(volume) as box:
            offset = 0
            while offset < size:
                data = await box.client.read_file(rel, offset=offset, length=min(CHUNK, size - offset))
                if not data:
                    return
                offset += len(data)
                yield data

    # --- resumable upload -----------------------------------------------------------------------

    async def start_upload(
        self, project_id: str, environment_id: str, path: str, *, overwrite: bool, extract: bool,
        size: int | None,
    ) -> str:
        """Open an upload session and return its id. Raises :class:`NotFound` for an unknown
        environment, :class:`InputError` for a bad path, an existing file without ``overwrite``, or
        a size over the limit."""
        self._expire()
        record = await self._environments.record(project_id, environment_id)
        rel = workspace_path(path)
        if size is not None and size > self._max:
            raise InputError(f"upload of {size} bytes is larger than the limit of {self._max} bytes")
        async with self._boxes.open(record.volume) as box:
            await _check_target(box.client, rel, path, overwrite=overwrite, extract=extract)
        session = secrets.token_urlsafe(24)
        self._uploads[session] = _Upload(
            project_id=project_id, environment_id=record.id, volume=record.volume, path=rel,
            overwrite=overwrite, extract=extract, size=size, temp=f"{TEMP_PREFIX}{session[:16]}",
            created=time.time(),
        )
        return session

    async def upload_chunk(
        self, session: str, environment_id: str, offset: int, body: AsyncIterator[bytes], *, finalize: bool
    ) -> FilesPage | None:
        """Append a chunk at ``offset``; on ``finalize`` put the file in place and return its metadata
        (for ``extract``, the entries of the destination folder). Raises :class:`NotFound` for an
        unknown or expired session, :class:`InputError` for a wrong offset or too many bytes."""
        upload = self._uploads.get(session)
        if upload is None or upload.environment_id != environment_id.removeprefix("environments/"):
            raise NotFound("upload session not found (expired, finished, or started on another server)")
        if offset != upload.received:
            raise InputError(f"X-Goog-Upload-Offset is {offset}, expected {upload.received}")
        try:
            async with self._boxes.open(upload.volume) as box:
                await self._append(box.client, upload, body)
                if not finalize:
                    return None
                if upload.size is not None and upload.received != upload.size:
                    raise InputError(f"received {upload.received} bytes, announced {upload.size}")
                return await _finish(box.client, upload)
        except Exception:
            if finalize or upload.received > self._max:
                await self._abort(session)
            raise
        finally:
            if finalize:
                self._uploads.pop(session, None)

    async def _append(self, client: SandboxdClient, upload: _Upload, body: AsyncIterator[bytes]) -> None:
        buffer = bytearray()
        async for data in body:
            buffer += data
            if upload.received + len(buffer) > self._max:
                raise InputError(f"upload is larger than the limit of {self._max} bytes")
            if len(buffer) >= CHUNK:
                await client.write_file(upload.temp, bytes(buffer), append=upload.received > 0)
                upload.received += len(buffer)
                buffer.clear()
        if buffer or upload.received == 0:
            await client.write_file(upload.temp, bytes(buffer), append=upload.received > 0)
            upload.received += len(buffer)

    async def _abort(self, session: str) -> None:
        upload = self._uploads.pop(session, None)
        if upload is None:
            return
        async with self._boxes.open(upload.volume) as box:
            with contextlib.suppress(NotFound):
                await box.client.delete(upload.temp)

    def _expire(self) -> None:
        cutoff = time.time() - SESSION_TTL_S
        for session, upload in list(self._uploads.items()):
            if upload.created < cutoff:
                self._uploads.pop(session, None)


async def _check_target(
    client: SandboxdClient, rel: str, shown: str, *, overwrite: bool, extract: bool
) -> None:
    try:
        info = await client.stat(rel)
    except NotFound:
        return
    if extract:
        if info.type != "directory":
            raise InputError(f"'{shown}' exists and is not a directory to extract into")
        return
    if info.type == "directory":
        raise InputError(f"'{shown}' is a directory: upload to a file path inside it")
    if not overwrite:
        raise InputError(f"'{shown}' exists: pass overwrite=true to replace it")


async def _finish(client: SandboxdClient, upload: _Upload) -> FilesPage:
    if not upload.extract:
        info = await client.move(upload.temp, upload.path, overwrite=upload.overwrite)
        return FilesPage(files=[to_api(info)])
    try:
        await client.mkdir(upload.path)
        await client.upload_tar(upload.path, _chunks(client, upload.temp, upload.received))
    finally:
        await client.delete(upload.temp)
    entries = await client.list_files(upload.path)
    return FilesPage(files=[to_api(e) for e in entries])


async def _chunks(client: SandboxdClient, path: str, size: int) -> AsyncIterator[bytes]:
    offset = 0
    while offset < size:
        data = await client.read_file(path, offset=offset, length=min(CHUNK, size - offset))
        if not data:
            return
        offset += len(data)
        yield data
