"""Configuration of the Docker provider (``type: docker``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runtime.sandboxd.egress_policy import validate_pattern


class DockerProviderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["docker"] = "docker"
    state_dir: Path
    """Host directory for socket directories (``sockets/<namespace>/<sandbox id>``)."""
    namespace: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$")
    """Label ``hangar.namespace``: instances (and test sessions) never touch each other's boxes."""
    runtime: str | None = None
    """OCI runtime for every box (``runsc`` for gVisor) unless the spec names one."""
    egress_private_hosts: tuple[str, ...] = ()
    """Domain patterns that boxes with egress may reach even when they resolve to a private
    address (an intranet service); an agent's allowlist alone never reaches one."""
    egress_proxy_image: str | None = None
    """Image of the egress proxy (any image with Hangar's sandboxd); ``None``: the image of the
    first box with egress."""
    egress_upstream_ca: Path | None = None
    """Extra CAs the proxy trusts when it terminates TLS to inject a credential (private upstreams)."""
    init: bool | None = None
    """Run docker-init as PID 1 (reaps zombies); ``None``: when the engine host has it."""
    max_workers: int = Field(default=16, ge=1)
    """Threads for blocking Docker SDK calls."""
    watchdog_interval_s: float | None = Field(default=5.0, gt=0)
    quota_interval_s: float | None = Field(default=15.0, gt=0)
    """How often the workspace of a box with a disk quota is measured; ``None``: never."""
    reap_on_start: bool = True
    reap_interval_s: float | None = Field(default=300.0, gt=0)
    """Period of the orphan reaper; ``None`` to reap only on start."""
    owner: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    """The ``hangar.owner`` label of every box and volume (a server's node id); with one, the reaper
    leaves live owners' boxes alone (see :mod:`runtime.sandbox.reaper`)."""

    @field_validator("egress_private_hosts")
    @classmethod
    def _valid_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(validate_pattern(h) for h in value)
