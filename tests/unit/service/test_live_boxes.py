"""The live box limit's accounting (HANGAR_PROJECT_MAX_LIVE_BOXES) with fakes of the store and
the pools: what is counted once, and what is never stopped to make room."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.errors import QuotaExceeded
from runtime.sandbox.base import SandboxSpec
from runtime.service.file_boxes import FileBoxes
from runtime.service.live_boxes import LiveBoxes
from runtime.worker.agent_runner import workspace_volume


class _Environments:
    def __init__(self, running: dict[str, int]) -> None:
        self.running = running  # environment id -> its runs in progress

    async def projects_of(self, volumes: list[str]) -> dict[str, tuple[str, str]]:
        of = {workspace_volume(e): e for e in ("env_a", "env_b", "env_c")}
        return {v: ("p", of.get(v, f"env_{v}")) for v in volumes}

    async def running_interactions(self, environment_id: str) -> int:
        return self.running.get(environment_id, 0)

    async def agent_runs_in_progress(self, project_id: str) -> int:
        return sum(self.running.values())


class _Store:
    def __init__(self, running: dict[str, int]) -> None:
        self.environments = _Environments(running)


class _Warm:
    def __init__(self, kept: list[str]) -> None:
        self.kept = list(kept)
        self.discarded: list[str] = []

    def kept_volumes(self) -> list[str]:
        return list(self.kept)

    async def discard(self, volume: str) -> None:
        self.kept.remove(volume)
        self.discarded.append(volume)


class _NoFiles:
    def volumes(self) -> list[str]:
        return []

    def idle(self, volumes: list[str]) -> list[str]:
        return []


def _live(running: dict[str, int], warm: _Warm, limit: int) -> LiveBoxes:
    files: FileBoxes = _NoFiles()  # type: ignore[assignment]
    return LiveBoxes(_Store(running), limit, warm=warm, files=files)  # type: ignore[arg-type]


async def test_a_follow_ups_kept_box_is_counted_once_and_not_stopped_for_another_run() -> None:
    # env_a's follow-up is in progress (queued: its worker has not taken env_a's kept box yet).
    warm = _Warm([workspace_volume("env_a")])
    others = await _live({"env_a": 1}, warm, limit=2).for_run("p", "env_b")
    assert warm.discarded == []  # 1 run + the new one = 2 <= 2: nothing to stop
    assert others == 0  # the kept box is the follow-up's, already counted as a run


async def test_an_idle_kept_box_still_gives_way_to_a_new_run() -> None:
    warm = _Warm([workspace_volume("env_a"), workspace_volume("env_c")])
    await _live({"env_a": 1}, warm, limit=2).for_run("p", "env_b")
    assert warm.discarded == [workspace_volume("env_c")]


class _Box:
    id = "box"
    state = None

    def __init__(self) -> None:
        self.stopped = False

    def expired(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True


class _Provider:
    def __init__(self) -> None:
        self.made: list[_Box] = []

    async def create(self, spec: SandboxSpec) -> _Box:
        await asyncio.sleep(0.02)  # an engine call: other requests run meanwhile
        self.made.append(_Box())
        return self.made[-1]


def _file_boxes(limit: int, warm: Any = None) -> tuple[FileBoxes, LiveBoxes, _Provider]:
    provider = _Provider()
    files = FileBoxes(provider, SandboxSpec(), idle_seconds=60)  # type: ignore[arg-type]
    live = LiveBoxes(_Store({}), limit, warm=warm, files=files)  # type: ignore[arg-type]
    files.admit = live.admitting
    return files, live, provider


async def test_parallel_file_boxes_cannot_pass_the_limit_together() -> None:
    files, _, provider = _file_boxes(limit=1)

    async def use(volume: str) -> None:
        async with files.open(volume):
            await asyncio.sleep(0.05)

    results = await asyncio.gather(*(use(f"vol{i}") for i in range(5)), return_exceptions=True)
    assert len(provider.made) == 1
    assert sum(isinstance(r, QuotaExceeded) for r in results) == 4


class _SlowWarm(_Warm):
    def __init__(self, kept: list[str]) -> None:
        super().__init__(kept)
        self.discarding = asyncio.Event()

    async def discard(self, volume: str) -> None:
        self.discarding.set()
        await asyncio.sleep(0.05)  # stopping a container takes a while
        await super().discard(volume)


async def test_a_file_box_taken_meanwhile_is_not_stopped_to_make_room() -> None:
    warm = _SlowWarm([workspace_volume("env_c")])
    files, _, provider = _file_boxes(limit=1, warm=warm)
    async with files.open("vol0"):
        pass  # idle now: the second box to stop for a new one (after the kept box)
    first = provider.made[0]
    taken = asyncio.Event()

    async def take_vol0() -> None:
        await warm.discarding.wait()  # while the kept box is being stopped
        async with files.open("vol0") as box:
            assert box is first
            taken.set()
            await asyncio.sleep(0.1)
            assert not first.stopped  # nobody stopped the box this request uses

    async def open_vol1() -> None:
        async with files.open("vol1"):
            pass

    results = await asyncio.gather(take_vol0(), open_vol1(), return_exceptions=True)
    assert taken.is_set()
    assert results[0] is None
    assert isinstance(results[1], QuotaExceeded)  # vol0 is in use: no room was made
    assert warm.discarded == [workspace_volume("env_c")]
    assert not first.stopped


async def test_a_clone_or_fork_box_is_counted() -> None:
    files, _, provider = _file_boxes(limit=1)
    async with files.working("vol0"):
        with pytest.raises(QuotaExceeded):
            async with files.open("vol1"):
                pass
    async with files.open("vol1"):  # its place is free again
        pass
    assert len(provider.made) == 1
