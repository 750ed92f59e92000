"""``LiveBoxes`` counts the project's boxes the other live servers published besides its own, and
publishes its own per project; ``NodeHeartbeat`` carries them both ways. Fakes stand in for the
store, the kept boxes and the file boxes (the real ones: tests/integration/fleet/)."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime.service.live_boxes import LiveBoxes
from runtime.service.nodes import NodeHeartbeat
from runtime.store.nodes import ProjectBoxes
from runtime.worker.agent_runner import workspace_volume

ENVS = {  # volume -> (project, environment)
    "ws-p1": ("p", "env-p1"), "ws-p2": ("p", "env-p2"), "ws-p3": ("p", "env-p3"),
    "ws-q1": ("q", "env-q1"), "ws-pf": ("p", "env-pf"), "ws-pr": ("p", "env-pr"),
}


class FakeEnvironments:
    def __init__(self, runs: int = 0, running: set[str] | None = None) -> None:
        self.runs = runs
        self.running = running or set()

    async def projects_of(self, volumes: list[str]) -> dict[str, tuple[str, str]]:
        return {v: ENVS[v] for v in volumes if v in ENVS}

    async def running_interactions(self, environment_id: str) -> int:
        return 1 if environment_id in self.running else 0

    async def agent_runs_in_progress(self, project_id: str) -> int:
        return self.runs


class FakeStore:
    def __init__(self, environments: FakeEnvironments) -> None:
        self.environments = environments


class FakeWarm:
    def __init__(self, kept: list[str]) -> None:
        self.kept = kept
        self.stopped: list[str] = []

    def kept_volumes(self) -> list[str]:
        return list(self.kept)

    async def discard(self, volume: str) -> None:
        self.kept.remove(volume)
        self.stopped.append(volume)


class FakeFiles:
    def __init__(self, volumes: list[str]) -> None:
        self.boxes = volumes
        self.stopped: list[str] = []

    def volumes(self) -> list[str]:
        return list(self.boxes)

    def idle(self, volumes: list[str]) -> list[str]:
        return [v for v in self.boxes if v in volumes]

    async def release(self, volume: str) -> None:
        self.boxes.remove(volume)
        self.stopped.append(volume)

    async def release_idle(self, volume: str) -> bool:
        await self.release(volume)
        return True


class Elsewhere:
    """The other servers' published boxes of each project: (kept volumes, file boxes)."""

    def __init__(self, **published: tuple[list[str], int]) -> None:
        self.published = published
        self.asked: list[tuple[str, str | None]] = []

    async def __call__(self, project_id: str, taking: str | None) -> int:
        self.asked.append((project_id, taking))
        kept, files = self.published.get(project_id, ([], 0))
        return sum(1 for v in kept if v != taking) + files


def live_boxes(
    limit: int, *, kept: list[str] = (), files: list[str] = (), elsewhere: Elsewhere | None = None,
    runs: int = 0, running: set[str] | None = None,
) -> tuple[LiveBoxes, FakeWarm, FakeFiles]:
    warm, boxes = FakeWarm(list(kept)), FakeFiles(list(files))
    store: Any = FakeStore(FakeEnvironments(runs, running))
    made = LiveBoxes(store, limit, warm=warm, files=boxes, elsewhere=elsewhere)  # type: ignore[arg-type]
    return made, warm, boxes


async def test_other_servers_boxes_count_with_this_servers_own() -> None:
    # Limit 3: one kept box on another server, one here; a new run makes three: nothing stops.
    limits, warm, _ = live_boxes(3, kept=["ws-p1"], elsewhere=Elsewhere(p=(["ws-p9"], 0)))
    assert await limits.for_run("p", None) == 2  # (the insert adds the run: 3, within the limit)
    assert warm.stopped == []


async def test_over_the_limit_this_servers_own_kept_box_gives_way_first_then_file_boxes() -> None:
    elsewhere = Elsewhere(p=([], 1), q=(["ws-q9"], 5))
    limits, warm, files = live_boxes(2, kept=["ws-p1", "ws-p2"], files=["ws-pf"], elsewhere=elsewhere)
    # 1 elsewhere + 3 here + the run = 5 > 2: this server's three make room, down to 1 + run.
    assert await limits.for_run("p", None) == 1
    assert warm.stopped == ["ws-p1", "ws-p2"] and files.stopped == ["ws-pf"]
    assert elsewhere.asked == [("p", None)]


async def test_when_this_server_cannot_make_room_it_stops_nothing() -> None:
    # Limit 1 and a box kept on another server: stopping this server's box would not be enough.
    limits, warm, _ = live_boxes(1, kept=["ws-p1"], elsewhere=Elsewhere(p=(["ws-p9"], 0)))
    assert await limits.for_run("p", None) == 2  # the insert refuses: 0 runs + 2 boxes >= 1
    assert warm.stopped == []


async def test_another_project_is_not_counted() -> None:
    limits, warm, _ = live_boxes(1, kept=["ws-q1"], elsewhere=Elsewhere(q=(["ws-q9"], 3)))
    assert await limits.for_run("p", None) == 0
    assert warm.stopped == []


async def test_a_follow_up_run_does_not_count_the_box_kept_for_it_on_another_server() -> None:
    elsewhere = Elsewhere(p=([workspace_volume("env-p1"), "ws-p9"], 0))
    limits, _, _ = live_boxes(2, elsewhere=elsewhere)
    assert await limits.for_run("p", "env-p1") == 1  # it takes that box: only ws-p9 counts
    assert elsewhere.asked == [("p", workspace_volume("env-p1"))]


async def test_without_a_limit_nothing_is_asked_nor_published() -> None:
    elsewhere = Elsewhere(p=(["ws-p9"], 9))
    limits = LiveBoxes(FakeStore(FakeEnvironments()), None, warm=FakeWarm(["ws-p1"]),  # type: ignore[arg-type]
                       files=FakeFiles([]), elsewhere=elsewhere)  # type: ignore[arg-type]
    assert await limits.for_run("p", None) == 0
    assert await limits.published() == {}
    assert elsewhere.asked == []


async def test_published_is_this_servers_kept_and_file_boxes_by_project() -> None:
    # ws-pr's file box places the sources of a run in progress: the run's, counted as the run.
    limits, _, _ = live_boxes(
        5, kept=["ws-p2", "ws-p1", "ws-q1", "ws-unknown"], files=["ws-pf", "ws-pr", "ws-p3"],
        running={"env-pr"},
    )
    assert await limits.published() == {
        "p": {"kept": ["ws-p2", "ws-p1"], "files": 2},
        "q": {"kept": ["ws-q1"], "files": 0},
    }
    empty, _, _ = live_boxes(5)
    assert await empty.published() == {}


class RecordingNodes:
    def __init__(self) -> None:
        self.beats: list[Any] = []
        self.asked: list[dict[str, Any]] = []

    async def beat(self, node_id: str, when: float, live_boxes: Any = None) -> bool:
        self.beats.append(live_boxes)
        return True

    async def declare_dead(self, namespace: str, now: float, dead_after: float) -> list[str]:
        return []

    async def forget_dead(self, namespace: str, before: float) -> int:
        return 0

    async def boxes_elsewhere(self, namespace: str, project_id: str, **kwargs: Any) -> int:
        self.asked.append({"namespace": namespace, "project_id": project_id, **kwargs})
        return 7


class NodeStore:
    def __init__(self) -> None:
        self.nodes = RecordingNodes()


async def test_each_beat_publishes_and_a_failed_or_slow_count_keeps_the_last_numbers() -> None:
    store: Any = NodeStore()
    node = NodeHeartbeat(store, "node-me", "ns", every=0.2, dead_after=30.0)
    await node.beat()
    published: dict[str, ProjectBoxes] = {"p": {"kept": ["ws-p1"], "files": 1}}
    answers: list[Any] = [published, RuntimeError("database hiccup"), "hang"]

    async def publish() -> dict[str, ProjectBoxes]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer == "hang":
            await asyncio.Event().wait()  # (cut off after one beat interval)
        return dict(answer)

    node.publish = publish
    for _ in range(3):
        await node.beat()
    assert store.nodes.beats == [None, published, None, None]  # None: the row keeps its numbers


async def test_boxes_elsewhere_asks_for_the_other_live_nodes_of_the_namespace() -> None:
    store: Any = NodeStore()
    node = NodeHeartbeat(store, "node-me", "ns", every=5.0, dead_after=12.0)
    assert await node.boxes_elsewhere("p", "ws-p1") == 7
    (asked,) = store.nodes.asked
    assert asked["namespace"] == "ns" and asked["project_id"] == "p" and asked["exclude"] == "node-me"
    assert asked["dead_after"] == 12.0 and asked["taking"] == "ws-p1"
