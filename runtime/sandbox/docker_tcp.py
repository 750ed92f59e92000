"""The Docker provider with sandboxd on TCP and mutual TLS (:mod:`runtime.sandbox.tcp`) instead of
a unix socket: the transport a remote provider (a Kubernetes pod per box) needs, testable on one
Docker engine. Each box joins ``network`` (a network the operator made for it: internal, no
inter-container traffic) and its sandboxd listens on ``port`` there; the host dials the box's
address on that network, pinned to the box's certificate, presenting its own, then the token.

Everything else (hardening, workspace, egress through the proxy's socket, reaping) is the Docker
provider's. A box on a network is reachable from that network: the certificate pin, the client
certificate and the token are what keep other parties out of its sandboxd.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Literal

import httpx
from pydantic import Field

from runtime.errors import HangarError, InputError, NotFound
from runtime.sandbox import engine as eng
from runtime.sandbox.base import SandboxSpec, SandboxState
from runtime.sandbox.docker import DockerProvider, DockerProviderConfig, DockerSandbox
from runtime.sandbox.tcp import DEFAULT_PORT, HostIdentity, Pem, TlsTransport, box_tls, write_box_files


class DockerTcpProviderConfig(DockerProviderConfig):
    type: Literal["docker-tcp"] = "docker-tcp"  # type: ignore[assignment]
    network: str = Field(min_length=1)
    """The Docker network boxes join (it must exist); the host must reach its addresses."""
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    """sandboxd's TLS port inside each box."""


class DockerTcpSandbox(DockerSandbox):
    """A Docker box whose sandboxd answers on TCP with TLS at its address on the network."""

    def __init__(
        self, sandbox_id: str, spec: SandboxSpec, *, provider: DockerProvider, where: eng.Placement,
        fresh_volume: bool,
    ) -> None:
        assert isinstance(provider, DockerTcpProvider)
        self._tcp_provider = provider
        self.tls_pem: Pem = box_tls(sandbox_id)
        """The box's key and certificate (the key goes into the box; the host pins the certificate)."""
        super().__init__(sandbox_id, spec, provider=provider, where=where, fresh_volume=fresh_volume)

    def _open_transport(self, where: eng.Placement, owner_uid: int | None) -> httpx.AsyncBaseTransport:
        provider = self._tcp_provider
        self.tls = TlsTransport(provider.identity.client_context(self.tls_pem.cert), provider.config.port)
        return self.tls

    async def wait_ready(self, deadline: float) -> None:
        """Find the box's address on the network, then poll health until sandboxd answers."""
        network = self._tcp_provider.config.network
        delay = 0.002
        while True:
            await self._fail_if_exited()
            attrs = await self._engine.run(self._engine.client.api.inspect_container, self.container_id)
            networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
            address = (networks.get(network) or {}).get("IPAddress")
            if address:
                self.tls.point_at(address)
                break
            if time.monotonic() >= deadline:
                raise await self._start_failure(f"the box got no address on network {network}")
            await asyncio.sleep(0.01)
        while True:
            now = time.monotonic()
            if now >= deadline:
                await self._fail_if_exited()
                raise await self._start_failure(
                    f"sandboxd did not answer on TLS within {self.spec.start_timeout_s:g} s"
                )
            try:
                await asyncio.wait_for(self.client.health(), max(0.05, deadline - now))
            except (HangarError, httpx.HTTPError, OSError, TimeoutError):
                await self._fail_if_exited()
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 0.05)
                continue
            self.state = SandboxState.READY
            return


class DockerTcpProvider(DockerProvider):
    name = "docker-tcp"
    sandbox_class = DockerTcpSandbox
    config: DockerTcpProviderConfig

    def __init__(self, config: DockerTcpProviderConfig) -> None:
        super().__init__(config)
        self.identity = HostIdentity(config.state_dir / "tls-host" / config.namespace)

    async def start(self) -> None:
        await asyncio.to_thread(self.identity.create)
        await super().start()
        try:
            await self.engine.run(self.engine.client.api.inspect_network, self.config.network)
        except NotFound as e:
            await self.stop()
            raise InputError(f"network {self.config.network} does not exist (docker-tcp provider)") from e

    def _placement(self, spec: SandboxSpec, sandbox_id: str, entrypoint: list[str] | None) -> eng.Placement:
        where = super()._placement(spec, sandbox_id, entrypoint)
        env = (("SANDBOXD_TCP_PORT", str(self.config.port)),)
        return dataclasses.replace(where, network=self.config.network, daemon_env=env)

    async def _prepare_socket_dir(self, where: eng.Placement) -> None:
        await super()._prepare_socket_dir(where)
        box = self.get(where.sandbox_id)
        assert isinstance(box, DockerTcpSandbox)
        await asyncio.to_thread(
            write_box_files, where.socket_dir, box.tls_pem, self.identity.cert_pem, eng.SANDBOX_UID
        )
