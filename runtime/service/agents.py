"""Agents: the shipped YAML agents plus the ones each project creates through ``/agents``.

:class:`AgentCatalog` resolves an agent id for a project (its own agents first, then the shipped
ones, ``base_agent`` inheritance applied across both); the worker's agent runner uses it too.
:class:`AgentService` is the ``/agents`` use cases. API-created agents take the Agent resource's
fields (spec §7) and, of Hangar's additions, only those that cannot reach the host: ``builtin_tools``,
``limits`` and ``outputs``. Skills, data sources and sandbox settings name host paths or images, so
they stay in agent files on the server. Their ``base_environment`` is a tenant's environment object,
checked like one (:mod:`runtime.service.environment_config`): no open egress unless the operator
allows it; agent files on the server are the operator's and may ask for egress.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from runtime.agents import AgentRegistry, AgentSpec, LoadedAgent
from runtime.agents.spec import AGENT_ID_PATTERN
from runtime.agents.wire import Environment as EnvironmentConfig
from runtime.errors import InputError, NotFound
from runtime.outbound import OutboundGuard
from runtime.service.environment_config import EgressPolicy, check_agent_environment
from runtime.service.environments import EnvironmentService
from runtime.service.outbound_urls import check_tool_urls
from runtime.service.paging import Page, page_of
from runtime.service.wire import describe
from runtime.store import AgentRecord, Store

API_FIELDS = frozenset(
    {"id", "description", "system_instruction", "base_agent", "tools", "agent_config", "base_environment"}
)
ALLOWED_EXTRAS = frozenset({"builtin_tools", "limits", "outputs"})
SERVER_ONLY = frozenset(AgentSpec.model_fields) - API_FIELDS - ALLOWED_EXTRAS
AGENT_BODY_FIELDS = API_FIELDS | ALLOWED_EXTRAS
"""What ``POST /agents`` accepts; anything else is a 400 (server-only or unknown)."""


_EMPTY_NODE = yaml.MappingNode("tag:yaml.org,2002:map", [], yaml.Mark("", 0, 0, 0, "", 0))


def _loaded(spec: AgentSpec) -> LoadedAgent:
    # Errors of API agents name them like the API does ("agents/<id>"); there is no file or line.
    return LoadedAgent(spec=spec, path=Path(f"agents/{spec.id}"), node=_EMPTY_NODE)


def _spec(record: AgentRecord) -> AgentSpec:
    return AgentSpec.model_validate(record.spec)


class AgentCatalog:
    """Agent lookup for one project: its API-created agents, then the shipped registry."""

    def __init__(self, store: Store, registry: AgentRegistry) -> None:
        self.store = store
        self.registry = registry

    async def view(self, project_id: str) -> AgentRegistry:
        """The shipped registry with the project's agents added."""
        records = await self.store.agents.list(project_id)
        return self.registry.with_agents(_loaded(_spec(r)) for r in records)

    async def resolve(self, project_id: str, agent_id: str) -> AgentSpec:
        """The agent with inheritance applied. Raises :class:`NotFound` for an unknown id and
        ``AgentSpecError`` (400) when its ``base_agent`` chain is broken."""
        view = await self.view(project_id)
        return view.resolve_loaded(view.get(agent_id))

    def shipped(self, agent_id: str) -> LoadedAgent | None:
        try:
            return self.registry.get(agent_id)
        except NotFound:
            return None


class AgentService:
    def __init__(
        self, catalog: AgentCatalog, outbound: OutboundGuard | None = None,
        policy: EgressPolicy | None = None, environments: EnvironmentService | None = None,
    ) -> None:
        self._outbound = outbound or OutboundGuard()
        self._catalog = catalog
        self._store = catalog.store
        self._policy = policy or EgressPolicy()
        self._environments = environments

    async def create(self, project_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Validate and store an agent. Raises :class:`InputError` (400) for an invalid body, a
        server-only field, an id taken by a shipped or existing agent, or an unknown ``base_agent``."""
        spec = _validate(body)
        await check_tool_urls(self._outbound, spec.tools)
        if self._environments is not None:
            await self._environments.check_tool_credentials(project_id, spec.tools)
        check_agent_environment(spec.base_environment, self._policy)  # a tenant's: no open egress
        if isinstance(spec.base_environment, EnvironmentConfig) and self._environments is not None:
            await self._environments.check_credentials(project_id, spec.base_environment, "base_environment")
        if isinstance(spec.base_environment, str) and self._environments is not None:
            try:  # forked for every run: it must be one of the project's environments
                await self._environments.usable(project_id, spec.base_environment)
            except NotFound as e:
                raise InputError(f"base_environment: {e.message}") from e
        if (shipped := self._catalog.shipped(spec.id)) is not None:
            raise InputError(f"agent id '{spec.id}' is taken by the shipped agent '{shipped.spec.id}'")
        view = await self._catalog.view(project_id)
        try:
            view.get(spec.id)
        except NotFound:
            pass
        else:
            raise InputError(f"agent '{spec.id}' already exists; delete it first to replace it")
        view.with_agents([_loaded(spec)]).resolve_loaded(_loaded(spec))  # base_agent must resolve
        record = AgentRecord(
            project_id=project_id, id=spec.id, spec=spec.model_dump(mode="json", exclude_unset=True),
            created=time.time(),
        )
        if not await self._store.agents.insert(record):
            raise InputError(f"agent '{spec.id}' already exists; delete it first to replace it")
        return spec.api_fields()

    async def get(self, project_id: str, agent_id: str) -> dict[str, Any]:
        record = await self._store.agents.get(project_id, agent_id)
        if record is not None:
            return _spec(record).api_fields()
        if (shipped := self._catalog.shipped(agent_id)) is not None:
            return shipped.spec.api_fields()
        raise NotFound(f"agent '{agent_id}' not found")

    async def list(self, project_id: str, page_size: int | None, page_token: str | None) -> Page:
        """Shipped agents (by id), then the project's (by id)."""
        shipped = [agent.spec.api_fields() for agent in self._catalog.registry]
        own = [_spec(r).api_fields() for r in await self._store.agents.list(project_id)]
        return page_of([*shipped, *own], page_size, page_token)

    async def delete(self, project_id: str, agent_id: str) -> None:
        """Raises :class:`InputError` for a shipped agent (read-only), :class:`NotFound` otherwise."""
        if await self._store.agents.delete(project_id, agent_id):
            return
        if (shipped := self._catalog.shipped(agent_id)) is not None:
            raise InputError(
                f"agent '{shipped.spec.id}' ships with the server (agents/{shipped.spec.id}.yaml) and is "
                "read-only; create an agent with base_agent: "
                f"'{shipped.spec.id}' to change it"
            )
        raise NotFound(f"agent '{agent_id}' not found")


def _validate(body: dict[str, Any]) -> AgentSpec:
    forbidden = sorted(SERVER_ONLY & body.keys())
    if forbidden:
        raise InputError(
            f"{', '.join(forbidden)}: only agent files on the server may set "
            f"{'this field' if len(forbidden) == 1 else 'these fields'}"
        )
    unknown = sorted(body.keys() - AgentSpec.model_fields.keys())
    if unknown:
        raise InputError(f"{', '.join(unknown)}: not a field of an agent (accepted means applied)")
    data = {k: v for k, v in body.items() if k in AGENT_BODY_FIELDS and v is not None}
    if data.get("base_agent") == "":
        del data["base_agent"]
    agent_id = data.get("id")
    if not isinstance(agent_id, str) or not agent_id:
        raise InputError("id: required (the agent's unique id, e.g. 'my-agent')")
    try:
        return AgentSpec.model_validate(data)
    except ValidationError as e:
        if any(err["loc"] == ("id",) for err in e.errors()):
            raise InputError(f"id: must match {AGENT_ID_PATTERN} (lowercase letters, digits, . _ -)") from e
        raise InputError(f"invalid agent: {describe(e)}") from e
