"""Real boxes and a real Hangar server for the daemon-boundary attacks.

Box-level tests get a Docker provider in a namespace of their own; API-level tests get a real
server (uvicorn in a thread of this process, so this process's memory is the server's memory) with
the scripted fake model, and a short file-box idle window so a later file call starts a new box.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration" / "api"))

from api_harness import DEV_KEY, HangarServer, Script
from daemon_attacks import API_NAMESPACE, FILE_BOX_IDLE_S

from runtime.api import create_app
from runtime.config import Settings
from runtime.llm.fake_server import FakeGemini
from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.docker import DockerProvider, DockerProviderConfig
from runtime.sandbox.reaper import list_owned


@pytest.fixture(scope="session")
async def provider(
    sandbox_image: str, tmp_path_factory: pytest.TempPathFactory, docker_client: Any
) -> AsyncIterator[DockerProvider]:
    namespace = f"test-sec-{secrets.token_hex(3)}"
    config = DockerProviderConfig(
        state_dir=tmp_path_factory.mktemp("hangar"), namespace=namespace, watchdog_interval_s=0.25,
        reap_interval_s=None,
    )
    async with DockerProvider(config) as p:
        yield p
    left = list_owned(docker_client, namespace, p.sockets_dir)
    assert not left, f"namespace {namespace} left resources behind: {left}"


@pytest.fixture(scope="session")
def spec(sandbox_image: str) -> SandboxSpec:
    return SandboxSpec(image=sandbox_image, memory_mb=512, cpus=1.0, tmp_size_mb=64)


@pytest.fixture
def volume(docker_client: Any) -> Iterator[str]:
    """A workspace volume that outlives single boxes (an environment's, in effect)."""
    name = f"hangar-test-sec-{secrets.token_hex(4)}"
    docker_client.volumes.create(name)
    yield name
    docker_client.volumes.get(name).remove(force=True)


@pytest.fixture(scope="session")
def hangar(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str,
    drop_environment_volumes: Callable[[Path], None],
) -> Iterator[HangarServer]:
    data_dir: Path = tmp_path_factory.mktemp("hangar-api")
    script = Script()
    settings = Settings(
        data_dir=data_dir, api_key=DEV_KEY, gemini_api_key="fake-gemini-key", poll_seconds=0.2,
        keepalive_seconds=0.5, sandbox_namespace=API_NAMESPACE,
        sandbox_image=sandbox_image, file_box_idle_seconds=FILE_BOX_IDLE_S,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = threading.Event()
    holder: dict[str, uvicorn.Server] = {}

    async def main() -> None:
        async with FakeGemini(script.respond) as fake:
            app = create_app(settings.model_copy(update={"gemini_base_url": fake.base_url}))
            server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning",
                                                   timeout_graceful_shutdown=3))
            holder["server"] = server
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no start-up event)
                await asyncio.sleep(0.01)
            ready.set()
            await task

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30), "Hangar did not start"
    assert holder["server"].started, "Hangar failed to start"
    yield HangarServer(url=f"http://127.0.0.1:{port}", dev_key=DEV_KEY, other_key="", script=script)
    holder["server"].should_exit = True
    thread.join(20)
    sock.close()
    drop_environment_volumes(data_dir)
