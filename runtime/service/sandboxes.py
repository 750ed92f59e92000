"""The composition root of sandboxes: the one place that turns settings into a provider.

The server, ``hangar run``, ``hangar sandbox`` and the benchmarks all build theirs here, through
:func:`~runtime.sandbox.factory.get_provider`; nothing else constructs a backend. The server's is
wrapped with warm paths (pool and kept boxes); a one-off command's boxes end with the command.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from runtime.config import Settings
from runtime.errors import HangarError
from runtime.sandbox.base import Provider
from runtime.sandbox.docker_config import DockerProviderConfig
from runtime.sandbox.factory import get_provider
from runtime.sandbox.pooled import PooledProvider, WarmConfig
from runtime.worker.agent_runner import workspace_volume

log = structlog.get_logger(__name__)


def warm_config(settings: Settings) -> WarmConfig:
    return WarmConfig(
        pool_size=settings.warm_pool_size, keep_seconds=settings.keep_warm_seconds,
        max_kept=settings.warm_max_boxes, min_free_mb=settings.warm_min_free_mb,
    )


def server_provider(settings: Settings, *, state_dir: Path | None = None) -> Provider:
    """The server's provider (its namespace, its reaper), with warm paths; not started."""
    config = DockerProviderConfig(
        state_dir=state_dir or settings.data_dir / "sandbox",
        namespace=settings.sandbox_namespace,
        runtime=settings.sandbox_runtime,
        quota_interval_s=settings.workspace_quota_check_seconds,
        egress_private_hosts=settings.egress_private_hosts,
    )
    provider = get_provider(config, warm_config(settings))
    if isinstance(provider, PooledProvider):
        provider.name_workspaces(workspace_volume)
    return provider


def command_provider(settings: Settings) -> Provider:
    """The provider of a one-off command (``hangar run``, ``hangar sandbox``): its boxes live in the
    CLI namespace, apart from a server's (whose reaper would take them for orphans), and it never
    reaps (other commands may be running); ``hangar sandbox rm --all`` cleans up after a killed
    command. No warm paths: the process ends with the command."""
    return get_provider(
        DockerProviderConfig(
            state_dir=settings.data_dir / "sandbox",
            namespace=settings.cli_sandbox_namespace,
            runtime=settings.sandbox_runtime,
            reap_on_start=False,
            reap_interval_s=None,
            quota_interval_s=settings.workspace_quota_check_seconds,
        )
    )


async def start_server_provider(settings: Settings) -> Provider | None:
    """The server's started provider; ``None`` (agent runs then fail with the reason) when
    sandboxes are off or the Docker engine does not answer."""
    if not settings.sandboxes:
        return None
    provider = server_provider(settings)
    try:
        await provider.start()
    except HangarError as e:
        log.warning("sandboxes_unavailable", reason=e.message)
        return None
    return provider
