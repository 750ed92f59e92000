"""The use cases behind the API and the CLI, assembled over one store, worker and broker."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import structlog

from runtime.agents import AgentRegistry, default_agents_dir
from runtime.config import Settings
from runtime.errors import HangarError
from runtime.llm.base import ModelClient
from runtime.llm.gemini import GeminiClient
from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.docker import DockerProvider, DockerProviderConfig
from runtime.service.auth import KeyService, Unauthenticated
from runtime.service.interactions import InteractionService
from runtime.service.model_runner import ModelRunner
from runtime.store import Store
from runtime.worker import Broker, Runner, RunnerRegistry, Worker
from runtime.worker.agent_runner import AgentRunner

log = structlog.get_logger(__name__)

__all__ = ["InteractionService", "KeyService", "Services", "Unauthenticated", "open_services"]


@dataclass(frozen=True)
class Services:
    interactions: InteractionService
    keys: KeyService
    store: Store


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    model_client: ModelClient | None = None,
    runners: Mapping[str, Runner] | None = None,
    worker: bool = True,
) -> AsyncIterator[Services]:
    """Open the store (migrating it), start the worker, and stop everything on exit.

    ``model_client`` defaults to a :class:`~runtime.llm.gemini.GeminiClient` from the settings;
    ``runners`` adds or replaces runners by kind (e.g. ``{"agent": AgentRunner(...)}``).
    """
    store = Store(settings.resolved_database_url)
    await store.open()
    owned_client = None
    try:
        keys = KeyService(store)
        if settings.api_key is not None:
            await keys.ensure(settings.api_key.get_secret_value())
        if model_client is None:
            owned_client = model_client = _gemini(settings)
        registry = RunnerRegistry()
        registry.register("model", ModelRunner(model_client))
        agents = AgentRegistry.from_folder(settings.agents_dir or default_agents_dir())
        provider = await _start_provider(settings) if "agent" not in (runners or {}) else None
        if provider is not None:
            base = SandboxSpec(image=settings.sandbox_image, runtime=settings.sandbox_runtime)
            registry.register("agent", AgentRunner(agents, provider, model_client, base_spec=base))
        for kind, runner in (runners or {}).items():
            registry.register(kind, runner)
        broker = Broker()
        background = Worker(
            store,
            broker,
            registry,
            lease_seconds=settings.lease_seconds,
            poll_seconds=settings.poll_seconds,
            concurrency=settings.worker_concurrency,
        )
        if worker:
            await background.start()
        try:
            service = InteractionService(
                store, background, broker, poll_seconds=settings.poll_seconds, agents=agents
            )
            yield Services(interactions=service, keys=keys, store=store)
        finally:
            await background.stop()
            if provider is not None:
                await provider.stop()
    finally:
        if owned_client is not None:
            await owned_client.aclose()
        await store.close()


async def _start_provider(settings: Settings) -> DockerProvider | None:
    """The server's sandbox provider; ``None`` (agent runs then fail with the reason) when
    sandboxes are off or the Docker engine does not answer."""
    if not settings.sandboxes:
        return None
    provider = DockerProvider(
        DockerProviderConfig(
            state_dir=settings.data_dir / "sandbox",
            namespace=settings.sandbox_namespace,
            runtime=settings.sandbox_runtime,
        )
    )
    try:
        await provider.start()
    except HangarError as e:
        log.warning("sandboxes_unavailable", reason=e.message)
        return None
    return provider


def _gemini(settings: Settings) -> GeminiClient:
    key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None
    return GeminiClient(api_key=key, base_url=settings.gemini_base_url)
