"""The in-box end of egress: ``127.0.0.1:3128`` piped to the egress proxy's unix socket.

A box has no network interface but loopback. When the host gives it egress it mounts the box's
proxy socket directory read-only at ``/run/egress`` and sets ``SANDBOXD_EGRESS_SOCKET``; sandboxd then
starts this relay, and ``HTTP_PROXY``/``HTTPS_PROXY`` point at it. The relay only moves bytes: every
check happens in the proxy, which knows the box by the socket. Stdlib only, started lazily (boxes
without egress never start it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os

ENV_SOCKET = "SANDBOXD_EGRESS_SOCKET"
HOST = "127.0.0.1"
PORT = 3128
_BODY = b"Hangar egress proxy could not be reached.\n"
_UNREACHABLE = (
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"X-Hangar-Egress: unreachable\r\n"
    + f"Content-Length: {len(_BODY)}\r\n\r\n".encode() + _BODY
)


async def start_from_env() -> asyncio.Server | None:
    """The relay, when the box has egress (``SANDBOXD_EGRESS_SOCKET`` is set); else ``None``."""
    path = os.environ.get(ENV_SOCKET)
    return await start(path) if path else None


async def start(socket_path: str, host: str = HOST, port: int = PORT) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, upstream = await asyncio.open_unix_connection(socket_path)
        except OSError:
            with contextlib.suppress(OSError, TimeoutError):
                writer.write(_UNREACHABLE)
                await writer.drain()
                writer.write_eof()
                # Read what the client sent: closing on unread bytes would reset the connection.
                await asyncio.wait_for(reader.read(65536), 1.0)
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        finally:
            upstream.close()
            writer.close()

    return await asyncio.start_server(handle, host, port, backlog=256)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (OSError, RuntimeError):
        dst.close()
