"""The egress proxy of one provider namespace, seen from the host.

``network="allowlist"`` boxes live on an internal Docker network (``internal=True``: no route out)
whose only other member is the egress proxy (:mod:`runtime.sandboxd.egress_proxy`), a hardened
container from the sandbox image that is also attached to the egress bridge. It is started with
the first allowlist box and removed, with the internal network, when the provider stops.

Which box a connection comes from is its source address on the internal network. After a box
starts, the host registers ``{box IP: (sandbox id, allowed domains)}`` in the policy file of a
directory bind-mounted into the proxy (``sockets/<namespace>/egress-proxy``, replaced atomically;
the proxy reloads it when it changes). A box is unregistered once its container is gone; until it
is registered, or after, its address is denied (fails closed).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import structlog

from runtime.errors import HangarError, InfraError
from runtime.sandbox import engine as eng
from runtime.sandboxd.egress_policy import READY_FILE, BoxRule, Policy, write_policy

log = structlog.get_logger(__name__)

PROXY_ID = "egress-proxy"
"""The proxy's ``hangar.sandbox_id`` label and state directory name (the reaper keys on it)."""
PROXY_PORT = 3128
STATE_MOUNT = "/run/egress"
NO_PROXY = "localhost,127.0.0.1"
_START_TIMEOUT_S = 15.0


class EgressProxy:
    """Starts lazily (:meth:`ensure`), keeps the policy file, stops with the provider."""

    def __init__(
        self, engine: eng.Engine, *, namespace: str, state_dir: Path, egress_network: str,
        private_hosts: tuple[str, ...], image: str | None, runtime: str | None, init: bool,
    ) -> None:
        self._engine = engine
        self.namespace = namespace
        self.state_dir = state_dir
        self.egress_network = egress_network
        self.internal_network = f"hangar-allowlist-{namespace}"
        self._private_hosts = private_hosts
        self._image = image
        self._runtime = runtime
        self._init = init
        self._lock = asyncio.Lock()
        self._container_id: str | None = None
        self.url: str | None = None
        self._boxes: dict[str, BoxRule] = {}

    def tracked(self) -> set[str]:
        """What the reaper must leave alone: the proxy while it runs or is being started."""
        return {PROXY_ID} if self._container_id or self._lock.locked() else set()

    def environment(self) -> dict[str, str]:
        """The proxy variables of an allowlist box (after :meth:`ensure`)."""
        if self.url is None:
            raise InfraError("the egress proxy is not running", retryable=True)
        return {
            "HTTP_PROXY": self.url, "HTTPS_PROXY": self.url, "http_proxy": self.url,
            "https_proxy": self.url, "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY,
        }

    async def ensure(self, image: str) -> str:
        """The internal network's name, once the proxy listens on it (started on first use, and
        again if it died)."""
        async with self._lock:
            if self._container_id and await self._running():
                return self.internal_network
            await self._remove_container()
            started = time.monotonic()
            await self._engine.run(_ensure_internal_network, self._engine.client, self.internal_network,
                                   self.namespace)
            await self._engine.run(eng.ensure_network, self._engine.client, self.egress_network)
            await asyncio.to_thread(self._prepare_state_dir)
            self._container_id = await self._engine.run(self._create, self._image or image)
            await self._wait_ready(started + _START_TIMEOUT_S)
            log.info("egress proxy ready", namespace=self.namespace, url=self.url,
                     ms=round((time.monotonic() - started) * 1000))
            return self.internal_network

    async def register(self, sandbox_id: str, container_id: str, domains: tuple[str, ...]) -> str:
        """Allow ``domains`` to the box; returns its address on the internal network."""
        attrs = await self._engine.run(self._engine.client.api.inspect_container, container_id)
        networks = attrs["NetworkSettings"]["Networks"]
        address = str((networks.get(self.internal_network) or {}).get("IPAddress") or "")
        if not address:
            raise InfraError(f"sandbox {sandbox_id} has no address on {self.internal_network}")
        async with self._lock:
            self._boxes[address] = BoxRule(sandbox_id, domains)
            await asyncio.to_thread(self._write)
        log.info("egress allowlist registered", sandbox_id=sandbox_id, address=address, domains=list(domains))
        return address

    async def unregister(self, sandbox_id: str, address: str) -> None:
        """Forget the box (only if the address is still its own; idempotent)."""
        async with self._lock:
            rule = self._boxes.get(address)
            if rule is None or rule.sandbox_id != sandbox_id:
                return
            del self._boxes[address]
            if self._container_id:
                await asyncio.to_thread(self._write)

    async def stop(self) -> None:
        """Remove the proxy, the internal network and the state directory (boxes must be gone)."""
        async with self._lock:
            await self._remove_container()
            await self._engine.run(eng.remove_network, self._engine.client, self.internal_network)
            await asyncio.to_thread(shutil.rmtree, self.state_dir, True)
            self._boxes.clear()

    # --- internals ----------------------------------------------------------------------------

    async def _running(self) -> bool:
        try:
            attrs = await self._engine.run(self._engine.client.api.inspect_container, self._container_id)
        except HangarError:
            return False
        return eng.describe_exit(attrs) is None

    async def _remove_container(self) -> None:
        if self._container_id:
            await self._engine.run(eng.remove_container, self._engine.client, self._container_id)
        self._container_id = None
        self.url = None

    def _prepare_state_dir(self) -> None:
        shutil.rmtree(self.state_dir, ignore_errors=True)
        eng.make_owned_dir(self.state_dir)
        self._write()

    def _write(self) -> None:
        write_policy(self.state_dir, Policy(dict(self._boxes), self._private_hosts))

    def _create(self, image: str) -> str:
        client = self._engine.client
        kwargs = proxy_container_kwargs(
            image, namespace=self.namespace, state_dir=self.state_dir, network=self.internal_network,
            runtime=self._runtime, init=self._init,
        )
        container_id: str = client.containers.create(**kwargs).id
        try:
            client.api.connect_container_to_network(container_id, self.egress_network)
            client.api.start(container_id)
            attrs = client.api.inspect_container(container_id)
        except BaseException:
            eng.remove_container(client, container_id)
            raise
        address = attrs["NetworkSettings"]["Networks"][self.internal_network]["IPAddress"]
        self.url = f"http://{address}:{PROXY_PORT}"
        return container_id

    async def _wait_ready(self, deadline: float) -> None:
        ready = self.state_dir / READY_FILE
        while not ready.exists():
            if time.monotonic() > deadline or not await self._running():
                logs = await self._engine.run(eng.last_logs, self._engine.client, self._container_id or "")
                await self._remove_container()
                raise InfraError(f"the egress proxy did not start; last log lines:\n{logs}")
            await asyncio.sleep(0.01)


def proxy_container_kwargs(
    image: str, *, namespace: str, state_dir: Path, network: str, runtime: str | None, init: bool
) -> dict[str, Any]:
    """``containers.create`` arguments of the proxy: hardened like a box, small limits."""
    from docker.types import Mount

    kwargs: dict[str, Any] = {
        "image": image,
        "name": f"hangar-egress-proxy-{namespace}",
        "entrypoint": ["/opt/venv/bin/python", "-I", "-u", "-m", "runtime.sandboxd.egress_proxy"],
        "hostname": "egress-proxy",
        "user": f"{eng.SANDBOX_UID}:{eng.SANDBOX_UID}",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": 64,
        "mem_limit": 256 * eng.MB,
        "memswap_limit": 256 * eng.MB,
        "nano_cpus": int(1e9),
        "read_only": True,
        "tmpfs": {"/tmp": "rw,noexec,nosuid,nodev,size=16m,mode=1777"},
        "mounts": [Mount(STATE_MOUNT, str(state_dir), type="bind", read_only=False)],
        "network_mode": network,
        "init": init,
        "labels": {
            eng.LABEL_MANAGED: "1", eng.LABEL_NAMESPACE: namespace, eng.LABEL_ID: PROXY_ID,
            eng.LABEL_ROLE: PROXY_ID,
        },
        "environment": {"EGRESS_STATE_DIR": STATE_MOUNT, "EGRESS_PORT": str(PROXY_PORT)},
    }
    if runtime:
        kwargs["runtime"] = runtime
    return kwargs


def _ensure_internal_network(client: Any, name: str, namespace: str) -> None:
    import docker.errors

    try:
        attrs = client.api.inspect_network(name)
    except docker.errors.NotFound:
        labels = {eng.LABEL_MANAGED: "1", eng.LABEL_NAMESPACE: namespace, eng.LABEL_ID: PROXY_ID}
        client.api.create_network(name, driver="bridge", internal=True, check_duplicate=True, labels=labels)
        return
    if not attrs.get("Internal") or not eng.owned_by(attrs.get("Labels"), namespace):
        raise InfraError(f"network {name} exists but is not Hangar's internal network of {namespace}")
