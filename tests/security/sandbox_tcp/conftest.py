"""A Docker provider whose boxes run sandboxd on TCP with mutual TLS, on a network of the test's own."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.docker_tcp import DockerTcpProvider, DockerTcpProviderConfig
from runtime.sandbox.reaper import list_owned


@pytest.fixture(scope="session")
def tcp_network(docker_client: Any) -> Iterator[Any]:
    network = docker_client.networks.create(
        f"hangar-test-sec-tcp-{secrets.token_hex(3)}", driver="bridge", internal=True,
        options={"com.docker.network.bridge.enable_icc": "false"},
    )
    yield network
    network.remove()


@pytest.fixture(scope="session")
async def tcp_provider(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any, tcp_network: Any
) -> AsyncIterator[DockerTcpProvider]:
    config = DockerTcpProviderConfig(
        state_dir=tmp_path_factory.mktemp("hangar"), namespace=f"test-sec-tcp-{secrets.token_hex(3)}",
        network=tcp_network.name, watchdog_interval_s=0.25, reap_interval_s=None,
    )
    async with DockerTcpProvider(config) as provider:
        yield provider
    left = list_owned(docker_client, config.namespace, provider.sockets_dir)
    assert not left, f"namespace {config.namespace} left resources behind: {left}"


@pytest.fixture(scope="session")
def spec(sandbox_image: str) -> SandboxSpec:
    return SandboxSpec(image=sandbox_image, memory_mb=512, tmp_size_mb=64)
