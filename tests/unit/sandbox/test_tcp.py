"""sandboxd's TCP + mutual TLS transport on loopback: the real sandboxd app and server, the real
host client; the pins hold both ways."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runtime.errors import HangarError
from runtime.sandbox.client import SandboxdClient
from runtime.sandbox.tcp import (
    CLIENT_CERT,
    SERVER_CERT,
    SERVER_KEY,
    HostIdentity,
    TlsTransport,
    box_tls,
    write_box_files,
)
from runtime.sandboxd.app import Config, create_app
from runtime.sandboxd.server import serve_tcp_tls, server_tls_context

TOKEN = "box-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def identity(tmp_path: Path) -> HostIdentity:
    host = HostIdentity(tmp_path / "host")
    host.create()
    return host


@pytest.fixture
async def daemon(tmp_path: Path, identity: HostIdentity) -> AsyncIterator[tuple[int, bytes]]:
    box_dir = tmp_path / "box"
    box_dir.mkdir()
    (tmp_path / "ws").mkdir()
    pem = box_tls("abc")
    write_box_files(box_dir, pem, identity.cert_pem, None)
    files = (str(box_dir / name) for name in (SERVER_CERT, SERVER_KEY, CLIENT_CERT))
    context = server_tls_context(*files)
    app = create_app(Config(token=TOKEN, workspace=str(tmp_path / "ws")))
    port = _free_port()
    server = await serve_tcp_tls(app, "127.0.0.1", port, context)
    yield port, pem.cert
    server.close()
    await server.wait_closed()
    await app.aclose()


def _client(identity: HostIdentity, cert: bytes, port: int, token: str = TOKEN) -> SandboxdClient:
    transport = TlsTransport(identity.client_context(cert), port)
    transport.point_at("127.0.0.1")
    return SandboxdClient(transport, token)


async def test_the_host_client_works_over_tls(daemon: tuple[int, bytes], identity: HostIdentity) -> None:
    port, cert = daemon
    client = _client(identity, cert, port)
    try:
        assert (await client.health()).status == "ok"
        await client.write_file("a.txt", b"over tls")
        assert await client.read_file("a.txt") == b"over tls"
    finally:
        await client.aclose()


async def test_a_wrong_token_is_refused(daemon: tuple[int, bytes], identity: HostIdentity) -> None:
    port, cert = daemon
    client = _client(identity, cert, port, token="wrong")
    try:
        with pytest.raises(HangarError) as caught:
            await client.health()
        assert caught.value.code == "unauthorized"
    finally:
        await client.aclose()


async def test_another_host_identity_is_refused(daemon: tuple[int, bytes], tmp_path: Path) -> None:
    port, cert = daemon
    stranger = HostIdentity(tmp_path / "stranger")
    stranger.create()
    client = _client(stranger, cert, port)
    try:
        with pytest.raises(HangarError) as caught:
            await client.health()
        assert caught.value.code != "unauthorized"  # refused at the handshake, before any HTTP
    finally:
        await client.aclose()


async def test_a_listener_with_another_certificate_is_refused(
    daemon: tuple[int, bytes], identity: HostIdentity
) -> None:
    port, _cert = daemon
    context = identity.client_context(box_tls("impostor").cert)
    async with httpx.AsyncClient(verify=context, trust_env=False) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(f"https://127.0.0.1:{port}/health")


def test_contexts_are_tls13_only(identity: HostIdentity) -> None:
    context = identity.client_context(box_tls("x").cert)
    assert context.minimum_version is ssl.TLSVersion.TLSv1_3
    assert context.verify_mode is ssl.CERT_REQUIRED


def test_sandboxd_reads_the_files_the_host_writes() -> None:
    from runtime.sandbox.tcp import CLIENT_CERT as HOST_CLIENT_CERT
    from runtime.sandboxd.__main__ import TLS_FILES

    assert TLS_FILES == (SERVER_CERT, SERVER_KEY, HOST_CLIENT_CERT)
