"""Fixtures of the file and disk attacks: a real server with small limits, a CLI environment."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import uvicorn
from files_harness import (
    DEV_KEY,
    MAX_EXTRACT_BYTES,
    MAX_EXTRACT_ENTRIES,
    QUOTA_BYTES,
    QUOTA_ENTRIES,
    FilesServer,
    Script,
)

from runtime.api import create_app
from runtime.config import Settings
from runtime.llm.fake_server import FakeGemini
from runtime.sandbox.reaper import list_owned

LIMITS = {
    "max_extract_bytes": MAX_EXTRACT_BYTES,
    "max_extract_entries": MAX_EXTRACT_ENTRIES,
    "workspace_quota_bytes": QUOTA_BYTES,
    "workspace_quota_entries": QUOTA_ENTRIES,
    "workspace_quota_check_seconds": 1.0,
}


@pytest.fixture(scope="session")
def files_server(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox_image: str,
    drop_environment_volumes: Callable[[Path], None],
) -> Iterator[FilesServer]:
    data_dir = tmp_path_factory.mktemp("hangar-files")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = Settings(
        data_dir=data_dir, api_key=DEV_KEY, gemini_api_key="fake-gemini-key", poll_seconds=0.2,
        sandbox_namespace=f"tsf-{secrets.token_hex(3)}", sandbox_image=sandbox_image,
        port=port, public_url=f"http://127.0.0.1:{port}", **LIMITS,
    )
    script = Script()
    ready = threading.Event()
    holder: dict[str, uvicorn.Server] = {}

    async def main() -> None:
        async with FakeGemini(script.respond) as fake:
            app = create_app(settings.model_copy(update={"gemini_base_url": fake.base_url}))
            server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning"))
            holder["server"] = server
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no start-up event)
                await asyncio.sleep(0.01)
            ready.set()
            await task

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30) and holder["server"].started, "Hangar did not start"
    yield FilesServer(url=f"http://127.0.0.1:{port}", script=script)
    holder["server"].should_exit = True
    thread.join(30)
    sock.close()
    drop_environment_volumes(data_dir)


@pytest.fixture(scope="session")
def run_env(tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> Iterator[dict[str, str]]:
    """Environment of a ``hangar run`` subprocess: its own data dir and namespace, no model keys."""
    namespace = f"tsr-{secrets.token_hex(3)}"
    data_dir = tmp_path_factory.mktemp("hangar-run")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE", "HANGAR_"))}
    env |= {
        "HANGAR_DATA_DIR": str(data_dir), "HANGAR_SANDBOX_NAMESPACE": namespace,
        "HANGAR_SANDBOX_IMAGE": sandbox_image, "COLUMNS": "200",
    }
    yield env
    cli_namespace = f"{namespace}-cli"
    client = docker.from_env()
    try:
        left = list_owned(client, cli_namespace, data_dir / "sandbox" / "sockets" / cli_namespace)
    finally:
        client.close()
    assert not left, f"hangar run left resources behind: {left}"
