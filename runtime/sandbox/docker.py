"""The Docker provider: each sandbox is a hardened container whose sandboxd answers on a unix socket
in a host directory bind-mounted at ``/run/sandboxd``.

``create`` returns only once sandboxd answers. A background watchdog stops sandboxes past their
lifetime or idle timeout and cleans up the ones that died; a reaper removes what this namespace
owns on the engine but no longer tracks (see :mod:`runtime.sandbox.reaper`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any, Literal

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator

from runtime.errors import HangarError, InputError, NotFound, SandboxGone, SandboxStartFailed
from runtime.sandbox import engine as eng
from runtime.sandbox.base import Provider, Sandbox, SandboxInfo, SandboxSpec, SandboxState
from runtime.sandbox.egress import PROXY_ID, EgressProxy, box_environment
from runtime.sandbox.egress_credentials import CredentialSource
from runtime.sandbox.guard import GuardedTransport
from runtime.sandbox.quota import QuotaWatcher
from runtime.sandbox.reaper import Reaper
from runtime.sandbox.transport import SandboxdTransport
from runtime.sandboxd.egress_policy import validate_pattern
from runtime.sandboxd.protocol import SOCKET_NAME

log = structlog.get_logger(__name__)

_UNIX_PATH_MAX = 107


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


class DockerSandbox(Sandbox):
    """A running container. Operations go through :attr:`client`; lifecycle through this handle."""

    def __init__(
        self, sandbox_id: str, spec: SandboxSpec, *, provider: DockerProvider, where: eng.Placement,
        fresh_volume: bool,
    ) -> None:
        from runtime.sandbox.client import SandboxdClient

        # As root the box's uid is known; otherwise (rootless engines map uids) the first one is pinned.
        owner = eng.SANDBOX_UID if os.geteuid() == 0 else None
        self.socket: httpx.AsyncBaseTransport = self._open_transport(where, owner)
        """Dials only the box's checked socket, pinned to the listener of the first connection."""
        self._transport = GuardedTransport(self.socket)
        super().__init__(sandbox_id, spec, SandboxdClient(self._transport, where.token))
        self._transport.bind(self)
        self.client.on_protocol_error = self._retire
        self.state = SandboxState.STARTING
        self.where = where
        self.container_id = ""
        self.oom_kills = 0
        """Processes of this box the kernel killed for memory (engine ``oom`` events)."""
        self.egress = False
        """Registered with the egress proxy (``network`` egress or allowlist)."""
        self.gone_reason: str | None = None
        self._provider = provider
        self._engine = provider.engine
        self._fresh_volume = fresh_volume
        self._stop_lock = asyncio.Lock()
        self._torn_down = False
        self._died = asyncio.Event()
        self._stopped = asyncio.Event()
        self._oom = asyncio.Event()
        self.log = log.bind(sandbox_id=sandbox_id)

    def _open_transport(self, where: eng.Placement, owner_uid: int | None) -> httpx.AsyncBaseTransport:
        return SandboxdTransport(where.socket_dir / SOCKET_NAME, owner_uid=owner_uid)

    # --- guard hooks (called by the transport) -----------------------------------------------

    def guard(self) -> None:
        if self.state is SandboxState.DEAD:
            raise SandboxGone(f"sandbox {self.id} {self.gone_reason}")
        if self.state in (SandboxState.STOPPING, SandboxState.STOPPED):
            raise SandboxGone(f"sandbox {self.id} was stopped")
        if self.state is SandboxState.PAUSED:
            raise InputError(f"sandbox {self.id} is paused; resume() it first", code="sandbox_paused")

    async def on_transport_error(self, error: httpx.TransportError) -> None:
        if self.state is SandboxState.STARTING:
            return
        await self.check_alive()
        if isinstance(error, httpx.TimeoutException):
            return
        # A dropped unix socket means the daemon died; the engine records the exit a moment later.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._died.wait(), 1.0)
        await self.check_alive()

    def _retire(self, error: HangarError) -> None:
        """The box answered out of protocol: no further call reaches it; the watchdog removes it."""
        if self.state in (SandboxState.READY, SandboxState.PAUSED):
            self.gone_reason = f"was retired: {error.message}"
            self.state = SandboxState.DEAD
            self.log.warning("sandbox retired: it answered out of protocol", error=error.message)

    # --- events -------------------------------------------------------------------------------

    def on_engine_event(self, action: str) -> None:
        if action == "oom":
            self.oom_kills += 1
            self._oom.set()
            self.log.warning("process killed: out of memory", limit_mb=self.spec.memory_mb)
        elif action == "die":
            self._died.set()

    async def wait_oom(self, timeout_s: float) -> bool:
        """Whether an out-of-memory kill happened (waiting up to ``timeout_s`` for the event)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._oom.wait(), timeout_s)
        return self.oom_kills > 0

    # --- lifecycle ----------------------------------------------------------------------------

    async def wait_ready(self, deadline: float) -> None:
        """Poll the socket, then health, until sandboxd answers; the container's state is checked
        whenever the engine reports a death and every quarter second."""
        sock = self.where.socket_dir / SOCKET_NAME
        delay, next_inspect = 0.002, time.monotonic() + 0.25
        while True:
            now = time.monotonic()
            if self._died.is_set() or now >= next_inspect:
                await self._fail_if_exited()
                next_inspect = now + 0.25
            if now >= deadline:
                raise await self._start_failure(
                    f"sandboxd did not answer within {self.spec.start_timeout_s:g} s"
                )
            if sock.exists():
                with contextlib.suppress(HangarError, httpx.HTTPError, OSError, TimeoutError):
                    await asyncio.wait_for(self.client.health(), max(0.05, deadline - now))
                    self.state = SandboxState.READY
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.02)

    async def _fail_if_exited(self) -> None:
        attrs = await self._engine.run(self._engine.client.api.inspect_container, self.container_id)
        reason = eng.describe_exit(attrs, self.spec.memory_mb)
        if reason is not None and (attrs.get("State") or {}).get("Status") != "created":
            raise await self._start_failure(f"container {reason}")

    async def _start_failure(self, reason: str) -> SandboxStartFailed:
        client = self._engine.client
        status = "unknown"
        with contextlib.suppress(HangarError):
            attrs = await self._engine.run(client.api.inspect_container, self.container_id)
            status = (attrs.get("State") or {}).get("Status", "unknown")
        logs = await self._engine.run(eng.last_logs, client, self.container_id)
        return SandboxStartFailed(
            f"sandbox {self.id} failed to start: {reason} (container state: {status}); "
            f"last log lines:\n{logs}"
        )

    async def pause(self) -> None:
        await self._engine.run(self._engine.client.api.pause, self.container_id)
        self.state = SandboxState.PAUSED

    async def resume(self) -> None:
        await self._engine.run(self._engine.client.api.unpause, self.container_id)
        self.state = SandboxState.READY
        await asyncio.wait_for(self.client.health(), self.spec.start_timeout_s)

    async def check_alive(self) -> None:
        if self.state is SandboxState.DEAD:
            raise SandboxGone(f"sandbox {self.id} {self.gone_reason}")
        if self.state is SandboxState.STOPPED:
            raise SandboxGone(f"sandbox {self.id} was stopped")
        try:
            attrs = await self._engine.run(self._engine.client.api.inspect_container, self.container_id)
        except NotFound:
            reason: str | None = "was removed"
        else:
            reason = eng.describe_exit(attrs, self.spec.memory_mb)
        if reason is not None:
            self.gone_reason = reason
            self.state = SandboxState.DEAD
            self.log.warning("sandbox died", reason=reason)
            raise SandboxGone(f"sandbox {self.id} {reason}")

    async def stop(self) -> None:
        async with self._stop_lock:
            if self._torn_down:
                return
            dead = self.state is SandboxState.DEAD
            if self.state is SandboxState.READY:
                # A brief chance to close the browser and sessions cleanly; the container goes anyway.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.client.shutdown(), 0.5)
            if not dead:
                self.state = SandboxState.STOPPING
            try:
                await self._teardown()
            finally:
                self._torn_down = True
                self._stopped.set()
                self.state = SandboxState.DEAD if dead else SandboxState.STOPPED
                self._provider.untrack(self.id)
                self.log.info("sandbox stopped")

    async def _teardown(self) -> None:
        # The transport, not the client: later calls then reach the guard and say SandboxGone.
        with contextlib.suppress(Exception):
            await self._transport.aclose()
        client = self._engine.client
        if self.container_id:
            await self._engine.run(eng.remove_container, client, self.container_id)
        if self.egress:
            await self._provider.egress.release(self.id)
        if self._fresh_volume:
            await self._engine.run(eng.remove_volume, client, self.where.workspace_volume)
        await asyncio.to_thread(shutil.rmtree, self.where.socket_dir, True)

    async def kill(self, reason: str) -> None:
        """Stop the box as dead for ``reason``: calls in flight and later ones fail with it."""
        self.gone_reason = reason
        self.state = SandboxState.DEAD
        await self.stop()

    async def wait_stopped(self) -> None:
        """Return once the box was stopped and its resources removed (by anyone: the watchdog too)."""
        await self._stopped.wait()

    def expiry_reason(self) -> str | None:
        """Why the watchdog should stop this box now, if it should."""
        if self.state is SandboxState.DEAD:
            return f"died: {self.gone_reason}"
        if self.state is SandboxState.PAUSED:
            # A paused box is idle by design (the pool's); only its lifetime applies.
            lifetime = self.spec.lifetime_s
            too_old = lifetime is not None and time.monotonic() - self.created_at > lifetime
            return "lifetime" if too_old else None
        if self.state is SandboxState.READY:
            return self.expired()
        return None


class DockerProvider(Provider):
    name = "docker"
    sandbox_class: type[DockerSandbox] = DockerSandbox

    def __init__(self, config: DockerProviderConfig) -> None:
        self.config = config
        self.engine = eng.Engine(config.max_workers)
        self.sockets_dir = config.state_dir / "sockets" / config.namespace
        self._boxes: dict[str, DockerSandbox] = {}
        self._starting: set[str] = set()
        self._init = False
        self._tasks: list[asyncio.Task[None]] = []
        self._events: eng.EventWatcher | None = None
        self.reaper = Reaper(
            self.engine, config.namespace, self.sockets_dir, self.tracked, owner=config.owner
        )
        self.quota = QuotaWatcher(self.engine, config.namespace, config.quota_interval_s)
        self._egress: EgressProxy | None = None
        self.credentials: CredentialSource | None = None
        """Resolves the credentials boxes' egress rules name (set by the composition root)."""

    @property
    def egress(self) -> EgressProxy:
        """The namespace's egress proxy (started or adopted by the first box with egress)."""
        if self._egress is None:
            self._egress = EgressProxy(
                self.engine, namespace=self.config.namespace, state_dir=self.sockets_dir / PROXY_ID,
                private_hosts=self.config.egress_private_hosts,
                image=self.config.egress_proxy_image, runtime=self.config.runtime, init=self._init,
                credentials=self.credentials, upstream_ca=self.config.egress_upstream_ca,
                owner=self.config.owner,
            )
        return self._egress

    # --- provider lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        await self.engine.connect()
        await asyncio.to_thread(self.sockets_dir.mkdir, parents=True, exist_ok=True)
        probe = self.sockets_dir / "0123456789ab" / SOCKET_NAME
        if len(str(probe)) > _UNIX_PATH_MAX:
            raise InputError(f"state_dir {self.config.state_dir} is too long for a unix socket path")
        self._init = self.config.init if self.config.init is not None else _has_docker_init()
        self._events = eng.EventWatcher(self.engine.client, self.config.namespace, self._on_event)
        self._events.start(asyncio.get_running_loop())
        if self.config.reap_on_start:
            await self.reaper.reap_once()
        if self.config.watchdog_interval_s is not None:
            self._tasks.append(asyncio.create_task(self._watchdog(self.config.watchdog_interval_s)))
        if self.config.reap_interval_s is not None:
            self._tasks.append(asyncio.create_task(self.reaper.run_every(self.config.reap_interval_s)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.quota.stop()
        await asyncio.gather(*(box.stop() for box in list(self._boxes.values())), return_exceptions=True)
        if self._egress is not None:
            try:
                await self._egress.stop()
            except Exception as e:
                log.warning("could not remove the egress proxy; the reaper will", error=str(e))
        if self._events is not None:
            await self._events.stop()
            self._events = None
        await self.engine.close()

    def tracked(self) -> set[str]:
        """Ids this provider owns right now, including boxes still starting."""
        egress = self._egress.tracked() if self._egress is not None else set()
        return set(self._boxes) | self._starting | egress

    def untrack(self, sandbox_id: str) -> None:
        self._boxes.pop(sandbox_id, None)

    def _on_event(self, sandbox_id: str, action: str) -> None:
        box = self._boxes.get(sandbox_id)
        if box is not None:
            box.on_engine_event(action)

    # --- sandboxes ----------------------------------------------------------------------------

    async def create(self, spec: SandboxSpec, *, entrypoint: list[str] | None = None) -> DockerSandbox:
        """A ready sandbox. ``entrypoint`` replaces sandboxd (tests of start-up failures)."""
        sandbox_id = secrets.token_hex(6)
        # Registered before any resource exists, so a concurrent reap never sees it as an orphan.
        self._starting.add(sandbox_id)
        try:
            return await self._create(spec, sandbox_id, entrypoint)
        finally:
            self._starting.discard(sandbox_id)

    async def _create(
        self, spec: SandboxSpec, sandbox_id: str, entrypoint: list[str] | None
    ) -> DockerSandbox:
        started = time.monotonic()
        where = self._placement(spec, sandbox_id, entrypoint)
        fresh = not spec.workspace_volume
        box = self.sandbox_class(sandbox_id, spec, provider=self, where=where, fresh_volume=fresh)
        self._boxes[sandbox_id] = box
        try:
            if spec.network != "none":
                box.egress = True
                box.where = where = dataclasses.replace(
                    where, proxy_env=tuple(box_environment(spec).items()),
                    egress_dir=await self.egress.prepare(sandbox_id, spec),
                )
            await self._prepare_socket_dir(where)
            client = self.engine.client
            if not spec.workspace_volume:
                labels = eng.hangar_labels(spec, where)
                await self.engine.run(client.api.create_volume, where.workspace_volume, labels=labels)
            else:
                await self.engine.run(
                    eng.ensure_workspace_volume, client, where.workspace_volume, where.namespace, where.owner
                )
            kwargs = eng.container_kwargs(spec, where)
            box.container_id = (await self.engine.run(client.containers.create, **kwargs)).id
            await self.engine.run(client.api.start, box.container_id)
            await box.wait_ready(started + spec.start_timeout_s)
            if box.egress:
                await self.egress.wait_socket(sandbox_id, started + spec.start_timeout_s)
            self.quota.watch(box)
        except BaseException as e:
            box.log.warning("sandbox start failed; removing it", error=str(e))
            await asyncio.shield(box.stop())
            raise
        box.log.info("sandbox ready", ms=round((time.monotonic() - started) * 1000), image=spec.image)
        return box

    def _placement(self, spec: SandboxSpec, sandbox_id: str, entrypoint: list[str] | None) -> eng.Placement:
        return eng.Placement(
            sandbox_id=sandbox_id, namespace=self.config.namespace, token=secrets.token_urlsafe(32),
            socket_dir=self.sockets_dir / sandbox_id,
            workspace_volume=spec.workspace_volume or eng.volume_name(sandbox_id),
            network="none", runtime=spec.runtime or self.config.runtime,
            init=self._init, entrypoint=entrypoint, owner=self.config.owner,
        )

    async def _prepare_socket_dir(self, where: eng.Placement) -> None:
        await asyncio.to_thread(_make_socket_dir, where.socket_dir, where.token)

    async def remove_volume(self, name: str) -> None:
        await self.engine.run(eng.remove_volume, self.engine.client, name)

    async def volume_exists(self, name: str) -> bool:
        return bool(await self.engine.run(eng.volume_exists, self.engine.client, name))

    def get(self, sandbox_id: str) -> DockerSandbox | None:
        return self._boxes.get(sandbox_id)

    async def list(self) -> list[SandboxInfo]:
        rows: list[dict[str, Any]] = await self.engine.run(
            self.engine.client.api.containers, all=True, filters=eng.namespace_filter(self.config.namespace)
        )
        infos = []
        for row in rows:
            labels = row.get("Labels") or {}
            if not eng.owned_by(labels, self.config.namespace) or eng.LABEL_ROLE in labels:
                continue  # not ours, or the egress proxy (not a sandbox)
            infos.append(SandboxInfo(
                id=labels.get(eng.LABEL_ID, ""), name=(row.get("Names") or ["?"])[0].lstrip("/"),
                state=str(row.get("State", "unknown")), image=str(row.get("Image", "")),
                created=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(row.get("Created", 0)))),
                spec_key=labels.get(eng.LABEL_SPEC),
            ))
        return infos

    async def remove(self, sandbox_id: str) -> None:
        """Remove by sandbox id or container name (``hangar-<id>``), within this namespace only."""
        sandbox_id = sandbox_id.removeprefix("hangar-")
        box = self._boxes.get(sandbox_id)
        if box is not None:
            await box.stop()
            return
        await self.reaper.remove(sandbox_id)

    async def _watchdog(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            for box in list(self._boxes.values()):
                reason = box.expiry_reason()
                if reason is not None:
                    box.log.info("stopping sandbox", reason=reason)
                    try:
                        await box.stop()
                    except Exception as e:
                        box.log.warning("watchdog could not stop sandbox", error=str(e))


def _make_socket_dir(path: Path, token: str) -> None:
    """A directory only the box's user can enter; its sandboxd creates the socket there, after
    reading and deleting the token file (so the token is never in any process's environment)."""
    eng.make_owned_dir(path)
    eng.write_token_file(path, token)


def _has_docker_init() -> bool:
    return any(
        Path(p).exists() for p in ("/usr/bin/docker-init", "/usr/libexec/docker/docker-init")
    ) or shutil.which("docker-init") is not None
