"""Attacks on sandboxd's TCP transport, against a real box on a real network: a caller without
the host's certificate, one with it but a wrong token, and a host pinned to another box's
certificate are all refused; the box's TLS key is gone from the box once sandboxd listens."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.docker_tcp import DockerTcpProvider, DockerTcpSandbox
from runtime.sandbox.tcp import DEFAULT_PORT, SERVER_KEY, HostIdentity, box_tls

pytestmark = pytest.mark.docker


@pytest.fixture
async def box(tcp_provider: DockerTcpProvider, spec: SandboxSpec) -> AsyncIterator[DockerTcpSandbox]:
    sandbox = await tcp_provider.create(spec)
    assert isinstance(sandbox, DockerTcpSandbox)
    async with sandbox:
        yield sandbox


def _address(box: DockerTcpSandbox) -> str:
    host = box.tls._host
    assert host is not None
    return f"https://{host}:{DEFAULT_PORT}"


def _context_with_client(server_cert: bytes, client: HostIdentity | None) -> ssl.SSLContext:
    """Trusts the box's real certificate (so the attack reaches sandboxd's check of the client)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=server_cert.decode())
    if client is not None:
        ctx.load_cert_chain(client.directory / "host.crt", client.directory / "host.key")
    return ctx


async def _health(ctx: ssl.SSLContext, url: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(verify=ctx, trust_env=False, timeout=10) as client:
        return await client.get(f"{url}/health", headers={"authorization": f"Bearer {token}"})


async def test_the_real_host_gets_through(box: DockerTcpSandbox, tcp_provider: DockerTcpProvider) -> None:
    ctx = tcp_provider.identity.client_context(box.tls_pem.cert)
    assert (await _health(ctx, _address(box), box.where.token)).status_code == 200
    assert (await box.client.exec(["true"])).exit_code == 0


async def test_a_client_with_another_certificate_is_refused(box: DockerTcpSandbox, tmp_path: Path) -> None:
    impostor = HostIdentity(tmp_path / "impostor")
    impostor.create()
    ctx = _context_with_client(box.tls_pem.cert, impostor)
    with pytest.raises(httpx.TransportError):
        await _health(ctx, _address(box), box.where.token)  # even with the right token


async def test_a_client_without_a_certificate_is_refused(box: DockerTcpSandbox, tmp_path: Path) -> None:
    ctx = _context_with_client(box.tls_pem.cert, None)
    with pytest.raises(httpx.TransportError):
        await _health(ctx, _address(box), box.where.token)


async def test_the_hosts_certificate_with_a_wrong_token_is_refused(
    box: DockerTcpSandbox, tcp_provider: DockerTcpProvider
) -> None:
    ctx = tcp_provider.identity.client_context(box.tls_pem.cert)
    response = await _health(ctx, _address(box), "not-the-token")
    assert response.status_code == 401


async def test_a_host_pinned_to_another_certificate_refuses_the_listener(
    box: DockerTcpSandbox, tcp_provider: DockerTcpProvider
) -> None:
    """What the host does when something else answers at a box's address: the pin fails."""
    other = box_tls("someone-else")
    ctx = tcp_provider.identity.client_context(other.cert)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await _health(ctx, _address(box), box.where.token)


async def test_the_box_key_is_gone_once_sandboxd_listens(box: DockerTcpSandbox) -> None:
    listing = await box.client.exec(["ls", "-a", "/run/sandboxd"])
    assert SERVER_KEY not in listing.stdout.split()
    assert "token" not in listing.stdout.split()
    assert not (box.where.socket_dir / SERVER_KEY).exists()
