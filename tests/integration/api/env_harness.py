"""A Hangar server whose operator settings a test chooses, and test hosts its boxes may reach.

The server runs in a thread (uvicorn on loopback, FakeGemini behind the real SDK) like the shared
``hangar`` fixture, but with its own settings and namespace, and with a handle on its sandbox
provider. The test hosts are one web server container (``python3 -m http.server``) serving a folder
of the test, with a git repository in it (git's dumb HTTP protocol), joined to the provider's egress
network as ``allowed.test``, ``denied.test`` and ``repo.test``: only containers and networks the
test creates, no name resolved outside Docker, no packet aimed outside the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from api_harness import DEV_KEY, HangarServer, Script
from harness.sdk import agents_of

from runtime.api import create_app
from runtime.config import Settings
from runtime.llm.fake_server import FakeGemini
from runtime.sandbox.base import Sandbox, SandboxSpec
from runtime.service import Services
from runtime.store import Store

T = TypeVar("T")
TEST_HOSTS = ("allowed.test", "denied.test", "repo.test")


@dataclass
class Served:
    """A running server: its public handle, its services and the loop they live on."""

    server: HangarServer
    loop: asyncio.AbstractEventLoop
    app: Any

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        """Run ``coro`` on the server's loop (its provider and store live there)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


async def _other_key(settings: Settings) -> str:
    store = Store(settings.resolved_database_url)
    await store.open()
    try:
        return (await store.keys.create("other-project", "other"))[1]
    finally:
        await store.close()


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[Served]:
    """Start a server with ``settings`` (plus the fake model) and stop it on exit."""
    script = Script()
    other_key = asyncio.run(_other_key(settings))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        async with FakeGemini(script.respond) as fake:
            app = create_app(settings.model_copy(update={"gemini_base_url": fake.base_url}))
            config = uvicorn.Config(app, log_config=None, log_level="warning", timeout_graceful_shutdown=3)
            server = uvicorn.Server(config)
            holder.update(server=server, app=app, loop=asyncio.get_running_loop())
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no start-up event)
                await asyncio.sleep(0.01)
            ready.set()
            await task

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    if not ready.wait(60) or not holder["server"].started:
        sock.close()
        raise AssertionError("Hangar did not start (see the log above)")
    handle = HangarServer(url=f"http://127.0.0.1:{port}", dev_key=DEV_KEY, other_key=other_key, script=script)
    try:
        yield Served(server=handle, loop=holder["loop"], app=holder["app"])
    finally:
        holder["server"].should_exit = True
        thread.join(30)
        sock.close()


def make_repository(root: Path) -> Path:
    """A bare repository at ``root/repo.git`` served over dumb HTTP: branch ``main`` (README
    ``main``), tag ``v1`` (README ``v1``), branch ``feature`` (README ``feature``)."""
    work = root / "work"
    work.mkdir()

    def git(*args: str, cwd: Path = work) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    for label in ("v1", "feature", "main"):
        if label == "feature":
            git("checkout", "-q", "-b", "feature")
        elif label == "main":
            git("checkout", "-q", "main")
        (work / "README.md").write_text(f"{label}\n")
        git("add", "README.md")
        git("commit", "-q", "-m", label)
        if label == "v1":
            git("tag", "v1")
    bare = root / "repo.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    git("update-server-info", cwd=bare)
    (root / "hello.txt").write_text("hello from the test host\n")
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return bare


@dataclass
class WebHosts:
    container_id: str
    network: str
    keeper: Sandbox


def start_test_hosts(served: Served, docker_client: Any, image: str, folder: Path) -> WebHosts:
    """The web server container, on a network the test creates under :data:`TEST_HOSTS`, which
    the provider's egress proxy joins (as the outside world would be, behind its bridge).

    A keeper allowlist box is started first (and kept until :func:`stop_test_hosts`), so that the
    provider has started its egress proxy."""
    provider = served.services.environments.provider
    assert provider is not None
    keeper = served.call(provider.create(SandboxSpec(
        image=image, network="allowlist", allowed_domains=("allowed.test",), cpus=0.5, memory_mb=256,
    )))
    network = f"hangar-test-env-{secrets.token_hex(4)}"
    api = docker_client.api
    api.create_network(network, driver="bridge", check_duplicate=True, labels={"hangar.test": "env-hosts"})
    endpoint = api.create_endpoint_config(aliases=list(TEST_HOSTS))
    container_id = ""
    try:
        container_id = api.create_container(
            image, entrypoint=["python3", "-m", "http.server", "8000", "--directory", "/srv"],
            labels={"hangar.test": "env-hosts"},
            host_config=api.create_host_config(
                network_mode=network, binds={str(folder): {"bind": "/srv", "mode": "ro"}}, read_only=True,
                cap_drop=["ALL"],
            ),
            networking_config=api.create_networking_config({network: endpoint}),
        )["Id"]
        api.start(container_id)
        backend = getattr(provider, "inner", provider)  # the Docker provider under the warm paths
        api.connect_container_to_network(backend.egress.container_name, network)
        deadline = time.monotonic() + 20
        while b"Serving HTTP" not in api.logs(container_id):
            assert time.monotonic() < deadline, api.logs(container_id)
            time.sleep(0.05)
    except BaseException:
        _remove_test_hosts(served, docker_client, WebHosts(container_id, network, keeper))
        raise
    return WebHosts(container_id=container_id, network=network, keeper=keeper)


def stop_test_hosts(served: Served, docker_client: Any, hosts: WebHosts) -> None:
    _remove_test_hosts(served, docker_client, hosts)


def _remove_test_hosts(served: Served, docker_client: Any, hosts: WebHosts) -> None:
    api = docker_client.api
    provider = served.services.environments.provider
    with contextlib.suppress(Exception):
        backend = getattr(provider, "inner", provider)
        api.disconnect_container_from_network(backend.egress.container_name, hosts.network, force=True)
    if hosts.container_id:
        with contextlib.suppress(Exception):
            api.remove_container(hosts.container_id, force=True)
    with contextlib.suppress(Exception):
        api.remove_network(hosts.network)
    served.call(hosts.keeper.stop())


def settings_for(data_dir: Path, image: str, **changes: Any) -> Settings:
    return Settings(
        api_key=DEV_KEY, gemini_api_key="fake-gemini-key", data_dir=data_dir, poll_seconds=0.2,
        keepalive_seconds=0.5, sandbox_image=image,
        sandbox_namespace=f"test-env-{secrets.token_hex(3)}",
        egress_private_hosts=("allowed.test", "repo.test"),
        **changes,
    )


@contextlib.contextmanager
def serving(
    data_dir: Path, image: str, drop_volumes: Callable[[Path], None], **changes: Any
) -> Iterator[Served]:
    """:func:`serve` with :func:`settings_for` (plus ``changes``); the environments' volumes are
    dropped once the server has stopped (pass the session's ``drop_environment_volumes``)."""
    with serve(settings_for(data_dir, image, **changes)) as running:
        yield running
    drop_volumes(data_dir)


@contextlib.contextmanager
def web_hosts(served: Served, docker_client: Any, image: str, folder: Path) -> Iterator[WebHosts]:
    """:func:`start_test_hosts` serving ``folder`` with :func:`make_repository` in it, stopped on exit."""
    make_repository(folder)
    running = start_test_hosts(served, docker_client, image, folder)
    try:
        yield running
    finally:
        stop_test_hosts(served, docker_client, running)


@contextlib.contextmanager
def probe_agent(served: Served, agent_id: str) -> Iterator[str]:
    """An API agent on antigravity that requires no output file (a run can be one shell call),
    deleted on exit."""
    client = served.server.client()  # held until the end: a dropped client closes its connections
    agents_of(client).create(id=agent_id, base_agent="antigravity", extra_body={"outputs": []})
    try:
        yield agent_id
    finally:
        agents_of(client).delete(agent_id)
