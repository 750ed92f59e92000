"""Several real ``hangar serve`` processes on one real PostgreSQL (the store tests' throwaway
cluster), each with a data dir of its own, the model replaced by the fake Gemini."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
for harness in ("api", "store"):  # server_process.py and pg_cluster.py
    sys.path.insert(0, str(HERE.parent / harness))

from fleet_harness import Fleet  # noqa: E402
from pg_cluster import Cluster, Unavailable, running_cluster  # noqa: E402


@pytest.fixture(scope="session")
def fleet_pg() -> Iterator[Cluster]:
    try:
        with running_cluster() as cluster:
            yield cluster
    except Unavailable as e:
        pytest.fail(f"PostgreSQL unavailable: {e} (see tests/integration/store/pg_cluster.py)")


@pytest.fixture
def fleet(fleet_pg: Cluster, drop_environment_volumes: Callable[[Path], None]) -> Iterator[Fleet]:
    """A fresh database; servers are added with :meth:`Fleet.add` and stopped at the end."""
    url = fleet_pg.url(asyncio.run(fleet_pg.create_database()))
    fleet = Fleet(url)
    try:
        yield fleet
    finally:
        fleet.close(drop_environment_volumes)
