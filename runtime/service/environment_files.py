"""Files of an environment's workspace (spec §8.3): list, download, and resumable uploads.

Paths are relative to the workspace; a leading ``/`` and a leading ``workspace/`` segment are
dropped (the API shows files as ``workspace/<path>``). sandboxd confines every path to the
workspace. An upload session is started by one request and fed by the next ones (the Google
resumable protocol): its bytes are appended to a hidden file in the workspace as they arrive,
never held whole in memory, and moved into place (or extracted, for ``extract``) on ``finalize``.
A session's state is in the store and its bytes in the workspace volume, so the next chunk may
reach another server sharing the database, or this one after a restart.
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

import structlog
from pydantic import BaseModel

from runtime.errors import AlreadyExists, HangarError, InputError, LimitExceeded, NotFound
from runtime.sandbox.client import SandboxdClient
from runtime.sandboxd.protocol import FileInfo
from runtime.sandboxd.tarstream import ExtractLimits
from runtime.sandboxd.usage import Usage
from runtime.service.environments import EnvironmentService
from runtime.service.file_boxes import FileBoxes
from runtime.service.paging import page_of
from runtime.store.environments import EnvironmentRepo
from runtime.store.quotas import workspace_exceeded
from runtime.store.uploads import UploadRecord, UploadRepo

CHUNK = 1024 * 1024
"""Bytes read from sandboxd, or written to it, per call."""
SESSION_TTL_S = 3600.0
TEMP_PREFIX = ".hangar-upload-"

log = structlog.get_logger(__name__)


class EnvironmentFile(BaseModel):
    name: str
    path: str
    """``workspace/<path in the workspace>``."""
    type: str
    mime_type: str | None = None
    size_bytes: str
    created: str | None = None
    """Birth time where the workspace's filesystem records it."""
    modified: str


@dataclass(frozen=True)
class FileLimits:
    """Bounds of the files API (settings ``HANGAR_MAX_UPLOAD_BYTES``, ``HANGAR_MAX_EXTRACT_*``,
    ``HANGAR_WORKSPACE_QUOTA_*``)."""

    max_upload_bytes: int = 1024**3
    max_extract_bytes: int = 1024**3
    max_extract_entries: int = 100_000
    quota_bytes: int = 10 * 1024**3
    quota_entries: int = 500_000
    project_max_bytes: int | None = None
    """``HANGAR_PROJECT_MAX_WORKSPACE_BYTES``."""
    retry_after: float = 5.0


@dataclass
class Download:
    chunks: AsyncIterator[bytes]
    media_type: str


class FilesPage(BaseModel):
    files: list[EnvironmentFile]
    next_page_token: str = ""


def _used(upload: UploadRecord) -> Usage:
    """The workspace's usage when the session started (the quota's baseline)."""
    return Usage(bytes=upload.used_bytes, entries=upload.used_entries)


def workspace_path(path: str) -> str:
    """``path`` relative to the workspace (``.`` for its root), as sandboxd takes it."""
    rel = path.lstrip("/")
    if rel == "workspace" or rel.startswith("workspace/"):
        rel = rel.removeprefix("workspace").lstrip("/")
    return rel or "."


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_api(info: FileInfo) -> EnvironmentFile:
    rel = "" if info.path == "." else info.path
    kind = "directory" if info.type == "directory" else "file"
    mime = (mimetypes.guess_type(rel)[0] or "application/octet-stream") if kind == "file" else None
    return EnvironmentFile(
        name=posixpath.basename(rel) or "workspace", path=posixpath.join("workspace", rel).rstrip("/"),
        type=kind, mime_type=mime, size_bytes=str(info.size if kind == "file" else 0),
        created=None if info.created is None else _timestamp(info.created), modified=_timestamp(info.mtime),
    )


class EnvironmentFiles:
    def __init__(
        self, environments: EnvironmentService, boxes: FileBoxes, *, limits: FileLimits, sessions: UploadRepo,
        usage: EnvironmentRepo | None = None,
    ) -> None:
        self._environments = environments
        self._usage = usage
        self._boxes = boxes
        self._limits = limits
        self._max = limits.max_upload_bytes
        self._sessions = sessions

    async def list(
        self, project_id: str, environment_id: str, path: str, *, recursive: bool = False,
        page_size: int | None = None, page_token: str | None = None,
    ) -> FilesPage:
        """A directory's entries (all levels with ``recursive``), or one file's metadata.
        Raises :class:`NotFound` for an unknown environment or path, ``PathOutsideWorkspace`` (400)."""
        record = await self._environments.record(project_id, environment_id)
        async with self._boxes.open(record.volume) as box:
            entries = await box.client.list_files(workspace_path(path), recursive=recursive)
        await self._environments.accessed(record)
        shown = [to_api(e) for e in entries if not posixpath.basename(e.path).startswith(TEMP_PREFIX)]
        page = page_of(shown, page_size, page_token)
        return FilesPage(files=page.items, next_page_token=page.next_page_token)

    async def download(self, project_id: str, environment_id: str, path: str) -> Download:
        """A file's bytes, or a directory as a POSIX tar, chunk by chunk. Checks run before the
        first chunk: :class:`NotFound`, ``PathOutsideWorkspace`` (400)."""
        record = await self._environments.record(project_id, environment_id)
        rel = workspace_path(path)
        async with self._boxes.open(record.volume) as box:
            info = await box.client.stat(rel)
        await self._environments.accessed(record)
        if info.type == "directory":
            return Download(self._tar(record.volume, rel), "application/x-tar")
        mime = mimetypes.guess_type(rel)[0] or "application/octet-stream"
        return Download(self._read(record.volume, rel, info.size), mime)

    async def _tar(self, volume: str, rel: str) -> AsyncIterator[bytes]:
        async with self._boxes.open(volume) as box:
            async for chunk in box.client.download_tar(rel):
                yield chunk

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
        await self._expire()
        record = await self._environments.record(project_id, environment_id)
        rel = workspace_path(path)
        if size is not None and size > self._max:
            raise LimitExceeded(
                f"upload of {size} bytes is larger than the limit of {self._max} bytes "
                "(HANGAR_MAX_UPLOAD_BYTES)"
            )
        async with self._boxes.open(record.volume) as box:
            await _check_target(box.client, rel, path, overwrite=overwrite, extract=extract)
            used = await box.client.usage(
                stop_bytes=self._limits.quota_bytes, stop_entries=self._limits.quota_entries
            )
        self._check_quota(used, size or 0)
        await self._check_project(record.project_id, record.id, record.volume, used.bytes, size or 0)
        session = secrets.token_urlsafe(24)
        await self._sessions.insert(session, UploadRecord(
            project_id=project_id, environment_id=record.id, volume=record.volume, path=rel,
            overwrite=overwrite, extract=extract, size=size, temp=f"{TEMP_PREFIX}{session[:16]}",
            created=time.time(), used_bytes=used.bytes, used_entries=used.entries,
        ))
        return session

    def _check_quota(self, used: Usage, incoming: int) -> None:
        """Raises :class:`LimitExceeded` when ``incoming`` more bytes pass the workspace quota."""
        quota = self._limits
        if used.entries >= quota.quota_entries:
            raise LimitExceeded(
                f"the workspace has {used.entries} or more entries, its quota is "
                f"{quota.quota_entries} (HANGAR_WORKSPACE_QUOTA_ENTRIES)"
            )
        if used.bytes + incoming > quota.quota_bytes:
            raise LimitExceeded(
                f"the workspace uses {used.bytes} bytes; {incoming} more would pass its quota of "
                f"{quota.quota_bytes} bytes (HANGAR_WORKSPACE_QUOTA_BYTES)"
            )

    async def _check_project(
        self, project_id: str, environment_id: str, volume: str, used: int, incoming: int, *,
        record: bool = True,
    ) -> None:
        """Record this workspace's measured usage (``used`` bytes), then raise
        :class:`QuotaExceeded` when ``incoming`` more bytes take the project past
        ``HANGAR_PROJECT_MAX_WORKSPACE_BYTES`` (its other environments as last measured)."""
        if self._usage is None:
            return
        if record:
            await self._usage.record_usage(volume, used, time.time())
        limit = self._limits.project_max_bytes
        if limit is None:
            return
        total = used + await self._usage.project_usage(project_id, excluding=environment_id)
        if total + incoming > limit:
            raise workspace_exceeded(total, incoming, limit, self._limits.retry_after)

    async def received(self, session: str, environment_id: str) -> int:
        """Bytes an open session holds. Raises :class:`NotFound` for an unknown session."""
        return (await self._session(session, environment_id)).received

    async def _session(self, session: str, environment_id: str) -> UploadRecord:
        upload = await self._sessions.get(session, newer_than=time.time() - SESSION_TTL_S)
        if upload is None or upload.environment_id != environment_id.removeprefix("environments/"):
            raise NotFound("upload session not found (expired or finished)")
        return upload

    async def upload_chunk(
        self, session: str, environment_id: str, offset: int, body: AsyncIterator[bytes], *, finalize: bool,
        expect_end: int | None = None,
    ) -> FilesPage | None:
        """Append a chunk at ``offset``; on ``finalize`` put the file in place and return its metadata
        (for ``extract``, the entries of the destination folder). Raises :class:`NotFound` for an
        unknown or expired session, :class:`InputError` for a wrong offset, a chunk that does not end
        at ``expect_end`` or a size other than announced, :class:`LimitExceeded` past a limit."""
        upload = await self._session(session, environment_id)
        if offset != upload.received:
            raise InputError(f"X-Goog-Upload-Offset is {offset}, expected {upload.received}")
        try:
            async with self._boxes.open(upload.volume) as box:
                await self._append(box.client, session, upload, body)
                if expect_end is not None and upload.received != expect_end:
                    raise InputError(
                        f"the chunk ended at byte {upload.received}, Content-Range said {expect_end}"
                    )
                if not finalize:
                    return None
                if upload.size is not None and upload.received != upload.size:
                    raise InputError(f"received {upload.received} bytes, announced {upload.size}")
                await self._check_project(
                    upload.project_id, upload.environment_id, upload.volume, upload.used_bytes,
                    upload.received, record=False,
                )
                page = await _finish(box.client, upload, self._extract_limits(upload))
                await self._record_after(box.client, upload)
            await self._environments.accessed(
                await self._environments.record(upload.project_id, upload.environment_id)
            )
            return page
        except Exception as e:
            if finalize or isinstance(e, LimitExceeded):
                await self._abort(session, upload)
            raise
        finally:
            if finalize:
                await self._sessions.delete(session)

    async def _record_after(self, client: SandboxdClient, upload: UploadRecord) -> None:
        """Measure the workspace once the upload is in place, so the project's figure includes it."""
        if self._usage is None:
            return
        try:
            used = await client.usage(
                stop_bytes=self._limits.quota_bytes, stop_entries=self._limits.quota_entries
            )
        except HangarError as e:  # the file is in place: the figure stays the start's until the next one
            log.warning("workspace usage after upload not measured", error=str(e)[:300])
            return
        await self._usage.record_usage(upload.volume, used.bytes, time.time())

    def _extract_limits(self, upload: UploadRecord) -> ExtractLimits:
        """The archive's bounds: the extraction caps, or what is left of the quota when less."""
        lim = self._limits
        room_bytes = max(0, lim.quota_bytes - upload.used_bytes - upload.received)
        room_entries = max(0, lim.quota_entries - upload.used_entries - 1)
        by_quota = room_bytes < lim.max_extract_bytes
        entries_by_quota = room_entries < lim.max_extract_entries
        return ExtractLimits(
            max_bytes=room_bytes if by_quota else lim.max_extract_bytes,
            max_entries=room_entries if entries_by_quota else lim.max_extract_entries,
            bytes_setting="HANGAR_WORKSPACE_QUOTA_BYTES" if by_quota else "HANGAR_MAX_EXTRACT_BYTES",
            entries_setting=(
                "HANGAR_WORKSPACE_QUOTA_ENTRIES" if entries_by_quota else "HANGAR_MAX_EXTRACT_ENTRIES"
            ),
        )

    async def _append(
        self, client: SandboxdClient, session: str, upload: UploadRecord, body: AsyncIterator[bytes]
    ) -> None:
        buffer = bytearray()
        async for data in body:
            buffer += data
            if upload.received + len(buffer) > self._max:
                raise LimitExceeded(
                    f"upload is larger than the limit of {self._max} bytes (HANGAR_MAX_UPLOAD_BYTES)"
                )
            self._check_quota(_used(upload), upload.received + len(buffer))
            if len(buffer) >= CHUNK:
                await self._write(client, session, upload, bytes(buffer))
                buffer.clear()
        if buffer or upload.received == 0:
            await self._write(client, session, upload, bytes(buffer))

    async def _write(self, client: SandboxdClient, session: str, upload: UploadRecord, data: bytes) -> None:
        """Append ``data`` to the session's file, then record it (a chunk cut off midway resumes
        from the last recorded byte)."""
        if not await self._sessions.advance(session, upload.received, upload.received):
            raise InputError("the upload session moved on meanwhile (a chunk sent twice at once?)")
        await client.write_file(upload.temp, data, append=upload.received > 0)
        if not await self._sessions.advance(session, upload.received, upload.received + len(data)):
            raise InputError("the upload session moved on meanwhile (a chunk sent twice at once?)")
        upload.received += len(data)

    async def _abort(self, session: str, upload: UploadRecord) -> None:
        await self._sessions.delete(session)
        async with self._boxes.open(upload.volume) as box:
            with contextlib.suppress(NotFound):
                await box.client.delete(upload.temp)

    async def _expire(self) -> None:
        """Forget sessions past their lifetime and delete what they received."""
        for upload in await self._sessions.purge(older_than=time.time() - SESSION_TTL_S):
            with contextlib.suppress(HangarError):
                async with self._boxes.open(upload.volume) as box:
                    await box.client.delete(upload.temp)


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
        raise AlreadyExists(f"'{shown}' exists: pass overwrite=true to replace it")


async def _finish(client: SandboxdClient, upload: UploadRecord, limits: ExtractLimits) -> FilesPage:
    if not upload.extract:
        if not upload.overwrite:  # created meanwhile (by another upload, or by the box)
            await _check_target(client, upload.path, upload.path, overwrite=False, extract=False)
        info = await client.move(upload.temp, upload.path, overwrite=upload.overwrite)
        return FilesPage(files=[to_api(info)])
    try:
        await client.stat(upload.path)
        made = False
    except NotFound:
        made = True
    try:
        await client.mkdir(upload.path)
        await client.upload_tar(upload.path, _chunks(client, upload.temp, upload.received), limits=limits)
    except HangarError:
        if made:  # a refused archive leaves nothing behind, its destination folder included
            with contextlib.suppress(HangarError):
                await client.delete(upload.path)
        raise
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
