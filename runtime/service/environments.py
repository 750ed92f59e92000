"""Environments (spec §8): a workspace volume that interactions naming the environment share.

An agent interaction gets its environment from its ``environment`` field: none or ``"remote"``
makes a fresh one; an id reuses one; an object makes a fresh one with its ``sources`` and
``network``, or (with ``environment_id``) re-applies its ``network`` to an existing one, whose files
stay. Every environment is registered here, so its files can be read through
``/environments/{id}/files``. Each run then gets (:meth:`EnvironmentService.prepare`) the sources
of the agent's ``base_environment`` and of the request placed in the workspace (once each), the
environment's network, and the ``env`` values of both; an agent whose ``base_environment`` is an
environment id gets a copy of it in each fresh environment (a fork, as ``from_environment`` makes).
What a tenant may ask is checked at create time (:mod:`runtime.service.environment_config`).

Status (spec §8.1): ``active``, or ``expired`` once an environment that was used has lost its
workspace (its volume was removed); an expired environment cannot be used again (404).
Lifecycle (Google's: an offline environment is kept for days, then expires): an environment unused
for the retention period expires (:mod:`runtime.service.retention`): its volume is removed and
its id answers 404 everywhere, like an unknown one.
Deleting an environment removes its volume; it is refused while an interaction runs in it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from runtime.agents import AgentSpec
from runtime.agents.wire import Environment as EnvironmentConfig
from runtime.agents.wire import InteractionEnvironment, Network, NetworkConfig, Source
from runtime.errors import InputError, NotFound
from runtime.sandbox.base import Provider, SandboxSpec
from runtime.sandbox.cleanup import to_the_end
from runtime.service.credentials import CredentialService
from runtime.service.environment_config import (
    EgressPolicy,
    check_environment,
    check_network,
    check_sources,
    parse_environment,
)
from runtime.service.environment_runs import as_made, first_run_spec, network_for, request_environment
from runtime.service.file_boxes import FileBoxes
from runtime.service.paging import Page, next_token, page_bounds
from runtime.service.provisioning import Provisioner, digest
from runtime.service.wire import describe
from runtime.store import EnvironmentRecord, InteractionRecord, Store
from runtime.worker.agent_runner import workspace_volume
from runtime.worker.timefmt import iso

FRESH = "remote"
"""``environment="remote"``: a fresh environment (Google's docs start most examples with it)."""


class CreateEnvironment(BaseModel):
    """``POST /{v}/environments`` (spec §8.2). Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    sources: list[Source] | None = None
    network: Network | None = None
    from_environment: str | None = None


class Environment(BaseModel):
    """The resource (spec §8.1); ``file_count`` and ``size_bytes`` are int64s (JSON strings)."""

    id: str
    status: Literal["active", "expired"] = "active"
    created: str
    updated: str
    last_accessed: str | None = None
    sources: list[dict[str, Any]] | None = None
    network: Any = None
    file_count: str = "0"
    size_bytes: str = "0"


def _new_id() -> str:
    return f"env_{secrets.token_hex(8)}"


class EnvironmentService:
    def __init__(
        self,
        store: Store,
        boxes: FileBoxes,
        provider: Provider | None,
        *,
        provisioner: Provisioner,
        policy: EgressPolicy | None = None,
        credentials: CredentialService | None = None,
        claim: Callable[[SandboxSpec | None], str | None] | None = None,
        base_spec: SandboxSpec | None = None,
    ) -> None:
        """``claim`` hands out the id of a new environment whose box is already started (the warm
        pool's) for a first run of the given spec (``None``: not known), or ``None`` when none is
        ready; ``base_spec`` is the runtime's defaults the runs' specs are laid over (the agent
        runner's)."""
        self._claim = claim
        self._base_spec = base_spec or SandboxSpec()
        self._store = store
        self._boxes = boxes
        self.provider = provider
        self._provisioner = provisioner
        self.policy = policy or EgressPolicy()
        self._credentials = credentials

    def new_id(
        self, agent: AgentSpec | None = None, config: Mapping[str, Any] | None = None,
        environment: Any = None,
    ) -> str:
        """The id of a new environment: one with a pre-started box when the pool has one of the
        shape a first run of ``agent`` in it will need (the environment's echoed ``config``, the
        request's ``environment`` field); without an agent, of the most recent runs' shape."""
        if self._claim is None:
            return _new_id()
        spec = (
            first_run_spec(agent, config or {}, environment, self.policy, self._base_spec)
            if agent is not None else None
        )
        return self._claim(spec) or _new_id()

    async def create(self, project_id: str, body: dict[str, Any]) -> Environment:
        """Create an environment with its sources in place. Raises :class:`InputError` for an
        invalid body, a source this server cannot fetch, or a repository that cannot be cloned."""
        try:
            request = CreateEnvironment.model_validate(body)
        except ValidationError as e:
            raise InputError(f"invalid environment: {describe(e)}") from e
        check_sources(request.sources or [], "sources")
        if request.network is not None:
            check_network(request.network, "network", self.policy)
            await self.check_credentials(project_id, EnvironmentConfig(network=request.network), "")
        if request.from_environment:
            return await self._fork(project_id, request)
        config = request.model_dump(mode="json", exclude_none=True, exclude={"from_environment"})
        record = await self.register(project_id, self.new_id(), config)
        if request.sources:
            try:
                await self._place(record, request.sources)
            except BaseException:
                await to_the_end(self._discard(record))  # a cancelled create leaves nothing either
                raise
        return await self.describe(record, count=bool(request.sources))

    async def _fork(self, project_id: str, request: CreateEnvironment) -> Environment:
        """A copy of ``from_environment`` (its files, sources and network; ``network`` replaces it)."""
        if request.sources:
            raise InputError("sources: must be empty when from_environment is set")
        source = await self.usable(project_id, request.from_environment or "")
        config = dict(source.config)
        if request.network is not None:
            config["network"] = request.model_dump(mode="json", include={"network"})["network"]
        record = await self.register(project_id, _new_id(), config)
        try:
            copied = await self._provisioner.fork(source.volume, record.volume)
        except BaseException:
            await to_the_end(self._discard(record))
            raise
        if source.applied_sources:
            await self._store.environments.add_applied(record.id, source.applied_sources)
        if copied:  # (a used environment without a volume would read as expired)
            await self.accessed(record)
        return await self.describe(await self.record(project_id, record.id), count=True)

    async def register(
        self, project_id: str, environment_id: str, config: dict[str, Any] | None = None
    ) -> EnvironmentRecord:
        """Record an environment (its volume is created by Docker on first mount)."""
        now = time.time()
        record = EnvironmentRecord(
            project_id=project_id, id=environment_id, config=config or {},
            volume=workspace_volume(environment_id), created=now, updated=now,
        )
        await self._store.environments.insert(record)
        return record

    async def record(self, project_id: str, environment_id: str) -> EnvironmentRecord:
        """Raises :class:`NotFound` for an unknown id or one of another project."""
        environment_id = environment_id.removeprefix("environments/")
        record = await self._store.environments.get(environment_id, project_id)
        if record is None or record.expired is not None:
            raise NotFound(f"environment '{environment_id}' not found")
        return record

    async def usable(self, project_id: str, environment_id: str) -> EnvironmentRecord:
        """The environment for a new interaction. Raises :class:`NotFound` for an unknown or an
        expired one."""
        record = await self.record(project_id, environment_id)
        if await self._status(record) == "expired":
            raise NotFound(f"environment '{record.id}' has expired: its workspace is gone")
        return record

    async def check_not_expired(self, project_id: str, environment_id: str) -> None:
        """Raise :class:`NotFound` when the environment a continued interaction inherits expired."""
        record = await self._store.environments.get(environment_id, project_id)
        if record is not None and (record.expired is not None or await self._status(record) == "expired"):
            raise NotFound(f"environment '{record.id}' has expired: its workspace is gone")

    async def for_interaction(
        self, project_id: str, environment: Any, agent: AgentSpec | None = None
    ) -> tuple[str | None, bool]:
        """The id of the environment an agent interaction (of ``agent``, resolved, when known) runs
        in, per its ``environment`` field (``None``: the caller makes a fresh one), and whether it
        was made now. Checks the object whole; re-applies its ``network`` to an existing
        environment. Raises :class:`InputError` or :class:`NotFound`."""
        if environment is None:
            return None, False
        if environment == FRESH:
            return (await self.register(project_id, self.new_id(agent))).id, True
        if isinstance(environment, str):
            return (await self.usable(project_id, environment)).id, False
        request = parse_environment(environment, "environment")
        check_environment(request, "environment", self.policy)
        await self.check_credentials(project_id, request, "environment")
        if request.environment_id is None:
            config = _echoed(request, {})
            return (await self.register(project_id, self.new_id(agent, config, environment), config)).id, True
        record = await self.usable(project_id, request.environment_id)
        config = _echoed(request, record.config)
        if config != record.config:
            await self._store.environments.set_config(record.id, config, time.time())
        return record.id, False

    async def check_credentials(self, project_id: str, env: EnvironmentConfig, where: str) -> None:
        """Every credential ``env`` names must be one of the project's. Raises :class:`InputError`."""
        named = _credential_fields(env, where)
        if not named:
            return
        if self._credentials is None:
            raise InputError(f"{named[0][0]}: credentials are not served by this server")
        missing = set(await self._credentials.missing(project_id, [i for _, i in named]))
        for field, credential_id in named:
            if credential_id in missing:
                raise InputError(f"{field}: credential '{credential_id}' not found in this project")

    async def check_tool_credentials(self, project_id: str, tools: Sequence[object] | None) -> None:
        """Every ``mcp_server`` tool's ``credential`` must be one of the project's (its header is
        added by the server when it connects). Raises :class:`InputError` naming the field."""
        for index, tool in enumerate(tools or []):
            credential = (
                tool.get("credential") if isinstance(tool, dict) else getattr(tool, "credential", None)
            )
            if not isinstance(credential, str):
                continue
            field = f"tools[{index}].credential"
            if self._credentials is None:
                raise InputError(f"{field}: credentials are not served by this server")
            if await self._credentials.missing(project_id, [credential]):
                raise InputError(f"{field}: credential '{credential}' not found in this project")

    async def forget(self, project_id: str, environment_id: str) -> None:
        """Drop the record of an environment made for a request that was not kept (nothing ran in
        it; a pre-started box it was handed goes, with its empty volume)."""
        await self._store.environments.delete(environment_id, project_id)
        if self._claim is not None and self.provider is not None:
            await self.provider.remove_volume(workspace_volume(environment_id))

    async def prepare(self, interaction: InteractionRecord, agent: AgentSpec, environment: Any, *,
                      resumed: bool) -> AgentSpec:
        """Before a run: place the sources of the agent's ``base_environment`` and of the request
        that the workspace does not have yet (not when ``resumed``), and return the agent as this
        environment makes it: the environment's network (else the agent's, else the operator's
        default) and the ``env`` values of both. Raises :class:`InputError` when the environment's
        open egress is no longer allowed or a repository cannot be cloned."""
        base = agent.base_environment if isinstance(agent.base_environment, EnvironmentConfig) else None
        request = request_environment(environment)
        env_id = interaction.environment_id or interaction.id
        record = await self._store.environments.get(env_id, interaction.project_id)
        if record is not None and record.expired is not None:
            raise NotFound(f"environment '{record.id}' has expired: its workspace is gone")
        if isinstance(agent.base_environment, str):  # forked into every fresh environment
            template = await self._template(interaction.project_id, agent.base_environment)
            if not resumed:
                await self._fork_into(record, template)
            network_only = {k: v for k, v in template.config.items() if k == "network"}
            base = EnvironmentConfig.model_validate(network_only)
        network = network_for(record.config if record is not None else {}, agent, base, self.policy)
        if record is not None and "network" in record.config:
            # A tenant's rules, checked again: the operator may have closed open egress since.
            check_network(EnvironmentConfig.model_validate({"network": network}).network,
                          "environment.network", self.policy)
        if record is not None:
            await self._store.environments.accessed(record.id, time.time())
        if not resumed:
            sources = [*((base.sources or []) if base else []), *((request.sources or []) if request else [])]
            await self._place_new(record, workspace_volume(env_id), sources)
        return as_made(agent, base, request, network)

    async def _template(self, project_id: str, environment_id: str) -> EnvironmentRecord:
        try:
            return await self.usable(project_id, environment_id)
        except NotFound as e:
            raise InputError(f"base_environment: {e.message}") from e

    async def _fork_into(self, record: EnvironmentRecord | None, template: EnvironmentRecord) -> None:
        """Copy ``template`` into the run's environment, once."""
        marker = f"fork:{template.id}"
        if record is None or marker in (record.applied_sources or []) or record.id == template.id:
            return
        if await self._provisioner.fork(template.volume, record.volume):
            await self.accessed(template)
        await self._store.environments.add_applied(record.id, [marker, *(template.applied_sources or [])])

    async def _place_new(
        self, record: EnvironmentRecord | None, volume: str, sources: Sequence[Source]
    ) -> None:
        """Place the sources the environment does not have yet."""
        applied = set(record.applied_sources or []) if record is not None else set()
        pending = [source for source in sources if digest(source) not in applied]
        if not pending:
            return
        await self._provisioner.place(record.volume if record else volume, pending, "environment.sources")
        if record is not None:
            await self._store.environments.add_applied(record.id, [digest(s) for s in pending])

    async def get(self, project_id: str, environment_id: str) -> Environment:
        return await self.describe(await self.record(project_id, environment_id), count=True)

    async def list(self, project_id: str, page_size: int | None, page_token: str | None) -> Page:
        offset, size = page_bounds(page_size, page_token)
        records = await self._store.environments.page(project_id, offset, size + 1)
        items = [await self.describe(r, count=False) for r in records[:size]]
        return Page(items, next_token(offset, size, len(records) > size))

    async def delete(self, project_id: str, environment_id: str) -> None:
        """Remove the environment and its volume. Raises :class:`InputError` while an interaction
        runs in it."""
        record = await self.record(project_id, environment_id)
        if running := await self._store.environments.running_interactions(record.id):
            raise InputError(
                f"environment '{record.id}' has {running} running interaction(s); cancel them first"
            )
        await self._discard(record)

    async def accessed(self, record: EnvironmentRecord) -> None:
        """Record a use of the environment (a file operation, an interaction)."""
        await self._store.environments.accessed(record.id, time.time())

    async def describe(self, record: EnvironmentRecord, *, count: bool) -> Environment:
        """The resource; with ``count`` the workspace is measured (starting a file box outside the
        live box limit: a read, or the end of a create whose work was admitted, is never refused
        nor stops other boxes)."""
        files = size = 0
        status = await self._status(record)
        if count and status == "active" and self.provider is not None:
            async with self._boxes.open(record.volume, admit=False) as box:
                entries = await box.client.list_files(".", recursive=True)
            files = sum(1 for e in entries if e.type == "file")
            size = sum(e.size for e in entries if e.type == "file")
        return Environment(
            id=record.id, status=status, created=iso(record.created), updated=iso(record.updated),
            last_accessed=iso(record.last_accessed) if record.last_accessed is not None else None,
            file_count=str(files), size_bytes=str(size), **record.config,
        )

    async def _status(self, record: EnvironmentRecord) -> Literal["active", "expired"]:
        """``expired`` once a used environment's volume is gone (Docker creates it on first use,
        so ``last_accessed`` and placed sources are only recorded once it exists)."""
        if self.provider is None or (record.last_accessed is None and not record.applied_sources):
            return "active"
        return "active" if await self.provider.volume_exists(record.volume) else "expired"

    async def _place(self, record: EnvironmentRecord, sources: Sequence[Source]) -> None:
        await self._provisioner.place(record.volume, sources)
        await self._store.environments.add_applied(record.id, [digest(s) for s in sources])
        await self.accessed(record)

    async def _discard(self, record: EnvironmentRecord) -> None:
        await self._boxes.release(record.volume)
        if self.provider is not None:
            await self.provider.remove_volume(record.volume)
        await self._store.environments.delete(record.id, record.project_id)


def _credential_fields(env: EnvironmentConfig, where: str) -> list[tuple[str, str]]:
    """``(field, credential id)`` of every credential ``env`` names."""
    at = f"{where}." if where else ""
    named = [(f"{at}env.{name}.credential", value.credential) for name, value in (env.env or {}).items()
             if not isinstance(value, str) and value.credential]
    if isinstance(env.network, NetworkConfig) and isinstance(env.network.allowlist, list):
        named += [(f"{at}network.allowlist[{i}].credential", e.credential)
                  for i, e in enumerate(env.network.allowlist) if e.credential]
    return named


def _echoed(request: InteractionEnvironment, config: dict[str, Any]) -> dict[str, Any]:
    """An environment's echoed config after ``request``: its ``network`` replaced, its
    ``sources`` added to (the workspace keeps the files of the earlier ones)."""
    config = dict(config)
    if request.network is not None:
        config["network"] = request.model_dump(mode="json", include={"network"})["network"]
    if request.sources:
        added = request.model_dump(mode="json", exclude_none=True, include={"sources"})["sources"]
        config["sources"] = [*config.get("sources", []), *added]
    return config
