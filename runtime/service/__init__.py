"""The use cases behind the API and the CLI, assembled over one store, worker and broker."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import structlog

from runtime.agents import AgentRegistry, default_agents_dir
from runtime.config import Settings
from runtime.llm.base import ModelClient
from runtime.llm.gemini import GeminiClient
from runtime.outbound import OutboundGuard
from runtime.sandbox.base import Provider, SandboxSpec
from runtime.sandbox.pooled import PooledProvider
from runtime.service.agents import AgentCatalog, AgentService
from runtime.service.auth import KeyService, Unauthenticated
from runtime.service.credential_crypto import CredentialCipher
from runtime.service.credentials import CredentialService
from runtime.service.environment_config import EgressPolicy
from runtime.service.environment_files import EnvironmentFiles, FileLimits, FilesPage
from runtime.service.environments import EnvironmentService
from runtime.service.file_boxes import FileBoxes
from runtime.service.gc import reap_dead_nodes
from runtime.service.interactions import InteractionService
from runtime.service.live_boxes import LiveBoxes
from runtime.service.nodes import NodeHeartbeat, claim_node_id
from runtime.service.provisioning import Provisioner
from runtime.service.retention import Retention
from runtime.service.sandboxes import docker_backend, start_server_provider
from runtime.service.triggers import TriggerService
from runtime.service.webhooks import WebhookService
from runtime.store import Store, StoredEvent
from runtime.store.quotas import RunLimits
from runtime.tools.mcp import guarded_connect
from runtime.worker import Broker, Runner, RunnerRegistry, Worker
from runtime.worker.agent_runner import AgentRunner, workspace_volume
from runtime.worker.events import render_event
from runtime.worker.model_runner import ModelRunner
from runtime.worker.scheduler import Scheduler
from runtime.worker.webhook_jwt import DeliverySigner
from runtime.worker.webhooks import DeliveryPolicy, WebhookDispatcher

log = structlog.get_logger(__name__)

__all__ = [
    "AgentService",
    "EnvironmentFiles",
    "EnvironmentService",
    "FileLimits",
    "FilesPage",
    "InteractionService",
    "KeyService",
    "ModelClient",
    "Runner",
    "Services",
    "StoredEvent",
    "Unauthenticated",
    "WebhookService",
    "open_services",
    "render_event",
]


@dataclass(frozen=True)
class Services:
    interactions: InteractionService
    keys: KeyService
    store: Store
    webhooks: WebhookService
    agents: AgentService
    environments: EnvironmentService
    files: EnvironmentFiles
    worker: Worker
    signer: DeliverySigner
    triggers: TriggerService
    credentials: CredentialService

    def worker_running(self) -> bool:
        return self.worker.running


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    model_client: ModelClient | None = None,
    runners: Mapping[str, Runner] | None = None,
    worker: bool = True,
    outbound: OutboundGuard | None = None,
) -> AsyncIterator[Services]:
    """Open the store (migrating it), start the worker, and stop everything on exit.

    ``model_client`` defaults to a :class:`~runtime.llm.gemini.GeminiClient` from the settings;
    ``runners`` adds or replaces runners by kind (e.g. ``{"agent": AgentRunner(...)}``);
    ``outbound`` (the guard of every URL a tenant chose) defaults to one built from the settings.
    """
    guard = outbound or OutboundGuard(settings.outbound_allow_hosts)
    store = Store(settings.resolved_database_url)
    await store.open()
    owned_client = None
    node_id, lock = (
        (settings.node_id, None) if settings.node_id
        else claim_node_id(settings.data_dir, settings.sandbox_namespace)
    )
    node = NodeHeartbeat(
        store, node_id, settings.sandbox_namespace, every=settings.node_heartbeat_seconds,
        dead_after=settings.node_dead_after_seconds, lock_fd=lock,
    )
    try:
        await node.start()
        keys = KeyService(store)
        credentials = _credentials(settings, store, guard)
        if settings.api_key is not None:
            await keys.ensure(settings.api_key.get_secret_value())
        if model_client is None:
            owned_client = model_client = _gemini(settings)
        registry = RunnerRegistry()
        registry.register("model", ModelRunner(model_client))
        agents = AgentRegistry.from_folder(settings.agents_dir or default_agents_dir())
        catalog = AgentCatalog(store, agents)
        provider = (
            await start_server_provider(
                settings, owner=node.node_id, live_owners=node.live_owners, credentials=credentials
            )
            if "agent" not in (runners or {}) else None
        )
        if (backend := docker_backend(provider)) is not None:
            backend.quota.on_usage = store.environments.record_usage_measured
            node.on_dead = functools.partial(  # at once, not at the next periodic reap
                reap_dead_nodes, reaper=backend.reaper, store=store, engine=backend.engine,
                namespace=settings.sandbox_namespace,
            )
        base = SandboxSpec(
            image=settings.sandbox_image, runtime=settings.sandbox_runtime,
            disk_quota_bytes=settings.workspace_quota_bytes,
            disk_quota_entries=settings.workspace_quota_entries,
        )
        boxes = FileBoxes(provider, base, idle_seconds=settings.file_box_idle_seconds)
        live_boxes = LiveBoxes(
            store, settings.project_max_live_boxes, files=boxes,
            warm=provider if isinstance(provider, PooledProvider) else None,
            elsewhere=node.boxes_elsewhere,  # the other live servers' boxes, as they last published
        )
        boxes.admit = live_boxes.admitting
        environments = EnvironmentService(
            store, boxes, provider, provisioner=Provisioner(boxes, provider, base),
            policy=EgressPolicy(allow_open=settings.allow_open_egress), credentials=credentials,
            claim=provider.claim_environment if isinstance(provider, PooledProvider) else None,
            base_spec=base,
        )
        node.publish = live_boxes.published  # this server's live boxes, with each heartbeat
        if provider is not None:
            registry.register(
                "agent",
                AgentRunner(
                    agents, provider, model_client, base_spec=base, resolver=catalog,
                    mcp_connect=guarded_connect(guard), outbound=guard, environments=environments,
                    credentials=credentials,
                ),
            )
        for kind, runner in (runners or {}).items():
            registry.register(kind, runner)
        broker = Broker()
        await broker.listen(store)  # live events of the other processes (PostgreSQL)
        signer = _signer(settings)
        dispatcher = _dispatcher(settings, store, guard, signer)
        background = Worker(
            store,
            broker,
            registry,
            lease_seconds=settings.lease_seconds,
            poll_seconds=settings.poll_seconds,
            concurrency=settings.worker_concurrency,
            on_finished=dispatcher.interaction_ended,
            grace_seconds=settings.shutdown_grace_seconds,
            max_attempts=settings.max_attempts,
        )
        retention = _retention(settings, store, provider, boxes)
        if worker:
            await dispatcher.start()
            await background.start()
            if retention is not None:
                await retention.start()
        try:
            service = InteractionService(
                store, background, broker, poll_seconds=settings.poll_seconds, agents=agents,
                catalog=catalog, environments=environments, outbound=guard, wake=_waker(provider),
                limits=RunLimits(
                    max_running=settings.project_max_running_interactions,
                    max_agent_runs=settings.project_max_live_boxes,
                    max_workspace_bytes=settings.project_max_workspace_bytes,
                ),
                live_boxes=live_boxes,
            )
            triggers = TriggerService(store, service, background, catalog, environments, guard)
            scheduler = Scheduler(triggers, settings.trigger_poll_seconds)
            if worker:
                await scheduler.start()
            await boxes.start()
            yield Services(
                interactions=service, keys=keys, store=store,
                webhooks=WebhookService(store, dispatcher, guard),
                agents=AgentService(catalog, guard, environments.policy, environments),
                environments=environments,
                files=EnvironmentFiles(
                    environments, boxes, limits=file_limits(settings), sessions=store.uploads,
                    usage=store.environments,
                ),
                worker=background,
                signer=signer,
                triggers=triggers,
                credentials=credentials,
            )
        finally:
            await scheduler.stop()
            await boxes.stop()
            if retention is not None:
                await retention.stop()
            await background.stop()
            await dispatcher.stop()
            await broker.close()
            if provider is not None:
                await provider.stop()
    finally:
        if owned_client is not None:
            await owned_client.aclose()
        await node.stop()
        await store.close()


def _credentials(settings: Settings, store: Store, guard: OutboundGuard) -> CredentialService:
    key = settings.credentials_key.get_secret_value() if settings.credentials_key else None
    return CredentialService(store, CredentialCipher.from_settings(key, settings.data_dir), guard)


def file_limits(settings: Settings) -> FileLimits:
    return FileLimits(
        max_upload_bytes=settings.max_upload_bytes, max_extract_bytes=settings.max_extract_bytes,
        max_extract_entries=settings.max_extract_entries, quota_bytes=settings.workspace_quota_bytes,
        quota_entries=settings.workspace_quota_entries,
        project_max_bytes=settings.project_max_workspace_bytes,
    )


def _signer(settings: Settings) -> DeliverySigner:
    path = settings.webhook_jwt_key_file or settings.data_dir / "webhook_jwt_key.pem"
    return DeliverySigner.from_file(path, issuer=settings.resolved_public_url)


def _dispatcher(
    settings: Settings, store: Store, guard: OutboundGuard, signer: DeliverySigner
) -> WebhookDispatcher:
    policy = DeliveryPolicy(
        max_attempts=settings.webhook_max_attempts,
        retry_seconds=settings.webhook_retry_seconds,
        retry_max_seconds=settings.webhook_retry_max_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
    )
    return WebhookDispatcher(store, policy, poll_seconds=settings.poll_seconds, guard=guard, signer=signer)


def _waker(provider: Provider | None) -> Callable[[str], None] | None:
    """Wakes an environment's kept box when a run on it is accepted (see ``PooledProvider.wake``)."""
    if not isinstance(provider, PooledProvider):
        return None
    return lambda environment_id: provider.wake(workspace_volume(environment_id))


def _retention(
    settings: Settings, store: Store, provider: Provider | None, boxes: FileBoxes
) -> Retention | None:
    if settings.retention_seconds is None and settings.environment_retention_seconds is None:
        return None
    # Through the provider: it stops the volume's kept box before the volume goes.
    return Retention(
        store, keep_seconds=settings.retention_seconds, every=settings.retention_sweep_seconds,
        remove_volume=provider.remove_volume if provider is not None else None,
        environment_keep_seconds=settings.environment_retention_seconds,
        release_volume=boxes.release,
    )


def _gemini(settings: Settings) -> GeminiClient:
    key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None
    return GeminiClient(api_key=key, base_url=settings.gemini_base_url)
