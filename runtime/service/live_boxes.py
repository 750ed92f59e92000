"""``HANGAR_PROJECT_MAX_LIVE_BOXES``: the boxes a project has live at once.

Live boxes are the project's agent runs in progress (each holds a box, or is about to; counted in
the store, across servers), its boxes kept warm after a run (paused, or pre-started for one of its
new environments) and its file boxes (the files API's, and the boxes that clone or fork into a new
environment; an environment's file box while a run is in progress there is the run's, as is its
kept box); the last two are this server's own. Admissions of a project's file boxes run one at a
time, each counting the boxes still being started. When a new run or file box would
take the project past its limit, the project's least recently used kept boxes are stopped first to
make room (their workspaces stay: the next turn starts cold), then its idle file boxes (a cache of
the files API); a run or file box that still does not fit is refused with 429, ``Retry-After`` and
the setting's name. A follow-up run takes its environment's kept box, so that box makes no room for
itself.

The run count is checked again where the run is inserted (:mod:`runtime.store.quotas`), within the
project's serialised insert, so concurrent creates on several servers cannot all get the last place.

Across servers: the kept and file boxes above are the ones this server stops; the count adds the
project's kept and file boxes on the namespace's other live servers, as each published them with
its heartbeat (``elsewhere``, see :mod:`runtime.service.nodes`; :meth:`LiveBoxes.published` is what
this server publishes). Those numbers may lag by up to one heartbeat: a box another server kept
warm (or stopped) a moment ago may not count yet (or may still count). A dead or stale server's
numbers do not count. As on one server, a follow-up run does not count its environment's kept box
on another server: the run is to take it (should another server's worker claim the run instead,
that paused box stays until its keep window ends, uncounted meanwhile). The other servers' boxes
are never stopped from here: when this server's own cannot make room, the run or file box is
refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

from runtime.errors import HangarError
from runtime.sandbox.pooled import PooledProvider
from runtime.service.file_boxes import FileBoxes
from runtime.service.nodes import Elsewhere
from runtime.store import Store
from runtime.store.nodes import ProjectBoxes
from runtime.store.quotas import live_boxes_exceeded
from runtime.worker.agent_runner import workspace_volume

log = structlog.get_logger(__name__)


class LiveBoxes:
    def __init__(
        self, store: Store, limit: int | None, *, warm: PooledProvider | None, files: FileBoxes,
        retry_after: float = 5.0, elsewhere: Elsewhere | None = None,
    ) -> None:
        """``elsewhere(project_id, taking)``: the project's kept and file boxes on the other live
        servers, as they last published them, less one kept for the volume ``taking`` (``None``:
        a single server)."""
        self._store = store
        self._elsewhere = elsewhere
        self.limit = limit
        self._warm = warm
        self._files = files
        self._retry_after = retry_after
        self._admitting: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def for_run(self, project_id: str, environment_id: str | None) -> int:
        """Make room for a new agent run in ``environment_id``; returns the project's live boxes
        other than its runs' (the insert counts them with its runs against the limit)."""
        if self.limit is None:
            return 0
        target = workspace_volume(environment_id) if environment_id else None
        kept, files = await self._boxes_of(project_id)
        kept = [v for v in kept if v != target]  # the run takes that one: not one more box
        runs = await self._store.environments.agent_runs_in_progress(project_id)
        remote = await self._remote(project_id, target)
        return remote + await self._make_room(project_id, kept, files, runs + remote + 1)

    @contextlib.asynccontextmanager
    async def admitting(self, volume: str) -> AsyncIterator[None]:
        """Make room for a file box on ``volume`` (raises ``QuotaExceeded`` when none can be made);
        the caller takes the place in the body, which runs under the project's admission lock so
        that concurrent admissions count it."""
        owner = (
            (await self._store.environments.projects_of([volume])).get(volume)
            if self.limit is not None else None
        )
        if owner is None:  # no limit, or not an environment's workspace (nothing of a project)
            yield
            return
        lock = self._admitting.get(owner[0])
        if lock is None:
            lock = self._admitting[owner[0]] = asyncio.Lock()
        async with lock:
            await self._for_file_box(volume, *owner)
            yield

    async def _for_file_box(self, volume: str, project_id: str, environment_id: str) -> None:
        assert self.limit is not None
        if await self._store.environments.running_interactions(environment_id):
            return  # a run's own file box (its sources being placed): counted with the run
        kept, files = await self._boxes_of(project_id)
        runs = await self._store.environments.agent_runs_in_progress(project_id)
        remote = await self._remote(project_id, None)
        others = remote + await self._make_room(
            project_id, kept, [v for v in files if v != volume], runs + remote + 1
        )
        if runs + others + 1 > self.limit:
            raise live_boxes_exceeded(runs, others, self.limit, self._retry_after)

    async def published(self) -> dict[str, ProjectBoxes]:
        """Per project, this server's boxes the limit counts besides runs (kept warm, serving
        files; a run's own excluded, as in the count): what this node publishes with its beat."""
        if self.limit is None:
            return {}
        kept = self._warm.kept_volumes() if self._warm is not None else []
        volumes = list({*kept, *self._files.volumes()})
        owners = await self._store.environments.projects_of(volumes) if volumes else {}
        published: dict[str, ProjectBoxes] = {}
        for project_id in sorted({project for project, _ in owners.values()}):
            kept_here, files_here = await self._boxes_of(project_id)
            if kept_here or files_here:
                published[project_id] = {"kept": kept_here, "files": len(files_here)}
        return published

    async def _remote(self, project_id: str, taking: str | None) -> int:
        return await self._elsewhere(project_id, taking) if self._elsewhere is not None else 0

    async def _boxes_of(self, project_id: str) -> tuple[list[str], list[str]]:
        """The volumes of the project's kept boxes (least recently kept first) and file boxes."""
        kept = self._warm.kept_volumes() if self._warm is not None else []
        files = self._files.volumes()
        owners = await self._store.environments.projects_of(list({*kept, *files}))
        mine = {volume for volume, (project, _) in owners.items() if project == project_id}
        runs = self._store.environments.running_interactions
        # A file box where a run is in progress is that run's (placing its sources); so is a kept
        # box (a follow-up inserted but not resumed yet): counted once, as the run, and not stopped.
        files = [v for v in files if v in mine and not await runs(owners[v][1])]
        kept = [v for v in kept if v in mine and not await runs(owners[v][1])]
        return kept, files

    async def _make_room(self, project_id: str, kept: list[str], files: list[str], needed: int) -> int:
        """Stop the project's least recently used kept boxes, then its idle file boxes, while
        ``needed`` boxes and these pass the limit; stops none when that cannot make enough room
        (the request is refused anyway). Returns how many of ``kept`` and ``files`` are left."""
        assert self.limit is not None
        left = len(kept) + len(files)
        stoppable: list[tuple[Callable[[str], Awaitable[bool]], str]] = [(self._stop_kept, v) for v in kept]
        stoppable += [(self._files.release_idle, v) for v in self._files.idle(files)]
        if needed + left - len(stoppable) > self.limit:
            return left
        for stop, volume in stoppable:
            if needed + left <= self.limit:
                break
            log.info("box stopped: the project is at its live box limit", project_id=project_id,
                     volume=volume, limit=self.limit)
            if await stop(volume):  # (a file box a request took meanwhile is left alone)
                left -= 1
        return left

    async def _stop_kept(self, volume: str) -> bool:
        assert self._warm is not None
        try:
            await self._warm.discard(volume)
        except HangarError as e:
            log.warning("could not stop kept sandbox", volume=volume, error=e.message)
        return True
