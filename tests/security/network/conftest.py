"""Real boxes in two namespaces of their own, an upstream test server on a network this folder
creates, and a TCP listener on the host. Every namespace is checked to leave nothing behind."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from network_harness import EchoServer, HostListener, start_echo_server, stop_echo_server

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.docker import DockerProvider, DockerProviderConfig
from runtime.sandbox.reaper import list_owned

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def net_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hnet")


@pytest.fixture(scope="session")
def net_spec(sandbox_image: str) -> SandboxSpec:
    return SandboxSpec(image=sandbox_image, memory_mb=512, cpus=1.0, tmp_size_mb=64)


@pytest.fixture(scope="session")
def echo(docker_client: Any, sandbox_image: str) -> Iterator[EchoServer]:
    server = start_echo_server(docker_client, sandbox_image, ["allowed.test", "denied.test"])
    yield server
    stop_echo_server(docker_client, server)


@pytest.fixture(scope="session")
def host_listener() -> Iterator[HostListener]:
    listener = HostListener()
    listener.start()
    yield listener
    listener.close()


async def _provider(state_dir: Path, docker_client: Any, private_hosts: tuple[str, ...]) -> AsyncIterator[
    DockerProvider
]:
    namespace = f"tnet-{secrets.token_hex(3)}"
    config = DockerProviderConfig(
        state_dir=state_dir, namespace=namespace, watchdog_interval_s=None, reap_interval_s=None,
        egress_private_hosts=private_hosts,
    )
    async with DockerProvider(config) as provider:
        yield provider
    left = list_owned(docker_client, namespace, provider.sockets_dir)
    assert not left, f"namespace {namespace} left resources behind: {left}"
    assert not docker_client.api.networks(names=[provider.egress.network])


@pytest.fixture(scope="session")
async def ns_a(net_state_dir: Path, docker_client: Any, echo: EchoServer) -> AsyncIterator[DockerProvider]:
    """Namespace A: its operator lets ``allowed.test`` resolve to a private (test) address."""
    async for provider in _provider(net_state_dir, docker_client, ("allowed.test",)):
        yield provider


@pytest.fixture(scope="session")
async def ns_b(net_state_dir: Path, docker_client: Any, echo: EchoServer) -> AsyncIterator[DockerProvider]:
    """Namespace B: another Hangar instance (another tenant's server) on the same engine."""
    async for provider in _provider(net_state_dir, docker_client, ("allowed.test",)):
        yield provider
