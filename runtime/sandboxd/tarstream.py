"""Stream tar archives in and out without holding them in memory; extract safely.

``tarfile`` is blocking, so each archive is read or written in a worker thread that exchanges
chunks with the event loop through a small bounded queue (back-pressure both ways). Used by
sandboxd and by the host client (``download_path`` extracts with the same checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import tarfile
import threading
from collections.abc import AsyncIterator
from typing import Any

from runtime.sandboxd.untar import ExtractLimits, ExtractResult, extract_stream

CHUNK = 256 * 1024
__all__ = ["ExtractLimits", "ExtractResult", "extract_tar", "iter_tar"]


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
    On any refusal, what this archive created is removed again (files it replaced stay replaced).
    """
    loop = asyncio.get_running_loop()
    source = _Source(loop, chunks)
    return await loop.run_in_executor(
        None, extract_stream, source, dest, root, limits or ExtractLimits(), links
    )
