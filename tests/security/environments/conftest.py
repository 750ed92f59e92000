"""Attacks on what a tenant may ask of an environment, against a real server with real boxes.

The server harness lives with the API integration tests (``tests/integration/api/env_harness.py``);
its folder is put on ``sys.path`` here, as pytest does for the folders of the tests themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

API_TESTS = Path(__file__).resolve().parents[2] / "integration" / "api"
if str(API_TESTS) not in sys.path:
    sys.path.insert(0, str(API_TESTS))

from env_harness import (  # noqa: E402
    Served,
    WebHosts,
    make_repository,
    serve,
    settings_for,
    start_test_hosts,
    stop_test_hosts,
)

from runtime.sandbox.images import ensure_image  # noqa: E402


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    client = docker.from_env()
    try:
        return ensure_image(client, log=lambda _line: None)
    finally:
        client.close()


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str, drop_environment_volumes: Any
) -> Iterator[Served]:
    """A server whose operator allows ``allowed.test`` and ``repo.test`` (not ``denied.test``) to
    resolve to private addresses, and does not allow open egress."""
    data_dir = tmp_path_factory.mktemp("hangar-sec-envs")
    with serve(settings_for(data_dir, sandbox_image)) as running:
        yield running
    drop_environment_volumes(data_dir)


@pytest.fixture(scope="module")
def hosts(
    served: Served, docker_client: Any, sandbox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebHosts]:
    folder = tmp_path_factory.mktemp("www-sec")
    make_repository(folder)
    running = start_test_hosts(served, docker_client, sandbox_image, folder)
    yield running
    stop_test_hosts(served, docker_client, running)
