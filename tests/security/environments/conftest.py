"""Attacks on what a tenant may ask of an environment, against a real server with real boxes.

The server harness lives with the API integration tests (``tests/integration/api/env_harness.py``);
its folder is put on ``sys.path`` here, as pytest does for the folders of the tests themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

API_TESTS = Path(__file__).resolve().parents[2] / "integration" / "api"
if str(API_TESTS) not in sys.path:
    sys.path.insert(0, str(API_TESTS))

from env_harness import Served, WebHosts, serving, web_hosts  # noqa: E402


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str, drop_environment_volumes: Any
) -> Iterator[Served]:
    """A server whose operator allows ``allowed.test`` and ``repo.test`` (not ``denied.test``) to
    resolve to private addresses, and does not allow open egress."""
    data_dir = tmp_path_factory.mktemp("hangar-sec-envs")
    with serving(data_dir, sandbox_image, drop_environment_volumes) as running:
        yield running


@pytest.fixture(scope="module")
def hosts(
    served: Served, docker_client: Any, sandbox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebHosts]:
    with web_hosts(served, docker_client, sandbox_image, tmp_path_factory.mktemp("www-sec")) as running:
        yield running
