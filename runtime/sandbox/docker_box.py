"""A Docker sandbox handle: one hardened container whose sandboxd answers on a checked unix socket.

The handle tracks the box's state (starting, ready, paused, stopped, dead), waits for sandboxd at
start, pauses and resumes it, and removes what it owns on stop (container, egress registration,
fresh workspace volume, socket directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from typing import TYPE_CHECKING

import httpx
import structlog

from runtime.errors import HangarError, InputError, NotFound, SandboxGone, SandboxStartFailed
from runtime.sandbox import engine as eng
from runtime.sandbox.base import Sandbox, SandboxSpec, SandboxState
from runtime.sandbox.guard import GuardedTransport
from runtime.sandbox.transport import SandboxdTransport
from runtime.sandboxd.protocol import SOCKET_NAME

if TYPE_CHECKING:
    from runtime.sandbox.docker import DockerProvider

log = structlog.get_logger(__name__)


class DockerSandbox(Sandbox):
    """A running container. Operations go through :attr:`client`; lifecycle through this handle."""

    def __init__(
        self,
        sandbox_id: str,
        spec: SandboxSpec,
        *,
        provider: DockerProvider,
        where: eng.Placement,
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

    def mounts_volume(self, name: str) -> bool:
        """Whether the box mounts the named volume (its workspace or another mount)."""
        return self.where.workspace_volume == name or any(
            m.type == "volume" and m.source == name for m in self.spec.mounts
        )

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
