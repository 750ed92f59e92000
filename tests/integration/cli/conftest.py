"""Environment of the CLI tests: a data dir and a sandbox namespace of their own, no model keys."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from cli_harness import DEV_KEY, Server, server_thread
from pydantic import SecretStr

from runtime.config import Settings
from runtime.sandbox.reaper import list_owned


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory: pytest.TempPathFactory, sandbox_image: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE", "HANGAR_"))}
    return env | {
        "HANGAR_DATA_DIR": str(tmp_path_factory.mktemp("hangar-cli")),
        "HANGAR_SANDBOX_IMAGE": sandbox_image,
        "COLUMNS": "200",
    }


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox_image: str,
    drop_environment_volumes: Callable[[Path], None],
) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("hangar-server")
    namespace = f"test-cli-{secrets.token_hex(3)}"
    settings = Settings(
        data_dir=data_dir,
        api_key=SecretStr(DEV_KEY),
        gemini_api_key=SecretStr("fake"),
        poll_seconds=0.2,
        keepalive_seconds=0.5,
        sandbox_namespace=namespace,
        sandbox_image=sandbox_image,
    )
    with server_thread(settings) as running:
        yield running
    drop_environment_volumes(data_dir)
    client = docker.from_env()
    left = list_owned(client, namespace, data_dir / "sandbox" / "sockets" / namespace)
    client.close()
    assert not left, f"the server left sandboxes behind: {left}"
