"""A real Hangar server (uvicorn, loopback, free port, tmp data dir) in a background thread, with
the model replaced by the scripted ``FakeGemini``. Tests drive it with the real google-genai client."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from api_harness import DEV_KEY, HangarServer, Script

from runtime.api import create_app
from runtime.config import Settings
from runtime.llm.fake_server import FakeGemini
from runtime.store import Store


async def _make_other_key(settings: Settings) -> str:
    store = Store(settings.resolved_database_url)
    await store.open()
    try:
        _, plaintext = await store.keys.create("other-project", "other")
        return plaintext
    finally:
        await store.close()


@pytest.fixture(scope="session")
def hangar(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox_image: str,
    drop_environment_volumes: Callable[[Path], None],
) -> Iterator[HangarServer]:
    data_dir: Path = tmp_path_factory.mktemp("hangar")
    script = Script()
    settings = Settings(
        data_dir=data_dir,
        api_key=DEV_KEY,
        gemini_api_key="fake-gemini-key",
        poll_seconds=0.2,
        keepalive_seconds=0.5,
        max_request_bytes=64 * 1024,
        sandbox_namespace=f"test-api-{secrets.token_hex(3)}",
        sandbox_image=sandbox_image,
        webhook_retry_seconds=0.05,
        outbound_allow_hosts=("127.0.0.1",),  # the tests' webhook receivers and MCP servers
    )
    other_key = asyncio.run(_make_other_key(settings))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = threading.Event()
    holder: dict[str, uvicorn.Server] = {}

    async def main() -> None:
        async with FakeGemini(script.respond) as fake:
            script.paths = fake.paths  # the model each call named (research versions test)
            app = create_app(settings.model_copy(update={"gemini_base_url": fake.base_url}))
            config = uvicorn.Config(app, log_config=None, log_level="warning", timeout_graceful_shutdown=3)
            server = uvicorn.Server(config)
            holder["server"] = server
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no start-up event)
                await asyncio.sleep(0.01)
            ready.set()
            await task

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(20), "Hangar did not start"
    assert holder["server"].started, "Hangar failed to start"
    yield HangarServer(url=f"http://127.0.0.1:{port}", dev_key=DEV_KEY, other_key=other_key, script=script)
    holder["server"].should_exit = True
    thread.join(20)
    sock.close()
    drop_environment_volumes(data_dir)
