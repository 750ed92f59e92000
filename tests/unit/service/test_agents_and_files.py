"""AgentService and AgentCatalog over a real SQLite store; path and paging helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.agents import AgentRegistry, AgentSpecError, default_agents_dir
from runtime.errors import InputError, NotFound
from runtime.service.agents import AgentCatalog, AgentService
from runtime.service.environment_files import workspace_path
from runtime.service.paging import page_of
from runtime.store import Store


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[AgentCatalog]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    await store.open()
    await store.keys.ensure_project("p2")
    try:
        yield AgentCatalog(store, AgentRegistry.from_folder(default_agents_dir()))
    finally:
        await store.close()


async def test_api_agents_inherit_and_stay_in_their_project(catalog: AgentCatalog) -> None:
    service = AgentService(catalog)
    with pytest.raises(InputError, match="unknown"):  # accepted means applied: not dropped
        await service.create("default", {"id": "base-x", "base_agent": "antigravity", "unknown": 1})
    await service.create("default", {"id": "base-x", "base_agent": "antigravity"})
    await service.create("default", {"id": "child-x", "base_agent": "base-x", "system_instruction": "s"})
    spec = await catalog.resolve("default", "child-x")
    assert spec.system_instruction == "s" and spec.limits.max_steps == 300  # inherited
    with pytest.raises(NotFound):
        await catalog.resolve("p2", "child-x")
    with pytest.raises(AgentSpecError):
        await service.create("p2", {"id": "child-y", "base_agent": "base-x"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"id": "a", "skills": ["/etc"]}, "skills"),
        ({"id": "a", "sandbox": {"image": "evil"}}, "sandbox"),
        ({"id": "Bad Id"}, "id"),
        ({}, "id"),
        ({"id": "antigravity-preview-9"}, "shipped"),
    ],
)
async def test_invalid_agents_are_refused(
    catalog: AgentCatalog, body: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        await AgentService(catalog).create("default", body)


async def test_shipped_agents_are_read_only(catalog: AgentCatalog) -> None:
    with pytest.raises(InputError, match="read-only"):
        await AgentService(catalog).delete("default", "antigravity")
    with pytest.raises(NotFound):
        await AgentService(catalog).delete("default", "nope")


@pytest.mark.parametrize(
    ("path", "expected"),
    [("", "."), ("/", "."), ("workspace", "."), ("/workspace/a/b.txt", "a/b.txt"), ("a.txt", "a.txt"),
     ("workspaces/x", "workspaces/x"), ("../x", "../x")],
)
def test_workspace_path(path: str, expected: str) -> None:
    assert workspace_path(path) == expected


def test_paging() -> None:
    first = page_of(list(range(5)), 2, None)
    assert first.items == [0, 1] and first.next_page_token == "2"
    last = page_of(list(range(5)), 2, "4")
    assert last.items == [4] and last.next_page_token == ""
    with pytest.raises(InputError):
        page_of([], 2, "garbage")
