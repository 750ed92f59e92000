"""A real ``hangar serve`` process on loopback (fake Gemini in a thread behind it, agents in real
Docker boxes) for Google's JavaScript SDK, and the Node tool chain that drives it (``make test``
installs Node and ``npm ci``s this folder; a missing piece is an error here, never a skip)."""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from api_harness import Script
from server_process import ServerProcess, fake_gemini

from runtime.sandbox.images import ensure_image

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        raise AssertionError("node is not installed: `make test` installs it (Debian's nodejs)")
    if not (HERE / "node_modules" / "@google" / "genai" / "package.json").is_file():
        raise AssertionError(f"@google/genai is not installed: run `npm ci` in {HERE} (`make test` does)")
    return path


@pytest.fixture(scope="session")
def js_server(
    tmp_path_factory: pytest.TempPathFactory, drop_environment_volumes: Callable[[Path], None]
) -> Iterator[tuple[ServerProcess, Script]]:
    client = docker.from_env()
    try:
        image = ensure_image(client, log=lambda _line: None)
    finally:
        client.close()
    data_dir = tmp_path_factory.mktemp("hangar-js")
    script = Script()
    with fake_gemini(script.respond) as fake:
        env = {
            "HANGAR_POLL_SECONDS": "0.2",
            "HANGAR_KEEPALIVE_SECONDS": "0.5",
            "HANGAR_SANDBOX_IMAGE": image,
            "HANGAR_SANDBOX_NAMESPACE": f"test-js-{secrets.token_hex(3)}",
        }
        server = ServerProcess(data_dir, fake.base_url, env=env)
        server.start()
        try:
            yield server, script
        finally:
            server.stop()
            drop_environment_volumes(data_dir)

