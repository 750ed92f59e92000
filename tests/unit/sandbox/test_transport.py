"""The host side of the socket boundary without Docker: the checked dial and the bounded client,
against raw unix-socket servers of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.errors import SandboxGone, Timeout
from runtime.sandbox import client as client_mod
from runtime.sandbox.client import ProtocolViolation, SandboxdClient
from runtime.sandbox.transport import SandboxdTransport, SocketRefused, open_checked


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory (unix socket paths are limited to 107 bytes)."""
    path = Path(f"/tmp/t-{os.getpid()}-{id(object())}")
    path.mkdir()
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


async def serve(path: Path, reply: bytes, heads: list[bytes]) -> asyncio.AbstractServer:
    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(reply)
        await writer.drain()
        writer.close()

    return await asyncio.start_unix_server(on_connect, str(path))


def client_for(path: Path) -> SandboxdClient:
    return SandboxdClient(SandboxdTransport(path, owner_uid=os.getuid()), "tok")


def test_open_checked_refuses_links_files_and_foreign_owners(short_dir: Path) -> None:
    sock_path = short_dir / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    try:
        os.close(open_checked(sock_path, os.getuid()))
        with pytest.raises(SocketRefused, match="owned by uid"):
            open_checked(sock_path, os.getuid() + 1)
        link = short_dir / "l.sock"
        link.symlink_to(sock_path)
        with pytest.raises(SocketRefused, match="symbolic link"):
            open_checked(link, os.getuid())
        plain = short_dir / "f.sock"
        plain.write_text("x")
        with pytest.raises(SocketRefused, match="not a socket"):
            open_checked(plain, None)
    finally:
        server.close()


async def test_requests_ask_for_no_compression_and_refuse_it(short_dir: Path) -> None:
    body = gzip.compress(b"{}" + b" " * 1_000_000)
    reply = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    heads: list[bytes] = []
    server = await serve(short_dir / "s.sock", reply, heads)
    client = client_for(short_dir / "s.sock")
    try:
        with pytest.raises(ProtocolViolation, match="compressed"):
            await client.list_files()
    finally:
        await client.aclose()
        server.close()
    assert b"accept-encoding" not in heads[0].lower()
    assert b"authorization: bearer tok" in heads[0].lower()


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 999999999999\r\n\r\n", "declared length"),
        (b"HTTP/1.1 500 Oops\r\ncontent-length: 70000\r\n\r\n" + b"e" * 70000, "declared length"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 200\r\n\r\n" + b"r" * 200, "declared length"),
    ],
)
async def test_replies_past_their_bound_are_refused(short_dir: Path, reply: bytes, match: str) -> None:
    """A 1 TB body, a 70 kB error body, 200 bytes for a 100-byte read: refused before reading."""
    server = await serve(short_dir / "s.sock", reply, [])
    client = client_for(short_dir / "s.sock")
    try:
        with pytest.raises(ProtocolViolation, match=match):
            await client.read_file("x", length=100)
    finally:
        await client.aclose()
        server.close()


async def test_exec_lines_and_streams_are_bounded(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_mod, "MAX_EXEC_LINE", 1000)
    line = b"x" * 5000
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(line) + line
    server = await serve(short_dir / "s.sock", reply, [])
    client = client_for(short_dir / "s.sock")
    violations: list[ProtocolViolation] = []
    client.on_protocol_error = violations.append
    try:
        with pytest.raises(ProtocolViolation, match="line longer"):
            await client.exec("true")
    finally:
        await client.aclose()
        server.close()
    assert violations, "the box's owner is told, so it can retire the box"


async def test_malformed_json_is_a_protocol_violation(short_dir: Path) -> None:
    body = b'{"entries": "nope"}'
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    server = await serve(short_dir / "s.sock", reply, [])
    client = client_for(short_dir / "s.sock")
    try:
        with pytest.raises(ProtocolViolation, match="malformed"):
            await client.list_files()
    finally:
        await client.aclose()
        server.close()


async def test_a_symlinked_socket_is_never_dialled(short_dir: Path) -> None:
    heads: list[bytes] = []
    server = await serve(short_dir / "real.sock", b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", heads)
    (short_dir / "s.sock").symlink_to(short_dir / "real.sock")
    client = client_for(short_dir / "s.sock")
    try:
        with pytest.raises(SandboxGone, match="symbolic link"):
            await client.health()
    finally:
        await client.aclose()
        server.close()
    assert heads == []


async def test_a_trickled_reply_hits_the_call_deadline(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each byte arrives well within the read timeout; the whole call still ends at its deadline."""
    monkeypatch.setattr(client_mod, "MARGIN_S", 0.2)

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.05)

    server = await asyncio.start_unix_server(on_connect, str(short_dir / "s.sock"))
    client = client_for(short_dir / "s.sock")
    try:
        with pytest.raises(Timeout, match="did not finish /files/stat"):
            await client._call("/files/stat", timeout_s=0.3)
    finally:
        await client.aclose()
        server.close()


async def test_an_unknown_owner_is_pinned_at_the_first_connection(short_dir: Path) -> None:
    path = short_dir / "s.sock"
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
    server = await serve(path, reply, [])
    transport = SandboxdTransport(path, owner_uid=None)
    client = SandboxdClient(transport, "tok")
    try:
        assert await client._call("/x") == b"{}"
        assert transport.backend.peer_pid == os.getpid()
        server.close()
        await server.wait_closed()
        if os.geteuid() == 0:  # another owner now: refused (as root the test can fake one)
            os.chown(path, 4242, -1)
            with pytest.raises(ProtocolViolation, match="owned by uid 4242"):
                await client._call("/x")
    finally:
        await client.aclose()


EXIT_LINE = b'{"type":"exit","exit_code":0,"duration_ms":1.0}\n'


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_execs_reuse_one_connection(short_dir: Path) -> None:
    """The exec reply is read to its end, so the next call goes over the same connection."""
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + _chunk(EXIT_LINE))
                await writer.drain()
                await asyncio.sleep(0.01)  # the end of the reply comes in a write of its own
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(on_connect, str(short_dir / "s.sock"))
    client = client_for(short_dir / "s.sock")
    try:
        for _ in range(3):
            assert (await client.exec(["true"])).exit_code == 0
    finally:
        await client.aclose()
        server.close()
    assert connections == [1]


async def test_an_exec_reply_left_open_after_its_exit_still_returns(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call's read timeout still bounds it; the exit already read is the result."""
    monkeypatch.setattr(client_mod, "MARGIN_S", 0.2)
    release = asyncio.Event()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + _chunk(EXIT_LINE))
        await writer.drain()
        await release.wait()  # never ends the reply while the call runs
        writer.close()

    server = await asyncio.start_unix_server(on_connect, str(short_dir / "s.sock"))
    client = client_for(short_dir / "s.sock")
    try:
        result = await asyncio.wait_for(client.exec(["true"], timeout_s=0.3), 10)
        assert result.exit_code == 0
    finally:
        release.set()
        await client.aclose()
        server.close()
