"""The in-box relay: loopback TCP piped to a unix socket, both ways, half-close included."""

from __future__ import annotations

import asyncio
from pathlib import Path

from runtime.sandboxd import egress_relay


async def _exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    writer.write_eof()
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return reply


async def test_relay_pipes_to_the_unix_socket(tmp_path: Path) -> None:
    sock = tmp_path / "proxy.sock"

    async def upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write((await reader.read()).upper())  # reads to EOF: the client's half-close arrived
        await writer.drain()
        writer.close()

    upstream = await asyncio.start_unix_server(upper, str(sock))
    relay = await egress_relay.start(str(sock), port=0)
    port = relay.sockets[0].getsockname()[1]
    try:
        assert await _exchange(port, b"connect example.org:443") == b"CONNECT EXAMPLE.ORG:443"
    finally:
        relay.close()
        upstream.close()


async def test_relay_answers_502_when_the_proxy_is_gone(tmp_path: Path) -> None:
    relay = await egress_relay.start(str(tmp_path / "missing.sock"), port=0)
    port = relay.sockets[0].getsockname()[1]
    try:
        reply = await _exchange(port, b"GET http://a.example/ HTTP/1.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 502") and reply.endswith(b"could not be reached.\n")
    finally:
        relay.close()


async def test_no_relay_without_egress(monkeypatch: object) -> None:
    import os

    assert egress_relay.ENV_SOCKET not in os.environ
    assert await egress_relay.start_from_env() is None
