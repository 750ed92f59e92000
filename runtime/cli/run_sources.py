"""``hangar run``'s workspace: the sources of the agent's ``base_environment`` placed the way the
server places an environment's (:class:`~runtime.service.provisioning.Provisioner`: inline files
through a file box, repositories cloned inside a box whose egress is the repository's host only),
in a volume of this run that the agent's box then mounts and that goes away with the run."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

from runtime.agents.spec import AgentSpec
from runtime.agents.wire import Environment, Source
from runtime.errors import InputError
from runtime.sandbox.base import Provider, SandboxSpec
from runtime.service.environment_config import check_sources
from runtime.service.file_boxes import FileBoxes
from runtime.service.provisioning import Provisioner

WHERE = "base_environment.sources"


def base_sources(agent: AgentSpec) -> list[Source]:
    """The sources of the agent's ``base_environment``, checked as the server checks them.

    Raises:
        InputError: a source that cannot be placed (no target, a ``gcs`` bucket, a bad URL), or a
            ``base_environment`` that names a server's environment (nothing to fork in-process).
    """
    base = agent.base_environment
    if isinstance(base, str):
        raise InputError(
            f"base_environment: '{base}' is an environment id of a server; run this agent with "
            "--server, or give base_environment as an object (sources, env, network)"
        )
    sources = list(base.sources or []) if isinstance(base, Environment) else []
    check_sources(sources, WHERE)
    return sources


@contextlib.asynccontextmanager
async def placed_sources(
    agent: AgentSpec, provider: Provider, base: SandboxSpec
) -> AsyncIterator[SandboxSpec]:
    """``base`` with a workspace volume holding the agent's ``base_environment`` sources (``base``
    as it is when there are none); the volume is removed on exit. Raises like
    :meth:`Provisioner.place` (:class:`InputError` for a repository that cannot be cloned)."""
    sources = base_sources(agent)
    if not sources:
        yield base
        return
    volume = f"hangar-run-{secrets.token_hex(6)}"
    boxes = FileBoxes(provider, base)
    try:
        try:
            await Provisioner(boxes, provider, base).place(volume, sources, WHERE)
        finally:
            await boxes.stop()  # the file box lets go of the volume before the agent's box mounts it
        yield base.model_copy(update={"workspace_volume": volume})
    finally:
        await provider.remove_volume(volume)
