"""``hangar run`` end to end: the real CLI in a subprocess, the real google-genai client inside it
pointed at FakeGemini on loopback, and real Docker sandboxes in a namespace of the test's own."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import docker
import pytest

from runtime.sandbox.images import ensure_image
from runtime.sandbox.reaper import list_owned


@pytest.fixture(scope="session")
def run_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    client = docker.from_env()
    image = ensure_image(client, log=lambda _line: None)
    namespace = f"test-run-{secrets.token_hex(3)}"
    data_dir = tmp_path_factory.mktemp("hangar-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE"))}
    env |= {
        "HANGAR_DATA_DIR": str(data_dir),
        "HANGAR_SANDBOX_NAMESPACE": namespace,
        "HANGAR_SANDBOX_IMAGE": image,
        "COLUMNS": "200",
    }
    yield env
    cli_namespace = f"{namespace}-cli"  # where one-off commands put their boxes
    left = list_owned(client, cli_namespace, data_dir / "sandbox" / "sockets" / cli_namespace)
    client.close()
    assert not left, f"hangar run left resources behind: {left}"
