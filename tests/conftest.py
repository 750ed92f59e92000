"""Test-wide rules: real model calls are impossible (API keys cleared), structlog quiet; the Docker
client and the sandbox image every tier that runs boxes shares."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from runtime.sandbox.images import ensure_image


@pytest.fixture(autouse=True)
def _no_real_model_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)


def remove_environment_volumes(data_dir: Path) -> None:
    """Remove the workspace volumes of the environments a test server recorded in ``data_dir``
    (environments outlive their interactions by design, so a server never removes them itself)."""
    db = data_dir / "hangar.db"
    if not db.exists():
        return
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            volumes = [row[0] for row in conn.execute("SELECT volume FROM environments")]
        except sqlite3.OperationalError:
            return
    client = docker.from_env()
    try:
        for name in volumes:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.volumes.get(name).remove(force=True)
    finally:
        client.close()


@pytest.fixture(scope="session")
def drop_environment_volumes() -> Callable[[Path], None]:
    """For fixtures that run a Hangar server: call with its data dir when the server has stopped."""
    return remove_environment_volumes


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """One client to the engine for the whole session (asked for only by tests that need Docker)."""
    try:
        client = docker.from_env()
    except docker.errors.DockerException as e:
        pytest.fail(f"no Docker engine ({e}); run `make engine`")
    yield client
    client.close()


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The sandbox image of this tree's content (built when missing). Its own client: test modules
    may narrow ``docker_client`` to their own scope."""
    client = docker.from_env()
    try:
        return ensure_image(client, log=lambda _line: None)
    finally:
        client.close()
