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
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import InputError, LimitExceeded, PathOutsideWorkspace

CHUNK = 256 * 1024
DEFAULT_MAX_BYTES = 1024**3
"""Bytes one archive may expand to when the caller names no bound."""
DEFAULT_MAX_ENTRIES = 100_000


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


@dataclass(frozen=True)
class ExtractLimits:
    """Bounds on what one archive may put on disk; reached, extraction stops with
    :class:`LimitExceeded` naming ``setting`` (the knob that raises the bound)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_entries: int = DEFAULT_MAX_ENTRIES
    bytes_setting: str = "HANGAR_MAX_EXTRACT_BYTES"
    entries_setting: str = "HANGAR_MAX_EXTRACT_ENTRIES"


@dataclass
class ExtractResult:
    entries: int = 0
    bytes: int = 0
    skipped_links: list[str] = field(default_factory=list)
    """Symbolic links not created (host-side extraction creates none)."""


async def extract_tar(
    chunks: AsyncIterator[bytes], dest: str, root: str, *, limits: ExtractLimits | None = None,
    links: bool = True,
) -> ExtractResult:
    """Extract a tar stream under ``dest`` (inside ``root``).

    Raises ``PathOutsideWorkspace`` for members that are absolute, contain ``..`` or are links
    resolving outside ``root``; ``InputError`` for device files, sparse members or a malformed
    archive; :class:`LimitExceeded` before the entry or the byte that would pass ``limits``.
    With ``links=False`` (extraction on the host) no link is ever created: a symbolic link is
    skipped (and listed in the result), a hard link becomes a copy of the file it names, and
    nothing is written through a link already there.
    Entries before a rejected member stay extracted.
    """
    loop = asyncio.get_running_loop()
    source = _Source(loop, chunks)
    return await loop.run_in_executor(None, _extract, source, dest, root, limits or ExtractLimits(), links)


def _extract(source: _Source, dest: str, root: str, limits: ExtractLimits, links: bool) -> ExtractResult:
    root = os.path.realpath(root)
    os.makedirs(dest, exist_ok=True)
    result = ExtractResult()
    created: list[str] = []
    try:
        with tarfile.open(fileobj=source, mode="r|*") as tar:  # type: ignore[call-overload]
            for member in tar:
                _count(member, result, limits)
                if not links and member.issym():
                    result.skipped_links.append(member.name)
                    continue
                if not links and member.islnk():
                    _copy_linked(member, dest, root, result, limits)
                    continue
                _extract_member(tar, member, dest, root, links=links)
                if member.issym():
                    created.append(os.path.join(dest, member.name))
    except tarfile.TarError as e:
        raise InputError(f"not a valid tar stream: {e}") from e
    finally:
        _check_final_links(created, root)
    return result


def _copy_linked(
    member: tarfile.TarInfo, dest: str, root: str, result: ExtractResult, limits: ExtractLimits
) -> None:
    """A hard link on the host becomes a copy of the file it names (extracted earlier from the same
    archive): the content arrives, no two names share an inode. Anything else is skipped."""
    final = _target(member.name, dest, root)
    source = _target(member.linkname, dest, root)
    _no_links_below(root, os.path.dirname(final))
    _no_links_below(root, source)
    if not os.path.isfile(source):
        result.skipped_links.append(member.name)
        return
    result.bytes += os.path.getsize(source)
    if result.bytes > limits.max_bytes:
        raise LimitExceeded(
            f"the archive expands to more than {limits.max_bytes} bytes ({limits.bytes_setting})"
        )
    os.makedirs(os.path.dirname(final), exist_ok=True)
    if os.path.lexists(final) and not os.path.isdir(final):
        os.unlink(final)
    fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
    os.chmod(final, member.mode & 0o777)


def _check_final_links(created: list[str], root: str) -> None:
    """Links harmless one by one can escape together (``A -> B/../..`` checked while ``B`` did not
    exist, then ``B`` a link upwards): resolve each against the final tree, remove the escaping."""
    escaping = [p for p in created if os.path.islink(p) and not _inside(root, os.path.realpath(p))]
    for path in escaping:
        os.unlink(path)
    if escaping:
        names = ", ".join(repr(os.path.relpath(p, root)) for p in escaping[:5])
        raise PathOutsideWorkspace(f"tar symlinks {names} point outside {root!r} once extracted (removed)")


def _count(member: tarfile.TarInfo, result: ExtractResult, limits: ExtractLimits) -> None:
    result.entries += 1
    if result.entries > limits.max_entries:
        raise LimitExceeded(
            f"the archive has more than {limits.max_entries} entries ({limits.entries_setting})"
        )
    if member.issparse():
        raise InputError(f"tar member {member.name!r} is a sparse file, which is not supported")
    if member.isreg():
        result.bytes += member.size
        if result.bytes > limits.max_bytes:
            raise LimitExceeded(
                f"the archive expands to more than {limits.max_bytes} bytes ({limits.bytes_setting})"
            )


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


def _no_links_below(root: str, real: str) -> None:
    """Refuse a path with a symlink in any component below ``root`` (host-side extraction)."""
    rel = os.path.relpath(real, root)
    path = root
    for part in [] if rel == "." else rel.split(os.sep):
        path = os.path.join(path, part)
        if os.path.islink(path):
            raise PathOutsideWorkspace(f"{path!r} is a symbolic link: nothing is written through it")


def _extract_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, dest: str, root: str, *, links: bool
) -> None:
    final = _target(member.name, dest, root)
    if not links:
        _no_links_below(root, os.path.dirname(final))
    if member.isdir():
        if not links and os.path.islink(final):
            os.unlink(final)
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
        _write_regular(tar, member, final)


def _write_regular(tar: tarfile.TarFile, member: tarfile.TarInfo, final: str) -> None:
    src = tar.extractfile(member)
    assert src is not None
    # O_NOFOLLOW|O_EXCL: the name was just unlinked, so anything there now is a race: refuse it.
    fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with src, os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
    os.chmod(final, member.mode & 0o777)
