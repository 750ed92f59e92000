"""Provider and sandbox interfaces, and the spec a sandbox is made from.

A provider turns a :class:`SandboxSpec` into a ready :class:`Sandbox`: one whose sandboxd answers.
The sandbox handle offers the in-box operations (through :class:`~runtime.sandbox.client.SandboxdClient`)
and its lifecycle. Backends: ``docker`` (real containers) and ``local`` (sandboxd in-process over a
temporary directory; for fast tests of code that drives a sandbox, not a security boundary).
"""

from __future__ import annotations

import abc
import enum
import hashlib
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from runtime.sandboxd.egress_policy import validate_pattern

if TYPE_CHECKING:
    from runtime.sandbox.client import SandboxdClient

DEFAULT_IMAGE = "hangar-sandbox:latest"

OutputCallback = Callable[[str, str], Awaitable[None] | None]
"""Called with ``(stream, text)`` (``stream`` is ``"stdout"`` or ``"stderr"``) as output arrives."""


class Mount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str
    """Host path (bind) or volume name (volume)."""
    target: str
    read_only: bool = True
    type: Literal["bind", "volume"] = "bind"


class EgressRule(BaseModel):
    """What the egress proxy adds to a box's requests to ``domain``: a credential's header (by
    credential id; the secret is resolved outside the box) and literal ``headers``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str
    credential: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @field_validator("domain")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        return validate_pattern(value)


class SandboxSpec(BaseModel):
    """Everything a sandbox is made from. Two equal specs share a warm pool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = DEFAULT_IMAGE
    cpus: float = Field(default=1.0, gt=0, le=64)
    memory_mb: int = Field(default=1024, ge=64)
    pids_limit: int = Field(default=256, ge=16)
    tmp_size_mb: int = Field(default=512, ge=8)
    """Size of each tmpfs (``/tmp`` and the home directory)."""
    shm_size_mb: int = Field(default=256, ge=16)
    network: Literal["none", "egress", "allowlist"] = "none"
    """``none``: only loopback. ``egress``: open egress on a Docker network Hangar creates.
    ``allowlist``: only ``allowed_domains``, through Hangar's egress proxy (the box has no route out)."""
    allowed_domains: tuple[str, ...] = ()
    """Domains an ``allowlist`` box may reach: ``pypi.org`` (that host), ``*.github.com`` (hosts
    below it). Stored lower-case, sorted, without duplicates; no IP addresses."""
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[Mount, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    workspace_volume: str | None = None
    """Named volume to mount at ``/workspace`` (an environment's); a fresh one when ``None``."""
    runtime: str | None = None
    """OCI runtime (e.g. ``runsc`` for gVisor); the engine default when ``None``."""
    start_timeout_s: float = Field(default=30.0, gt=0)
    lifetime_s: float | None = Field(default=3600.0, gt=0)
    """Hard limit on a sandbox's life; ``None`` for no limit."""
    idle_timeout_s: float | None = Field(default=900.0, gt=0)
    """Stop after this long without an operation; ``None`` for no limit."""
    disk_quota_bytes: int | None = Field(default=None, ge=1)
    """Workspace quota (allocated bytes): the host measures the volume and stops a box past it
    (see :mod:`runtime.sandbox.quota`); ``None`` for none."""
    disk_quota_entries: int | None = Field(default=None, ge=1)
    """Workspace quota in files, folders and links."""
    egress_rules: tuple[EgressRule, ...] = ()
    """Injections by the egress proxy (TLS is terminated for their domains, with a per-namespace CA
    the box trusts); every other domain stays a blind tunnel."""
    egress_placeholders: tuple[str, ...] = ()
    """Ids of credentials whose placeholders the box holds (``env``), substituted by the proxy."""
    credential_scope: str | None = None
    """The project whose credentials the ids name."""

    @field_validator("allowed_domains")
    @classmethod
    def _valid_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({validate_pattern(d) for d in value}))

    @model_validator(mode="after")
    def _domains_need_allowlist(self) -> Self:
        if self.allowed_domains and self.network != "allowlist":
            raise ValueError(f'allowed_domains needs network="allowlist" (network is {self.network!r})')
        return self

    def key(self) -> str:
        """Stable short hash identifying the spec (pool key, label value)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class SandboxState(enum.StrEnum):
    STARTING = "starting"
    READY = "ready"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    DEAD = "dead"
    """Died on its own (out of memory, killed, reaped); operations raise ``SandboxGone``."""


class Sandbox(abc.ABC):
    """A ready sandbox. Usable as ``async with`` (stops it on exit).

    The in-box operations live on :attr:`client`; the handle adds lifecycle and activity
    tracking (every operation through ``client`` renews the idle deadline).
    """

    def __init__(self, sandbox_id: str, spec: SandboxSpec, client: SandboxdClient) -> None:
        self.id = sandbox_id
        self.spec = spec
        self.client = client
        self.state = SandboxState.READY
        self.created_at = time.monotonic()
        self.last_active = self.created_at
        client.on_activity = self.touch

    def touch(self) -> None:
        self.last_active = time.monotonic()

    def expired(self, now: float | None = None) -> str | None:
        """The reason this sandbox outlived its lifetime or idle timeout, else ``None``."""
        now = time.monotonic() if now is None else now
        if self.spec.lifetime_s is not None and now - self.created_at > self.spec.lifetime_s:
            return "lifetime"
        if self.spec.idle_timeout_s is not None and now - self.last_active > self.spec.idle_timeout_s:
            return "idle"
        return None

    @abc.abstractmethod
    async def pause(self) -> None:
        """Freeze every process in the box (no CPU while pooled)."""

    @abc.abstractmethod
    async def resume(self) -> None:
        """Undo :meth:`pause`; returns when sandboxd answers again."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop and remove the box and what it owns (idempotent). The workspace volume is kept
        when it was given in the spec."""

    @abc.abstractmethod
    async def check_alive(self) -> None:
        """Raise ``SandboxGone`` (with the reason) when the box died."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class SandboxInfo(BaseModel):
    id: str
    name: str
    state: str
    image: str
    created: str
    spec_key: str | None = None


class Provider(abc.ABC):
    """Creates sandboxes. ``start``/``stop`` bracket its life (``async with`` does both)."""

    name: str

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect to the backend; raises ``EngineUnavailable`` with the reason."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Release what the provider holds; sandboxes it created are stopped."""

    async def remove_volume(self, name: str) -> None:  # noqa: B027 - optional hook
        """Remove a named workspace volume (an environment's) that no sandbox uses (idempotent).
        Backends without named volumes have nothing to do."""

    async def volume_exists(self, name: str) -> bool:
        """Whether a named workspace volume exists. Backends without named volumes say yes."""
        return True

    async def release(self, box: Sandbox, *, keep: bool = True) -> None:
        """End a run's use of ``box``. A provider with warm paths may keep it (paused) for the next
        run on its workspace when ``keep``; this one stops it."""
        await box.stop()

    async def adopt(self, box: Sandbox, spec: SandboxSpec) -> None:
        """Hand a pre-started ``box`` of this provider to a run of ``spec``, which differs from the
        box's own spec only in what can be assigned after creation (see
        :func:`~runtime.sandbox.pooled.pool_shape`): from now on ``box.spec`` is ``spec``."""
        box.spec = spec

    @abc.abstractmethod
    async def create(self, spec: SandboxSpec) -> Sandbox:
        """A new ready sandbox. Raises ``ImageMissing``, ``EngineUnavailable`` or
        ``SandboxStartFailed`` (with the daemon's last log lines) — never a bare timeout."""

    @abc.abstractmethod
    async def list(self) -> list[SandboxInfo]:
        """Sandboxes of this provider's namespace that exist on the backend."""

    @abc.abstractmethod
    async def remove(self, sandbox_id: str) -> None:
        """Remove a sandbox by id or name (idempotent)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
