"""The one place that picks a sandbox backend, keyed on the config's ``type``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from runtime.sandbox.base import Provider
from runtime.sandbox.docker import DockerProvider, DockerProviderConfig
from runtime.sandbox.docker_tcp import DockerTcpProvider, DockerTcpProviderConfig
from runtime.sandbox.local import LocalProvider, LocalProviderConfig
from runtime.sandbox.pooled import PooledProvider, WarmConfig

ProviderConfig = Annotated[
    DockerProviderConfig | DockerTcpProviderConfig | LocalProviderConfig, Field(discriminator="type")
]
"""Discriminated on ``type``; each backend's config forbids unknown fields."""

provider_config_adapter: TypeAdapter[ProviderConfig] = TypeAdapter(ProviderConfig)


def get_provider(config: ProviderConfig, warm: WarmConfig | None = None) -> Provider:
    """A provider for ``config`` (not started: use ``async with`` or ``start()``), wrapped with the
    warm pool and kept boxes when ``warm`` is given."""
    backend: Provider
    if isinstance(config, DockerTcpProviderConfig):
        backend = DockerTcpProvider(config)
    elif isinstance(config, DockerProviderConfig):
        backend = DockerProvider(config)
    else:
        backend = LocalProvider(config)
    return PooledProvider(backend, warm) if warm is not None else backend
