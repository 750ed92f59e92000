"""The store tests run on every backend: a SQLite file and a throwaway PostgreSQL cluster (one per
session, a fresh database per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pg_cluster import Cluster, Unavailable, running_cluster

from runtime.store import Store


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    try:
        with running_cluster() as cluster:
            yield cluster
    except Unavailable as e:
        pytest.fail(f"PostgreSQL unavailable: {e} (the fixture installs and starts it; see pg_cluster.py)")


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'hangar.db'}"
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.url(await cluster.create_database())


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    store = Store(store_url)
    await store.open()
    yield store
    await store.close()
