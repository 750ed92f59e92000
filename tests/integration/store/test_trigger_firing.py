"""Two real ``hangar serve`` processes on one real PostgreSQL database: every due trigger tick is
fired exactly once, and after downtime only one missed tick is caught up."""

from __future__ import annotations

import asyncio
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_cluster import Cluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from server_process import ServerProcess, fake_gemini

from runtime.store import Store
from runtime.store.triggers import TriggerRepo

TRIGGERS = 6
MISSED = 5 * 60.0  # the database says each trigger's tick was due five minutes ago


@pytest.fixture
def database(pg_cluster: Cluster) -> str:
    return pg_cluster.url(asyncio.run(pg_cluster.create_database()))


@pytest.fixture
def servers(database: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    env = {
        "HANGAR_DATABASE_URL": database,
        "HANGAR_SANDBOXES": "false",  # runs then fail at once: what counts here is who starts them
        "HANGAR_POLL_SECONDS": "0.2",
        "HANGAR_TRIGGER_POLL_SECONDS": "0.1",
    }
    with fake_gemini([]) as fake:
        started: list[ServerProcess] = []
        try:
            for name in ("a", "b"):  # one after the other: the first one migrates the database
                (tmp_path / name).mkdir()
                server = ServerProcess(tmp_path / name, fake.base_url, env=env)
                server.start()
                started.append(server)
            yield started
        finally:
            for server in started:
                server.stop()


async def _backdate(database: str, trigger_ids: list[str], when: float) -> None:
    store = Store(database)
    await store.open()
    try:
        repo = TriggerRepo(store.engine)
        for trigger_id in trigger_ids:
            record = await repo.by_id(trigger_id)
            assert record is not None
            await repo.update(record.project_id, trigger_id, {"next_run_time": when})
    finally:
        await store.close()


def test_each_tick_fires_once_across_two_processes(servers: list[ServerProcess], database: str) -> None:
    client_a, client_b = (server.client() for server in servers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        triggers_a, triggers_b = client_a.triggers, client_b.triggers
    ids = []
    for n in range(TRIGGERS):  # paused at once, so nothing fires before the race is set up
        trigger = triggers_a.create(
            interaction={"agent": "antigravity", "input": f"job {n}"}, schedule="*/10 * * * *",
            time_zone="UTC",
        )
        ids.append(trigger.id)
        triggers_a.update(trigger.id, status="paused")
    for trigger_id in ids:
        assert triggers_b.update(trigger_id, status="active").status == "active"
    missed = float(int(time.time() - MISSED))  # whole seconds: the API prints times to the second
    asyncio.run(_backdate(database, ids, missed))  # both processes now see every tick as due

    deadline = time.monotonic() + 30
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        pending = {i for i in pending if not triggers_b.list_executions(i).trigger_executions}
        time.sleep(0.2)
    assert not pending, f"triggers never fired: {pending}"
    time.sleep(2)  # time for a duplicate to show up, if the other process fired the tick as well
    for trigger_id in ids:
        executions = triggers_a.list_executions(trigger_id).trigger_executions or []
        assert len(executions) == 1, f"{trigger_id} fired {len(executions)} times: {executions}"
        (execution,) = executions
        assert abs(execution.scheduled_time.timestamp() - missed) < 0.01  # the missed tick, once
        assert execution.interaction_id
        trigger = triggers_b.get(trigger_id)
        assert trigger.next_run_time.timestamp() > time.time()  # the other missed ticks are dropped
        assert trigger.previous_interaction_id == execution.interaction_id
