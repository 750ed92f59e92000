"""The Docker provider: each sandbox is a hardened container whose sandboxd answers on a unix socket
in a host directory bind-mounted at ``/run/sandboxd``.

``create`` returns only once sandboxd answers. A background watchdog stops sandboxes past their
lifetime or idle timeout and cleans up the ones that died; a reaper removes what this namespace
owns on the engine but no longer tracks (see :mod:`runtime.sandbox.reaper`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from typing import Any

import structlog

from runtime.errors import InputError
from runtime.sandbox import engine as eng
from runtime.sandbox.base import Provider, Sandbox, SandboxInfo, SandboxSpec
from runtime.sandbox.cleanup import to_the_end
from runtime.sandbox.docker_box import DockerSandbox
from runtime.sandbox.docker_config import DockerProviderConfig
from runtime.sandbox.egress import PROXY_ID, EgressProxy, box_environment
from runtime.sandbox.egress_credentials import CredentialSource
from runtime.sandbox.quota import QuotaWatcher
from runtime.sandbox.reaper import Reaper
from runtime.sandbox.socket_dirs import UNIX_PATH_MAX, has_docker_init, make_socket_dir
from runtime.sandbox.watchdog import watch_forever
from runtime.sandboxd.protocol import SOCKET_NAME

__all__ = ["DockerProvider", "DockerProviderConfig", "DockerSandbox"]

log = structlog.get_logger(__name__)


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
                self.engine,
                namespace=self.config.namespace,
                state_dir=self.sockets_dir / PROXY_ID,
                private_hosts=self.config.egress_private_hosts,
                image=self.config.egress_proxy_image,
                runtime=self.config.runtime,
                init=self._init,
                credentials=self.credentials,
                upstream_ca=self.config.egress_upstream_ca,
                owner=self.config.owner,
            )
        return self._egress

    # --- provider lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        await self.engine.connect()
        await asyncio.to_thread(self.sockets_dir.mkdir, parents=True, exist_ok=True)
        probe = self.sockets_dir / "0123456789ab" / SOCKET_NAME
        if len(str(probe)) > UNIX_PATH_MAX:
            raise InputError(f"state_dir {self.config.state_dir} is too long for a unix socket path")
        self._init = self.config.init if self.config.init is not None else has_docker_init()
        self._events = eng.EventWatcher(self.engine.client, self.config.namespace, self._on_event)
        self._events.start(asyncio.get_running_loop())
        if self.config.reap_on_start:
            await self.reaper.reap_once()
        if self.config.watchdog_interval_s is not None:
            watchdog = watch_forever(self._boxes.values, self.config.watchdog_interval_s)
            self._tasks.append(asyncio.create_task(watchdog))
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
            # To its end even when cancelled: the cleanup below then knows every object it made.
            await to_the_end(self._make(box, spec))
            await box.wait_ready(started + spec.start_timeout_s)
            if box.egress:
                await self.egress.wait_socket(sandbox_id, started + spec.start_timeout_s)
            self.quota.watch(box)
        except BaseException as e:
            box.log.warning("sandbox start failed; removing it", error=str(e) or type(e).__name__)
            await to_the_end(box.stop())
            raise
        box.log.info("sandbox ready", ms=round((time.monotonic() - started) * 1000), image=spec.image)
        return box

    async def _make(self, box: DockerSandbox, spec: SandboxSpec) -> None:
        """The box's objects: egress registration, socket directory, volume, started container."""
        where = box.where
        if spec.network != "none":
            box.egress = True
            box.where = where = dataclasses.replace(
                where,
                proxy_env=tuple(box_environment(spec).items()),
                egress_dir=await self.egress.prepare(box.id, spec),
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

    async def adopt(self, box: Sandbox, spec: SandboxSpec) -> None:
        """A box with egress gets ``spec``'s egress rule in place of its empty one."""
        if isinstance(box, DockerSandbox) and box.egress:
            await self.egress.assign(box.id, spec)
        box.spec = spec

    def _placement(self, spec: SandboxSpec, sandbox_id: str, entrypoint: list[str] | None) -> eng.Placement:
        return eng.Placement(
            sandbox_id=sandbox_id, namespace=self.config.namespace, token=secrets.token_urlsafe(32),
            socket_dir=self.sockets_dir / sandbox_id,
            workspace_volume=spec.workspace_volume or eng.volume_name(sandbox_id),
            network="none", runtime=spec.runtime or self.config.runtime,
            init=self._init, entrypoint=entrypoint, owner=self.config.owner,
        )

    async def _prepare_socket_dir(self, where: eng.Placement) -> None:
        await asyncio.to_thread(make_socket_dir, where.socket_dir, where.token)

    async def remove_volume(self, name: str) -> None:
        """Stop this provider's boxes that mount the volume (waiting for one already stopping),
        remove the namespace's other containers that do (a killed process's, a dead node's), then
        the volume. A container of another namespace or of a live other node that mounts it still
        makes the removal fail."""
        holders = [box for box in list(self._boxes.values()) if box.mounts_volume(name)]
        for failed in await asyncio.gather(*(box.stop() for box in holders), return_exceptions=True):
            if isinstance(failed, Exception):  # its container is removed below all the same
                log.warning("sandbox on a removed volume not stopped", volume=name, error=str(failed))
        live = await self.reaper.live_owners() if self.reaper.live_owners is not None else set()
        spare = frozenset(live - {self.config.owner})
        namespace = self.config.namespace
        await self.engine.run(eng.remove_volume_holders, self.engine.client, name, namespace, spare)
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
            infos.append(
                SandboxInfo(
                    id=labels.get(eng.LABEL_ID, ""),
                    name=(row.get("Names") or ["?"])[0].lstrip("/"),
                    state=str(row.get("State", "unknown")),
                    image=str(row.get("Image", "")),
                    created=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(row.get("Created", 0)))),
                    spec_key=labels.get(eng.LABEL_SPEC),
                )
            )
        return infos

    async def remove(self, sandbox_id: str) -> None:
        """Remove by sandbox id or container name (``hangar-<id>``), within this namespace only."""
        sandbox_id = sandbox_id.removeprefix("hangar-")
        box = self._boxes.get(sandbox_id)
        if box is not None:
            await box.stop()
            return
        await self.reaper.remove(sandbox_id)
