"""The Docker engine seen from an event loop: the SDK behind a bounded, named thread pool.

Everything here is either pure (the hardened container settings, reading an inspect result) or a
blocking SDK call that :meth:`Engine.run` moves off the loop. The docker SDK is imported lazily so
importing Hangar never needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import structlog

from runtime.errors import EngineUnavailable, ImageMissing, InfraError, NotFound
from runtime.sandbox.base import SandboxSpec

log = structlog.get_logger(__name__)

LABEL_MANAGED = "hangar.managed"
LABEL_NAMESPACE = "hangar.namespace"
LABEL_ID = "hangar.sandbox_id"
LABEL_SPEC = "hangar.spec_key"
LABEL_ROLE = "hangar.role"
"""``egress-proxy`` on the namespace's egress proxy, ``workspace`` on an environment's named
workspace volume (kept data: the reaper never takes it); absent on sandboxes."""
LABEL_OWNER = "hangar.owner"
"""The node (server process) that created the object; a live node reaps a dead owner's boxes."""
ROLE_WORKSPACE = "workspace"

SANDBOX_UID = 1000
HOME_DIR = "/home/agent"
WORKSPACE_DIR = "/workspace"
SOCKET_MOUNT = "/run/sandboxd"
EGRESS_MOUNT = "/run/egress"
"""A box's egress proxy socket directory (read-only; boxes with egress only)."""
TOKEN_FILE = "token"
"""In the socket directory: the box's token, which sandboxd reads and deletes before it listens."""
MB = 1024 * 1024

P = ParamSpec("P")
T = TypeVar("T")


def namespace_filter(namespace: str, **extra: str) -> dict[str, list[str]]:
    """A docker ``filters`` argument matching Hangar's objects of one namespace (labels are ANDed)."""
    labels = [f"{LABEL_MANAGED}=1", f"{LABEL_NAMESPACE}={namespace}"]
    labels += [f"{k}={v}" for k, v in extra.items()]
    return {"label": labels}


def owned_by(labels: dict[str, str] | None, namespace: str) -> bool:
    """Second check after the engine's filter: never act on another namespace's object."""
    labels = labels or {}
    return labels.get(LABEL_MANAGED) == "1" and labels.get(LABEL_NAMESPACE) == namespace


@contextlib.contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Map the docker SDK's and requests' exceptions to Hangar's tree."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.ImageNotFound as e:
        raise ImageMissing(
            f"{what}: image not found ({e.explanation}); run `make images` or `hangar images build`"
        ) from e
    except docker.errors.NotFound as e:
        raise NotFound(f"{what}: {e.explanation}") from e
    except docker.errors.APIError as e:
        raise InfraError(f"{what}: Docker engine error: {e.explanation or e}") from e
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as e:
        raise EngineUnavailable(f"{what}: Docker engine unavailable: {e}") from e


class Engine:
    """A docker client plus the thread pool its blocking calls run on."""

    def __init__(self, max_workers: int = 16) -> None:
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            raise InfraError("the Docker engine is not connected (call start() first)", retryable=False)
        return self._client

    async def connect(self) -> None:
        """Create the client and check the engine answers; raises ``EngineUnavailable``."""
        import docker

        self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix="hangar-docker")
        # One pooled HTTP connection per worker, so concurrent calls don't open throwaway ones.
        self._client = await self.run(docker.from_env, max_pool_size=self._max_workers)
        await self.run(self._client.ping)

    async def close(self) -> None:
        if self._client is not None:
            await self.run(self._client.close)
            self._client = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking SDK call on the engine's pool, with its errors mapped."""
        loop = asyncio.get_running_loop()
        name = getattr(fn, "__name__", "docker call")
        call = functools.partial(_mapped, name, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)


def _mapped(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with engine_errors(what):
        return fn(*args, **kwargs)


@dataclass(frozen=True)
class Placement:
    """Where one sandbox's resources live on the engine and the host."""

    sandbox_id: str
    namespace: str
    token: str
    socket_dir: Path
    workspace_volume: str
    network: str
    runtime: str | None
    init: bool
    entrypoint: list[str] | None = None
    """Replaces the image's entrypoint (sandboxd); for tests of start-up failures."""
    proxy_env: tuple[tuple[str, str], ...] = ()
    """``HTTP_PROXY`` and friends of a box with egress (empty otherwise)."""
    egress_dir: Path | None = None
    """Host directory of the box's egress proxy socket, mounted read-only (boxes with egress)."""
    owner: str | None = None
    """The ``hangar.owner`` label (the node id of the server process)."""
    daemon_env: tuple[tuple[str, str], ...] = ()
    """More variables for sandboxd (its TCP listener: :mod:`runtime.sandbox.tcp`)."""

    @property
    def container_name(self) -> str:
        return container_name(self.sandbox_id)


def container_name(sandbox_id: str) -> str:
    return f"hangar-{sandbox_id}"


def volume_name(sandbox_id: str) -> str:
    return f"hangar-ws-{sandbox_id}"


def hangar_labels(spec: SandboxSpec, where: Placement) -> dict[str, str]:
    # Hangar's labels win over the spec's: a spec cannot move a box to another namespace or owner.
    labels = {
        **{k: v for k, v in spec.labels if k != LABEL_OWNER},
        LABEL_MANAGED: "1",
        LABEL_NAMESPACE: where.namespace,
        LABEL_ID: where.sandbox_id,
        LABEL_SPEC: spec.key(),
    }
    return {**labels, **owner_label(where.owner)}


def owner_label(owner: str | None) -> dict[str, str]:
    return {LABEL_OWNER: owner} if owner else {}


def workspace_labels(namespace: str, owner: str | None) -> dict[str, str]:
    """Labels of an environment's named workspace volume: no sandbox id (it outlives its boxes)."""
    return {LABEL_MANAGED: "1", LABEL_NAMESPACE: namespace, LABEL_ROLE: ROLE_WORKSPACE, **owner_label(owner)}


def ensure_workspace_volume(client: Any, name: str, namespace: str, owner: str | None) -> None:
    """Create the named volume with Hangar's labels unless it exists (the engine's create is
    idempotent and keeps the first labels), so no workspace is ever made unlabelled on mount."""
    client.api.create_volume(name, labels=workspace_labels(namespace, owner))


def container_kwargs(spec: SandboxSpec, where: Placement) -> dict[str, Any]:
    """``containers.create`` arguments of a hardened box: non-root, no capabilities, read-only root,
    limits on pids/memory/CPU, no swap, no network (egress goes through the proxy's socket), no
    Docker socket."""
    from docker.types import Mount

    scratch = f"rw,exec,nosuid,nodev,size={spec.tmp_size_mb}m"
    mounts = [
        Mount(WORKSPACE_DIR, where.workspace_volume, type="volume", read_only=False),
        Mount(SOCKET_MOUNT, str(where.socket_dir), type="bind", read_only=False),
    ]
    if where.egress_dir is not None:
        mounts.append(Mount(EGRESS_MOUNT, str(where.egress_dir), type="bind", read_only=True))
    mounts += [Mount(m.target, m.source, type=m.type, read_only=m.read_only) for m in spec.mounts]
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "name": where.container_name,
        "hostname": "sandbox",
        "user": f"{SANDBOX_UID}:{SANDBOX_UID}",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": spec.pids_limit,
        "mem_limit": spec.memory_mb * MB,
        "memswap_limit": spec.memory_mb * MB,
        "nano_cpus": int(spec.cpus * 1e9),
        "read_only": True,
        "tmpfs": {
            "/tmp": f"{scratch},mode=1777",
            HOME_DIR: f"{scratch},mode=0700,uid={SANDBOX_UID},gid={SANDBOX_UID}",
        },
        "shm_size": spec.shm_size_mb * MB,
        "mounts": mounts,
        "network_mode": where.network,
        "init": where.init,
        "labels": hangar_labels(spec, where),
        "environment": {
            **dict(spec.env), **dict(where.proxy_env), **dict(where.daemon_env),
            "SANDBOXD_TOKEN_FILE": f"{SOCKET_MOUNT}/{TOKEN_FILE}",
        },
    }
    if where.runtime:
        kwargs["runtime"] = where.runtime
    if where.entrypoint is not None:
        kwargs["entrypoint"] = where.entrypoint
    return kwargs


def make_owned_dir(path: Path) -> None:
    """A new directory only the box's user can enter (the host, as root, still can)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=False)
    try:
        os.chown(path, SANDBOX_UID, SANDBOX_UID)
    except PermissionError:
        # Not root: the box's uid cannot own it, so let it in (a token or the policy still guards).
        if os.getuid() != SANDBOX_UID:
            path.chmod(0o777)


def write_token_file(socket_dir: Path, token: str) -> None:
    """The token file in a fresh socket directory, readable by the box's user only."""
    path = socket_dir / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, token.encode())
        try:
            os.fchown(fd, SANDBOX_UID, SANDBOX_UID)
        except PermissionError:
            if os.getuid() != SANDBOX_UID:
                os.fchmod(fd, 0o644)  # not root: like the directory, let the box's user in
    finally:
        os.close(fd)


def describe_exit(attrs: dict[str, Any], memory_mb: int | None = None) -> str | None:
    """Why an inspected container is no longer usable, or ``None`` while it runs (or is paused)."""
    state = attrs.get("State") or {}
    status = state.get("Status", "unknown")
    if state.get("OOMKilled"):
        limit = f" (limit {memory_mb} MB)" if memory_mb else ""
        return f"killed: out of memory{limit}"
    if status in ("exited", "dead"):
        error = f": {state['Error']}" if state.get("Error") else ""
        return f"exited with code {state.get('ExitCode')}{error}"
    if status in ("running", "paused", "restarting"):
        return None
    return f"not running (state {status})"


def last_logs(client: Any, container_id: str, lines: int = 20) -> str:
    """The container's last log lines (stdout and stderr), never raising."""
    try:
        raw = client.api.logs(container_id, stdout=True, stderr=True, tail=lines)
    except Exception as e:  # diagnostics must not hide the original failure
        return f"(logs unavailable: {e})"
    text = raw.decode(errors="replace").rstrip() if isinstance(raw, bytes) else str(raw)
    return text or "(no output)"


def remove_container(client: Any, container_id: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_container(container_id, force=True)


def remove_volume(client: Any, name: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_volume(name, force=True)


def remove_volume_holders(
    client: Any, name: str, namespace: str, spare: frozenset[str] = frozenset()
) -> None:
    """Remove the namespace's containers that mount the named volume (never another namespace's),
    but not those whose owner is in ``spare`` (live other nodes: their boxes are in use)."""
    filters = {**namespace_filter(namespace), "volume": [name]}
    for row in client.api.containers(all=True, filters=filters):
        labels = row.get("Labels") or {}
        if owned_by(labels, namespace) and labels.get(LABEL_OWNER) not in spare:
            remove_container(client, row["Id"])


def volume_exists(client: Any, name: str) -> bool:
    import docker.errors

    try:
        client.api.inspect_volume(name)
    except docker.errors.NotFound:
        return False
    return True


def remove_network(client: Any, name: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_network(name)


class EventWatcher:
    """Follows the engine's ``oom`` and ``die`` events for one namespace on a dedicated thread and
    hands them to the loop. OOM kills of a process inside a live box show up only here."""

    def __init__(self, client: Any, namespace: str, on_event: Callable[[str, str], None]) -> None:
        self._client = client
        self._namespace = namespace
        self._on_event = on_event
        self._stream: Any = None
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._thread = threading.Thread(target=self._follow, args=(loop,), name="hangar-docker-events")
        self._thread.daemon = True
        self._thread.start()

    def _follow(self, loop: asyncio.AbstractEventLoop) -> None:
        filters = {**namespace_filter(self._namespace), "type": ["container"], "event": ["oom", "die"]}
        try:
            self._stream = self._client.events(decode=True, filters=filters)
            if self._closed.is_set():
                self._stream.close()
                return
            for event in self._stream:
                sandbox_id = (event.get("Actor", {}).get("Attributes") or {}).get(LABEL_ID)
                action = str(event.get("Action") or event.get("status") or "")
                if sandbox_id:
                    loop.call_soon_threadsafe(self._on_event, sandbox_id, action)
        except Exception as e:
            if not self._closed.is_set():
                log.warning("docker event stream ended", error=str(e))

    async def stop(self) -> None:
        self._closed.set()
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 2.0)
