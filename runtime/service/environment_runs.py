"""What an environment makes of an agent for a run: its network and ``env`` laid over the agent's
(:meth:`~runtime.service.environments.EnvironmentService.prepare` applies it to every run), and,
without I/O, the sandbox spec of a new environment's first run, so the warm pool can hand the
environment a pre-started box of the right shape when it is created."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.agents import AgentSpec
from runtime.agents.wire import Environment as EnvironmentConfig
from runtime.agents.wire import InteractionEnvironment
from runtime.sandbox.base import SandboxSpec
from runtime.service.environment_config import EgressPolicy
from runtime.worker.agent_runner import run_spec


def request_environment(environment: Any) -> InteractionEnvironment | None:
    """A request's ``environment`` field, when it is an object (checked at create)."""
    return InteractionEnvironment.model_validate(environment) if isinstance(environment, dict) else None


def network_for(
    config: Mapping[str, Any], agent: AgentSpec, base: EnvironmentConfig | None, policy: EgressPolicy
) -> Any:
    """The environment's network (of its echoed ``config``), else the agent's ``base_environment``
    one (over what an agent file it extends says in ``sandbox.network``); ``None`` when the agent
    file decides."""
    if "network" in config:
        return config["network"]
    if base is not None and base.network is not None:
        return base.model_dump(mode="json", include={"network"})["network"]
    if agent.sandbox.network is not None:
        return None
    return policy.default_network()


def as_made(
    agent: AgentSpec, base: EnvironmentConfig | None, request: InteractionEnvironment | None,
    network: Any,
) -> AgentSpec:
    """``agent`` as its environment makes it: ``network`` (``None``: the agent's own) and the
    ``env`` values of its ``base`` environment and of the request's."""
    # Values stay typed: a credential reference must reach the sandbox spec as one (its placeholder).
    env = {**((base.env or {}) if base else {}), **((request.env or {}) if request else {})}
    if network is None:
        environment_config = (base or EnvironmentConfig()).model_copy(update={"env": env or None})
        return agent.model_copy(update={"base_environment": environment_config})
    environment_config = EnvironmentConfig.model_validate({"network": network, "env": env or None})
    sandbox = agent.sandbox.model_copy(update={"network": None})
    return agent.model_copy(update={"base_environment": environment_config, "sandbox": sandbox})


def first_run_spec(
    agent: AgentSpec, config: Mapping[str, Any], environment: Any, policy: EgressPolicy,
    base_spec: SandboxSpec,
) -> SandboxSpec | None:
    """The sandbox spec (its workspace aside) of the first run of ``agent`` (resolved) in a new
    environment with the echoed ``config``, asked for by the request's ``environment`` field; ``None``
    when only the store knows (an agent whose ``base_environment`` is an environment id: a fork's
    network is that environment's)."""
    if isinstance(agent.base_environment, str):
        return None
    base = agent.base_environment if isinstance(agent.base_environment, EnvironmentConfig) else None
    network = network_for(config, agent, base, policy)
    return run_spec(as_made(agent, base, request_environment(environment), network), base_spec)
