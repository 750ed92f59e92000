"""The egress proxy of one provider namespace, seen from the host.

Boxes never join a network (``network_mode="none"``). A box with egress (``network="egress"`` or
``"allowlist"``) reaches the namespace's proxy (:mod:`runtime.sandboxd.egress_proxy`), a hardened
container alone on the bridge network ``hangar-egress-<namespace>``, through a unix socket of its
own: the host creates ``boxes/<sandbox id>/`` in the proxy's state directory, mounts it read-only
into that box at ``/run/egress``, and writes the box's rule to ``policy/<sandbox id>.json``; the
proxy, which sees ``policy/`` read-only, then listens on ``boxes/<sandbox id>/proxy.sock``. The host
waits for that socket before it hands out the box; a pooled box, registered with an empty
allowlist, gets its run's rule when the run adopts it (:meth:`EgressProxy.assign`); the box's relay
(:mod:`runtime.sandboxd.egress_relay`) pipes ``127.0.0.1:3128`` to it.

Several processes of one namespace (two ``hangar sandbox run``) share the proxy: under a file lock
next to the state directory, the first one starts it and the others adopt it; each writes and
removes only its own boxes' rules; a process that stops removes the proxy only when no rule is
left. A proxy left behind by a killed process exits by itself once it has had no box for a while.

Credentials (:mod:`runtime.sandbox.egress_inject`): a box whose rules inject something gets them in
its policy file (readable by the proxy's user only), a leaf certificate per injection domain from
the namespace's CA (:mod:`runtime.sandbox.egress_tls`), and ``ca-bundle.pem`` (system CAs plus that
CA) in its socket directory, which its TLS clients are pointed at. Its secrets are resolved again
every :data:`REFRESH_S` (rotations, OAuth2 tokens before they expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

import structlog

from runtime.errors import HangarError, InfraError, NotFound
from runtime.sandbox import engine as eng
from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.egress_container import (
    POLICY_MOUNT,
    PROXY_ID,
    PROXY_UID,
    ensure_network,
    proxy_container_kwargs,
)
from runtime.sandbox.egress_credentials import CredentialSource
from runtime.sandbox.egress_inject import Plan, needs_injection, plan
from runtime.sandbox.egress_tls import issue_leaf, load_or_create_ca, write_bundle
from runtime.sandboxd.egress_policy import POLICY_SUFFIX, BoxRule, Injection, write_rule
from runtime.sandboxd.egress_proxy import SOCKET_NAME
from runtime.sandboxd.egress_relay import ENV_SOCKET, HOST, PORT

__all__ = ["PROXY_ID", "EgressProxy", "box_environment", "ensure_network", "proxy_container_kwargs"]

log = structlog.get_logger(__name__)

BOX_MOUNT = eng.EGRESS_MOUNT
"""Where a box sees its own proxy socket directory (read-only)."""
RELAY_URL = f"http://{HOST}:{PORT}"
NO_PROXY = "localhost,127.0.0.1,::1"
_START_TIMEOUT_S = 15.0
REFRESH_S = 30.0
"""How often the secrets of boxes with injections are resolved again (and an OAuth2 token that
expires sooner is refreshed before it does)."""
BUNDLE_NAME = "ca-bundle.pem"
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS",
                "CURL_CA_BUNDLE")
"""Where curl, Python (ssl, requests), pip, git and node look for the CAs they trust."""


def box_environment(spec: SandboxSpec | None = None) -> dict[str, str]:
    """The variables of a box with egress: its proxy is the in-box relay; a box with injections
    trusts the namespace's CA too."""
    env = {
        "HTTP_PROXY": RELAY_URL, "HTTPS_PROXY": RELAY_URL, "http_proxy": RELAY_URL, "https_proxy": RELAY_URL,
        "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY, ENV_SOCKET: f"{BOX_MOUNT}/{SOCKET_NAME}",
    }
    if spec is not None and needs_injection(spec):
        env |= dict.fromkeys(CA_VARIABLES, f"{BOX_MOUNT}/{BUNDLE_NAME}")
    return env


class EgressProxy:
    """Starts or adopts the proxy lazily (:meth:`prepare`), keeps this process's boxes' rules."""

    def __init__(
        self, engine: eng.Engine, *, namespace: str, state_dir: Path, private_hosts: tuple[str, ...],
        image: str | None, runtime: str | None, init: bool, credentials: CredentialSource | None = None,
        upstream_ca: Path | None = None, owner: str | None = None,
    ) -> None:
        self._engine = engine
        self._owner = owner
        self.namespace = namespace
        self.state_dir = state_dir
        self.policy_dir = state_dir / "policy"
        self.boxes_dir = state_dir / "boxes"
        self.network = f"hangar-egress-{namespace}"
        self.container_name = f"hangar-egress-proxy-{namespace}"
        self._lock_path = state_dir.parent / f".{PROXY_ID}.lock"
        self._private_hosts = private_hosts
        self._image = image
        self._runtime = runtime
        self._init = init
        self._lock = asyncio.Lock()
        self._container_id: str | None = None
        self._mine: set[str] = set()
        self._last_image = image or ""
        self._credentials = credentials
        self._upstream_ca = upstream_ca
        self._injecting: dict[str, tuple[BoxRule, SandboxSpec]] = {}
        self._refresher: asyncio.Task[None] | None = None

    def tracked(self) -> set[str]:
        """What the reaper must leave alone: the proxy while this process uses or starts it."""
        return {PROXY_ID} if self._container_id or self._lock.locked() else set()

    async def prepare(self, sandbox_id: str, spec: SandboxSpec) -> Path:
        """Make sure the proxy runs and register the box's rule; returns the host directory to
        mount read-only at :data:`BOX_MOUNT` (its socket appears there: :meth:`wait_socket`)."""
        rule = BoxRule(sandbox_id, spec.allowed_domains, spec.network == "egress", self._private_hosts)
        table = await plan(spec, self._credentials) if needs_injection(spec) else None
        async with self._lock:
            self._mine.add(sandbox_id)
            self._last_image = self._image or spec.image
            # One locked step: a process that stops meanwhile sees this rule and keeps the proxy.
            box_dir: Path = await self._locked(self._ensure_and_register, rule, table)
        if table is not None:
            self._injecting[sandbox_id] = (rule, spec)
            if self._refresher is None or self._refresher.done():
                self._refresher = asyncio.create_task(self._refresh_loop())
        log.info("egress registered", sandbox_id=sandbox_id, open=rule.open, domains=list(rule.domains),
                 injecting=table.domains if table is not None else [])
        return box_dir

    async def assign(self, sandbox_id: str, spec: SandboxSpec) -> None:
        """Replace a registered box's rule with ``spec``'s: a pooled box (registered with no domain
        at all) adopted by a run. The proxy reads it again at the box's next connection. Rules that
        inject credentials are never assigned (their box is made for them: CA, bundle, refresh).
        Raises ``InfraError`` when the box is not registered here or its rule cannot be written
        (the pool then stops the box and the run gets a cold one)."""
        if needs_injection(spec):
            raise InfraError("a rule with credential injections cannot be assigned to a pooled box",
                             retryable=False)
        rule = BoxRule(sandbox_id, spec.allowed_domains, spec.network == "egress", self._private_hosts)
        if sandbox_id not in self._mine:
            raise InfraError(f"sandbox {sandbox_id} has no egress registration to replace", retryable=False)
        try:
            await asyncio.to_thread(write_rule, self.policy_dir, rule)
        except OSError as e:  # a full disk, permissions: the box cannot be given this rule
            raise InfraError(f"could not write the egress rule of sandbox {sandbox_id}: {e}") from e
        log.info("egress assigned", sandbox_id=sandbox_id, open=rule.open, domains=list(rule.domains))

    async def wait_socket(self, sandbox_id: str, deadline: float) -> None:
        """Return once the proxy listens for the box. A proxy that exited meanwhile (it had been
        idle, or was killed) is started again, once; raises ``InfraError`` with its last log lines."""
        sock = self.boxes_dir / sandbox_id / SOCKET_NAME
        next_check, restarted = time.monotonic() + 0.25, False
        while not sock.exists():
            now = time.monotonic()
            running = True
            if now >= next_check:
                next_check = now + 0.25
                running = await self._running()
                if not running and not restarted:
                    restarted, running = True, True
                    async with self._lock:
                        await self._locked(self._ensure, self._last_image)
            if now > deadline or not running:
                logs = await self._engine.run(eng.last_logs, self._engine.client, self.container_name)
                raise InfraError(
                    f"the egress proxy did not serve sandbox {sandbox_id}; last log lines:\n{logs}"
                )
            await asyncio.sleep(0.005)

    async def release(self, sandbox_id: str) -> None:
        """Remove the box's rule and socket directory (idempotent)."""
        self._mine.discard(sandbox_id)
        self._injecting.pop(sandbox_id, None)
        await asyncio.to_thread(self._unregister, sandbox_id)

    async def refresh(self) -> None:
        """Resolve the secrets of this process's injecting boxes again; rewrite changed policies."""
        for sandbox_id, (rule, spec) in list(self._injecting.items()):
            try:
                table = await plan(spec, self._credentials)
                if sandbox_id in self._injecting:
                    await asyncio.to_thread(self._write_injections, rule, table)
            except Exception as e:  # the loop must go on for the other boxes (the old policy stays)
                code = e.code if isinstance(e, HangarError) else type(e).__name__
                log.warning("egress credentials not refreshed", sandbox_id=sandbox_id, error=code)

    async def _refresh_loop(self) -> None:
        while self._injecting:
            await asyncio.sleep(REFRESH_S)
            await self.refresh()

    async def stop(self) -> None:
        """Remove the proxy, its network and state when no process has a box on it any more."""
        if self._refresher is not None:
            self._refresher.cancel()
        async with self._lock:
            if self._container_id is None and not self.state_dir.exists():
                return
            await self._locked(self._stop_if_unused)
            self._container_id = None

    # --- internals (``_locked`` runs a step under the file lock of every process of the namespace)

    async def _locked(self, fn: Any, *args: Any) -> Any:
        acquiring = asyncio.ensure_future(asyncio.to_thread(_acquire, self._lock_path))
        try:
            lock = await asyncio.shield(acquiring)
        except asyncio.CancelledError:
            # The thread still takes the lock: release it then, or every later caller would wait.
            acquiring.add_done_callback(_release_when_taken)
            raise
        try:
            return await fn(*args)
        finally:
            await asyncio.to_thread(_release, lock)

    async def _ensure_and_register(self, rule: BoxRule, table: Plan | None) -> Path:
        await self._ensure(self._last_image)
        return await asyncio.to_thread(self._register, rule, table)

    async def _ensure(self, image: str) -> None:
        attrs = await self._inspect()
        if attrs is not None and eng.describe_exit(attrs) is None:
            self._check_adoptable(attrs)
            self._container_id = attrs["Id"]
            return
        started = time.monotonic()
        if attrs is not None:
            await self._engine.run(eng.remove_container, self._engine.client, attrs["Id"])
        await self._engine.run(ensure_network, self._engine.client, self.network, self.namespace, self._owner)
        await asyncio.to_thread(self._prepare_dirs)
        self._container_id = await self._engine.run(self._create, image)
        log.info("egress proxy started", namespace=self.namespace,
                 ms=round((time.monotonic() - started) * 1000))

    async def _inspect(self) -> dict[str, Any] | None:
        try:
            attrs: dict[str, Any] = await self._engine.run(
                self._engine.client.api.inspect_container, self.container_name
            )
        except NotFound:
            return None
        if not eng.owned_by(attrs.get("Config", {}).get("Labels"), self.namespace):
            raise InfraError(f"container {self.container_name} exists but is not Hangar's egress proxy")
        return attrs

    def _check_adoptable(self, attrs: dict[str, Any]) -> None:
        sources = {m.get("Destination"): m.get("Source") for m in attrs.get("Mounts") or []}
        source = sources.get(POLICY_MOUNT)
        if source is None or os.path.realpath(source) != os.path.realpath(self.policy_dir):
            raise InfraError(
                f"the egress proxy of namespace {self.namespace} serves another state directory "
                f"({source}); use one state directory per namespace"
            )

    async def _running(self) -> bool:
        try:
            attrs = await self._inspect()
        except HangarError:
            return False
        return attrs is not None and eng.describe_exit(attrs) is None

    async def _stop_if_unused(self) -> None:
        rules = await asyncio.to_thread(self._rule_ids)
        if rules - self._mine:
            log.info("egress proxy kept: other processes have boxes on it", namespace=self.namespace)
            return
        attrs = await self._inspect()
        if attrs is not None:
            await self._engine.run(eng.remove_container, self._engine.client, attrs["Id"])
        await self._engine.run(eng.remove_network, self._engine.client, self.network)
        await asyncio.to_thread(shutil.rmtree, self.state_dir, True)

    def _prepare_dirs(self) -> None:
        for path in (self.state_dir, self.policy_dir, self.boxes_dir):
            # Root's and read-only to everyone else: the proxy cannot swap a box's directory for a link.
            path.mkdir(mode=0o755, exist_ok=True)

    def _register(self, rule: BoxRule, table: Plan | None) -> Path:
        self._prepare_dirs()
        box_dir = self.boxes_dir / rule.sandbox_id
        shutil.rmtree(box_dir, ignore_errors=True)
        box_dir.mkdir(mode=0o755)
        _chown(box_dir, PROXY_UID)
        if table is None:
            write_rule(self.policy_dir, rule)
            return box_dir
        write_bundle(box_dir / BUNDLE_NAME, load_or_create_ca(self.state_dir / "ca", self.namespace))
        self._write_injections(rule, table)
        return box_dir

    def _write_injections(self, rule: BoxRule, table: Plan) -> None:
        """The rule with its injections, a leaf certificate per domain (kept across rewrites)."""
        if not (self.boxes_dir / rule.sandbox_id).is_dir():
            return  # released meanwhile: no policy may outlive its box
        ca = load_or_create_ca(self.state_dir / "ca", self.namespace)
        tls_dir = self.policy_dir / "tls" / rule.sandbox_id
        tls_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        injections = []
        for domain in table.domains:
            name = f"tls/{rule.sandbox_id}/{hashlib.sha256(domain.encode()).hexdigest()[:16]}.pem"
            if not (self.policy_dir / name).exists():
                _write_private(self.policy_dir / name, issue_leaf(ca, domain))
            injections.append(Injection(
                domain, tuple(table.headers.get(domain, ())), tuple(table.substitute.get(domain, ())), name,
            ))
        upstream_ca = ""
        if self._upstream_ca is not None:
            upstream_ca = "upstream-ca.pem"
            _write_public(self.policy_dir / upstream_ca, self._upstream_ca.read_bytes())
        full = dataclasses.replace(rule, inject=tuple(injections), upstream_ca=upstream_ca)
        write_rule(self.policy_dir, full, owner=PROXY_UID)

    def _unregister(self, sandbox_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.policy_dir / f"{sandbox_id}{POLICY_SUFFIX}").unlink()
        shutil.rmtree(self.boxes_dir / sandbox_id, ignore_errors=True)
        shutil.rmtree(self.policy_dir / "tls" / sandbox_id, ignore_errors=True)

    def _rule_ids(self) -> set[str]:
        if not self.policy_dir.is_dir():
            return set()
        return {p.name.removesuffix(POLICY_SUFFIX) for p in self.policy_dir.glob(f"*{POLICY_SUFFIX}")}

    def _create(self, image: str) -> str:
        client = self._engine.client
        kwargs = proxy_container_kwargs(
            image, namespace=self.namespace, name=self.container_name, state_dir=self.state_dir,
            network=self.network, runtime=self._runtime, init=self._init, owner=self._owner,
        )
        container_id: str = client.containers.create(**kwargs).id
        try:
            client.api.start(container_id)
        except BaseException:
            eng.remove_container(client, container_id)
            raise
        return container_id


def _chown(path: Path, uid: int) -> None:
    try:
        os.chown(path, uid, uid)
    except PermissionError:
        path.chmod(0o777)  # not root: let the proxy in (the box still mounts it read-only)


def _write_private(path: Path, data: bytes) -> None:
    """A file only the proxy's user reads (a leaf key); readable by all when not root."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        os.chown(tmp, PROXY_UID, PROXY_UID)
    except PermissionError:
        tmp.chmod(0o644)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def _acquire(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _release_when_taken(acquiring: asyncio.Future[int]) -> None:
    if not acquiring.cancelled() and acquiring.exception() is None:
        _release(acquiring.result())


def _release(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


