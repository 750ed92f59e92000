"""Stream tar archives in and out without holding them in memory; extract safely.

``tarfile`` is blocking, so each archive is read or written in a worker thread that exchanges
chunks with the event loop through a small bounded queue (back-pressure both ways). Used by
sandboxd and by the host client (``download_path`` extracts with the same checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tarfile
import threading
from collections.abc import AsyncIterator
from typing import Any

from runtime.errors import InputError, PathOutsideWorkspace

CHUNK = 256 * 1024


class _Cancelled(Exception):
    pass


class _Sink:
    """A write-only file object that hands ``CHUNK``-sized pieces to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any], stop: threading.Event):
        self._loop, self._queue, self._stop = loop, queue, stop
        self._buf = bytearray()

    def put(self, item: object) -> None:
        if self._stop.is_set():
            raise _Cancelled
        asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop).result()

    def write(self, data: bytes) -> int:
        self._buf += data
        if len(self._buf) >= CHUNK:
            self.put(bytes(self._buf))
            self._buf.clear()
        return len(data)

    def flush(self) -> None:
        if self._buf:
            self.put(bytes(self._buf))
            self._buf.clear()


async def iter_tar(real: str, arcname: str) -> AsyncIterator[bytes]:
    """Yield an uncompressed tar of ``real`` (a file or a directory tree) stored as ``arcname``."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=8)
    stop = threading.Event()
    sink = _Sink(loop, queue, stop)

    def produce() -> None:
        try:
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                tar.add(real, arcname=arcname)
            sink.flush()
            sink.put(None)
        except _Cancelled:
            return
        except Exception as e:
            with contextlib.suppress(_Cancelled):
                sink.put(e)

    worker = loop.run_in_executor(None, produce)
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        while not queue.empty():  # unblock a producer waiting on a full queue
            queue.get_nowait()
        await worker


class _Source:
    """A read-only file object fed from an async iterator (called from a worker thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, chunks: AsyncIterator[bytes]) -> None:
        self._loop, self._chunks = loop, chunks
        self._buf = b""
        self._eof = False

    async def _next(self) -> bytes | None:
        return await anext(self._chunks, None)

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buf) < size):
            data = asyncio.run_coroutine_threadsafe(self._next(), self._loop).result()
            if data is None:
                self._eof = True
            else:
                self._buf += data
        if size < 0:
            size = len(self._buf)
        out, self._buf = self._buf[:size], self._buf[size:]
        return out


async def extract_tar(chunks: AsyncIterator[bytes], dest: str, root: str) -> int:
    """Extract a tar stream under ``dest`` (inside ``root``); returns how many entries were written.

    Raises ``PathOutsideWorkspace`` for members that are absolute, contain ``..`` or are links
    resolving outside ``root``, and ``InputError`` for device files or a malformed archive.
    Entries before a rejected member stay extracted.
    """
    loop = asyncio.get_running_loop()
    source = _Source(loop, chunks)
    return await loop.run_in_executor(None, _extract, source, dest, root)


def _extract(source: _Source, dest: str, root: str) -> int:
    root = os.path.realpath(root)
    os.makedirs(dest, exist_ok=True)
    count = 0
    try:
        with tarfile.open(fileobj=source, mode="r|*") as tar:  # type: ignore[call-overload]
            for member in tar:
                _extract_member(tar, member, dest, root)
                count += 1
    except tarfile.TarError as e:
        raise InputError(f"not a valid tar stream: {e}") from e
    return count


def _inside(root: str, real: str) -> bool:
    return real == root or real.startswith(root + os.sep)


def _target(member_name: str, dest: str, root: str) -> str:
    parts = member_name.replace("\\", "/").split("/")
    if member_name.startswith("/") or ".." in parts:
        raise PathOutsideWorkspace(f"tar member {member_name!r} is absolute or contains '..'")
    joined = os.path.normpath(os.path.join(dest, member_name))
    parent = os.path.realpath(os.path.dirname(joined))
    final = joined if joined == dest else os.path.join(parent, os.path.basename(joined))
    if not _inside(root, parent) or not _inside(root, final):
        raise PathOutsideWorkspace(f"tar member {member_name!r} would be written outside {root!r}")
    return final


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: str, root: str) -> None:
    final = _target(member.name, dest, root)
    if member.isdir():
        os.makedirs(final, exist_ok=True)
        return
    if not (member.isreg() or member.issym() or member.islnk()):
        raise InputError(f"tar member {member.name!r} is a device, fifo or other special file")
    os.makedirs(os.path.dirname(final), exist_ok=True)
    if os.path.lexists(final) and not os.path.isdir(final):
        os.unlink(final)  # never write through an existing symlink
    if member.issym():
        link = member.linkname
        resolved = os.path.realpath(os.path.join(os.path.dirname(final), link))
        if not _inside(root, resolved):
            raise PathOutsideWorkspace(f"tar symlink {member.name!r} -> {link!r} points outside {root!r}")
        os.symlink(link, final)
    elif member.islnk():
        os.link(_target(member.linkname, dest, root), final)
    else:
        src = tar.extractfile(member)
        assert src is not None
        with src, open(final, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        os.chmod(final, member.mode & 0o777)
