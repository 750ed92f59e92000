"""The live box limit's accounting (HANGAR_PROJECT_MAX_LIVE_BOXES) with fakes of the store and
the pools: what is counted once, and what is never stopped to make room."""

from __future__ import annotations

from runtime.service.file_boxes import FileBoxes
from runtime.service.live_boxes import LiveBoxes
from runtime.worker.agent_runner import workspace_volume


class _Environments:
    def __init__(self, running: dict[str, int]) -> None:
        self.running = running  # environment id -> its runs in progress

    async def projects_of(self, volumes: list[str]) -> dict[str, tuple[str, str]]:
        of = {workspace_volume(e): e for e in ("env_a", "env_b", "env_c")}
        return {v: ("p", of[v]) for v in volumes}

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
