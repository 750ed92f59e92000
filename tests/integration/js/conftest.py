"""A real ``hangar serve`` process on loopback (fake Gemini in a thread behind it, agents in real
Docker boxes) for Google's JavaScript SDK, and the Node tool chain that drives it (``make test``
installs Node and ``npm ci``s this folder; a missing piece is an error here, never a skip)."""

from __future__ import annotations

import json
import secrets
import subprocess
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
    """The Node the SDK asks for (its ``engines`` field says >= 22): npm's per-platform package, pinned
    in package-lock.json, rather than whatever Node the host has."""
    path = HERE / "node_modules" / ".bin" / "node"
    if not path.exists():
        raise AssertionError(f"Node 22 is not installed: run `npm ci` in {HERE} (`make test` does)")
    sdk = HERE / "node_modules" / "@google" / "genai" / "package.json"
    if not sdk.is_file():
        raise AssertionError(f"@google/genai is not installed: run `npm ci` in {HERE} (`make test` does)")
    wanted = json.loads(sdk.read_text())["engines"]["node"]
    version = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True).stdout
    major = int(version.strip().lstrip("v").split(".")[0])
    assert wanted == ">=22.0.0" and major >= 22, f"the SDK wants node {wanted}, got {version}"
    return str(path)


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

