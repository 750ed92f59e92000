"""The composition root of sandboxes: the one place that turns settings into a provider.

The server, ``hangar run``, ``hangar sandbox`` and the benchmarks all build theirs here, through
:func:`~runtime.sandbox.factory.get_provider`; nothing else constructs a backend. The server's is
wrapped with warm paths (pool and kept boxes); a one-off command's boxes end with the command.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from runtime.config import Settings
from runtime.errors import HangarError
from runtime.sandbox.base import Provider
from runtime.sandbox.docker import DockerProvider
from runtime.sandbox.docker_config import DockerProviderConfig
from runtime.sandbox.egress_credentials import CredentialSource
from runtime.sandbox.factory import get_provider
from runtime.sandbox.pooled import PooledProvider, WarmConfig
from runtime.worker.agent_runner import workspace_volume

log = structlog.get_logger(__name__)


def warm_config(settings: Settings) -> WarmConfig:
    return WarmConfig(
        pool_size=settings.warm_pool_size, keep_seconds=settings.keep_warm_seconds,
        max_kept=settings.warm_max_boxes, min_free_mb=settings.warm_min_free_mb,
        max_shapes=settings.warm_shapes,
    )


def server_provider(
    settings: Settings, *, state_dir: Path | None = None, owner: str | None = None
) -> Provider:
    """The server's provider (its namespace, its reaper), with warm paths; not started. Its boxes
    and volumes carry ``owner`` (the server's node id)."""
    config = DockerProviderConfig(
        state_dir=state_dir or settings.data_dir / "sandbox",
        namespace=settings.sandbox_namespace,
        runtime=settings.sandbox_runtime,
        quota_interval_s=settings.workspace_quota_check_seconds,
        egress_private_hosts=settings.egress_private_hosts,
        egress_upstream_ca=settings.egress_upstream_ca,
        owner=owner,
        # Often enough that a dead node's boxes go soon after its heartbeat ages.
        reap_interval_s=max(2 * settings.node_dead_after_seconds, 30.0),
    )
    provider = get_provider(config, warm_config(settings))
    if isinstance(provider, PooledProvider):
        provider.name_workspaces(workspace_volume)
    return provider


def command_provider(settings: Settings) -> Provider:
    """The provider of a one-off command (``hangar run``, ``hangar sandbox``): its boxes live in the
    CLI namespace, apart from a server's (whose reaper would take them for orphans), and it never
    reaps (other commands may be running); ``hangar sandbox rm --all`` cleans up after a killed
    command. No warm paths: the process ends with the command. Its boxes' owner label names the
    command's process (``cli-<random>``), like a server's node id."""
    return get_provider(
        DockerProviderConfig(
            state_dir=settings.data_dir / "sandbox",
            namespace=settings.cli_sandbox_namespace,
            runtime=settings.sandbox_runtime,
            reap_on_start=False,
            reap_interval_s=None,
            quota_interval_s=settings.workspace_quota_check_seconds,
            owner=f"cli-{secrets.token_hex(6)}",
        )
    )


def docker_backend(provider: Provider | None) -> DockerProvider | None:
    """The Docker provider under the warm paths, if that is what ``provider`` is."""
    inner = provider.inner if isinstance(provider, PooledProvider) else provider
    return inner if isinstance(inner, DockerProvider) else None


async def start_server_provider(
    settings: Settings, *, owner: str | None = None,
    live_owners: Callable[[], Awaitable[set[str]]] | None = None,
    credentials: CredentialSource | None = None,
) -> Provider | None:
    """The server's started provider; ``None`` (agent runs then fail with the reason) when
    sandboxes are off or the Docker engine does not answer. Its reaper leaves ``live_owners``'
    boxes alone; its egress proxy resolves ``credentials``."""
    if not settings.sandboxes:
        return None
    provider = server_provider(settings, owner=owner)
    backend = docker_backend(provider)
    if backend is not None:
        if live_owners is not None:
            backend.reaper.live_owners = live_owners
        backend.credentials = credentials
    try:
        await provider.start()
    except HangarError as e:
        log.warning("sandboxes_unavailable", reason=e.message)
        return None
    return provider
