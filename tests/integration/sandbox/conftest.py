"""Real containers: one Docker provider per test session, in a namespace of its own.

The session ends by checking that the namespace left nothing behind on the engine or on disk.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.sandbox.base import Provider, Sandbox, SandboxSpec
from runtime.sandbox.docker import DockerProvider, DockerProviderConfig
from runtime.sandbox.docker_tcp import DockerTcpProvider, DockerTcpProviderConfig
from runtime.sandbox.reaper import list_owned

BACKENDS = ["docker", "docker-tcp", "local"]
PROVIDER_FIXTURES = {"docker": "provider", "docker-tcp": "tcp_provider", "local": "local_provider"}


@pytest.fixture(scope="session")
def namespace() -> str:
    return f"test-{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hangar")


@pytest.fixture(scope="session")
async def provider(
    sandbox_image: str, namespace: str, state_dir: Path, docker_client: Any
) -> AsyncIterator[DockerProvider]:
    config = DockerProviderConfig(
        state_dir=state_dir, namespace=namespace, watchdog_interval_s=0.25, reap_interval_s=None
    )
    async with DockerProvider(config) as p:
        yield p
    left = list_owned(docker_client, namespace, p.sockets_dir)
    assert not left, f"namespace {namespace} left resources behind: {left}"


@pytest.fixture(scope="session")
def tcp_network(docker_client: Any, namespace: str) -> Any:
    """A network of the test's own for TCP boxes: internal (no route out), no traffic between boxes."""
    network = docker_client.networks.create(
        f"hangar-{namespace}-tcp", driver="bridge", internal=True,
        options={"com.docker.network.bridge.enable_icc": "false"},
    )
    yield network
    network.remove()


@pytest.fixture(scope="session")
async def tcp_provider(
    sandbox_image: str, namespace: str, state_dir: Path, docker_client: Any, tcp_network: Any
) -> AsyncIterator[DockerTcpProvider]:
    """The Docker provider with sandboxd on TCP + mutual TLS (the transport a Kubernetes provider needs)."""
    config = DockerTcpProviderConfig(
        state_dir=state_dir, namespace=f"{namespace}-tcp", network=tcp_network.name,
        watchdog_interval_s=0.25, reap_interval_s=None,
    )
    async with DockerTcpProvider(config) as p:
        yield p
    left = list_owned(docker_client, config.namespace, p.sockets_dir)
    assert not left, f"namespace {config.namespace} left resources behind: {left}"


@pytest.fixture(scope="session")
def spec(sandbox_image: str) -> SandboxSpec:
    """Small boxes: the suite runs many of them on two cores."""
    return SandboxSpec(image=sandbox_image, memory_mb=512, cpus=1.0, tmp_size_mb=64)


@pytest.fixture(scope="session")
async def local_provider(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Provider]:
    from runtime.sandbox import local

    provider: Provider = local.LocalProvider(local.LocalProviderConfig())
    async with provider:
        yield provider


@pytest.fixture(params=BACKENDS)
def any_provider(request: pytest.FixtureRequest) -> Provider:
    """Each backend's provider in turn (a sync fixture: it may set up the async ones)."""
    provider: Provider = request.getfixturevalue(PROVIDER_FIXTURES[request.param])
    return provider


@pytest.fixture
async def box(any_provider: Provider, spec: SandboxSpec) -> AsyncIterator[Sandbox]:
    """A fresh sandbox of each backend (the contract suite runs once per backend)."""
    async with await any_provider.create(spec) as sandbox:
        yield sandbox


@pytest.fixture
async def docker_box(provider: DockerProvider, spec: SandboxSpec) -> AsyncIterator[Sandbox]:
    async with await provider.create(spec) as sandbox:
        yield sandbox


@pytest.fixture
def make_spec(spec: SandboxSpec) -> Callable[..., SandboxSpec]:
    def make(**changes: Any) -> SandboxSpec:
        return spec.model_copy(update=changes)

    return make
