"""A provider wrapped with warm paths: a pool of pre-started boxes for new workspaces, and boxes
kept (paused) after a run so the next run on the same workspace resumes them.

``create`` takes, in order: the box kept for the spec's workspace volume (same spec only: one
whose network, env or limits differ is never reused, it stops), a pooled box of the same
:func:`pool_shape` (only for a fresh workspace), else a cold box of the wrapped provider. Every box
is made by the wrapped provider's ``create``, so a pooled or kept box is hardened exactly like a cold
one and keeps its own checked socket.

Boxes with egress are pooled too: a pooled box is made with an empty allowlist (it reaches nothing)
and gets its run's rule when the run adopts it (``Provider.adopt``), before the run's first
command; a pooled box serves one run and is never pooled again, so it never carries another spec's
rule. Specs whose egress injects credentials are never pooled (their box is made for them).

New environments are handed pre-started boxes too (:meth:`PooledProvider.claim_environment`), each
on the empty workspace of an environment id not handed out yet: ``pool_size`` of each shape of the
``max_shapes`` most recently used ones (a kept run's or a claim's; a mix of agents, networks or
resources gets a box of each), refilled in the background while the host's memory allows. A shape
unused for ``shape_idle_s`` is no longer refilled and its boxes go, with their workspaces.

``release`` ends a run: with ``keep`` the box is paused and kept for ``keep_seconds`` (its shell
and Python sessions and background processes stay as they were), else stopped. The kept boxes are
bounded by ``max_kept`` and by host memory (least recently used stop first); removing a volume
stops its kept box first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from pydantic import BaseModel, ConfigDict, Field

from runtime.errors import HangarError
from runtime.sandbox.base import Provider, Sandbox, SandboxInfo, SandboxSpec, SandboxState
from runtime.sandbox.cleanup import to_the_end
from runtime.sandbox.egress_inject import needs_injection
from runtime.sandbox.pool import PoolConfig, WarmPool, memory_tight

log = structlog.get_logger(__name__)


class WarmConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool_size: int = Field(default=1, ge=0)
    """Pre-started boxes per spec of a fresh workspace (0: no pool)."""
    keep_seconds: float | None = Field(default=900.0, gt=0)
    """How long a released box is kept paused; ``None``: released boxes stop."""
    max_kept: int = Field(default=200, ge=0)
    min_free_mb: int = Field(default=1024, ge=0)
    """Kept boxes stop (least recently used first) and the pool is not refilled while the host
    has less memory available than this."""
    sweep_interval_s: float = Field(default=5.0, gt=0)
    max_shapes: int = Field(default=4, ge=1)
    """Shapes (:func:`pool_shape`) of recent runs that new environments get ``pool_size``
    pre-started boxes of; past it the least recently used shape goes (its boxes with it)."""
    shape_idle_s: float = Field(default=1800.0, gt=0)
    """A shape no run used (and no new environment claimed) for this long is no longer refilled and
    its boxes go, with their empty workspaces; the most recent shape stays."""


WAKE_GRACE_S = 10.0
"""How long a box woken for a run (:meth:`PooledProvider.wake`) waits to be taken before it is
paused again."""


@dataclass
class _Shape:
    template: SandboxSpec
    """A :func:`pool_shape` less its workspace: what new environments' boxes are made from."""
    used: float


@dataclass
class _Kept:
    box: Sandbox
    since: float
    pooled: bool = False
    """Pre-started for a new environment (made from a :func:`pool_shape`), no run adopted it yet."""

    waking: asyncio.Task[None] | None = None
    """Its resume, started ahead of the run about to take it (:meth:`PooledProvider.wake`)."""


def pool_shape(spec: SandboxSpec) -> SandboxSpec:
    """What a pre-started box for ``spec`` is made from: ``spec`` less what adoption assigns. A box
    with egress starts with an empty allowlist (it reaches nothing until a run's rule replaces it);
    no credential is injected into a pooled box (see :func:`shapeable`)."""
    if spec.network == "none":
        return spec.model_copy(update={"credential_scope": None})
    return spec.model_copy(update={"network": "allowlist", "allowed_domains": (), "credential_scope": None})


def shapeable(spec: SandboxSpec) -> bool:
    """Whether a box of :func:`pool_shape` can serve ``spec`` (no credential injection)."""
    return not needs_injection(spec)


def poolable(spec: SandboxSpec) -> bool:
    """A fresh workspace: a pre-started box of its shape, adopted, is as good as a new one."""
    return spec.workspace_volume is None and shapeable(spec)


class PooledProvider(Provider):
    """``provider`` with a warm pool and kept boxes (see the module docstring)."""

    def __init__(
        self, provider: Provider, config: WarmConfig | None = None, *,
        workspace_name: Callable[[str], str] | None = None,
    ) -> None:
        """``workspace_name`` names an environment's workspace volume after its id; with it, new
        environments can be handed pre-started boxes (:meth:`claim_environment`)."""
        self.inner = provider
        self.config = config or WarmConfig()
        self.name = provider.name
        pool = PoolConfig(size=self.config.pool_size, min_free_mb=self.config.min_free_mb)
        self.pool = WarmPool(provider, pool)
        self._workspace_name = workspace_name
        self.environments = WarmPool(
            provider, pool, prepare=self._with_new_workspace, on_discard=self._drop_workspace
        )
        """Pre-started boxes, each on the (empty) workspace of an environment id not handed out yet."""
        self._env_of: dict[str, str] = {}
        """Workspace volume -> environment id, of the boxes in :attr:`environments`."""
        self._shapes: collections.OrderedDict[str, _Shape] = collections.OrderedDict()
        """The shapes of recent runs (what new environments likely run), by key, least recently
        used first."""
        self._kept: collections.OrderedDict[str, _Kept] = collections.OrderedDict()
        """By workspace volume, least recently kept first."""
        self._lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.inner.start()
        await self.start_warm()

    async def stop(self) -> None:
        await self.close_warm()
        await self.inner.stop()

    async def start_warm(self) -> None:
        """Start the pool's refill and the kept boxes' sweep (the wrapped provider is started)."""
        await self.pool.start()
        await self.environments.start()
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def close_warm(self) -> None:
        """Stop the kept and pooled boxes; the wrapped provider stays up."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for task in list(self._background):
            task.cancel()
        kept = [k.box for k in self._kept.values()]
        self._kept.clear()
        await asyncio.gather(*(b.stop() for b in kept), return_exceptions=True)
        await self.pool.close()
        await self.environments.close()
        # Workspaces of boxes still starting when the refill stopped (their boxes removed themselves).
        leftover, self._env_of = list(self._env_of), {}
        await asyncio.gather(*(self.inner.remove_volume(v) for v in leftover), return_exceptions=True)

    # --- boxes --------------------------------------------------------------------------------

    async def create(self, spec: SandboxSpec) -> Sandbox:
        box = await self._take_kept(spec)
        if box is not None:
            return box
        if poolable(spec) and self.config.pool_size > 0:
            box = await self.pool.acquire(pool_shape(spec))
            if await self._adopted(box, spec):
                return box
        return await self.inner.create(spec)

    async def _adopted(self, box: Sandbox, spec: SandboxSpec) -> bool:
        """Give ``box`` (of ``spec``'s shape) to a run of ``spec``; stops it when that fails."""
        try:
            await to_the_end(self.inner.adopt(box, spec))
        except BaseException as e:
            log.warning("pooled sandbox not adopted; stopping it", sandbox_id=box.id, error=str(e))
            await to_the_end(box.stop())
            if not isinstance(e, HangarError):
                raise
            return False
        return True

    async def release(self, box: Sandbox, *, keep: bool = True) -> None:
        volume = box.spec.workspace_volume
        keepable = self.config.keep_seconds is not None and box.state is SandboxState.READY
        if volume is None or not (keep and keepable):
            await box.stop()
            return
        try:
            await box.pause()
        except HangarError as e:
            log.warning("could not keep sandbox; stopping it", sandbox_id=box.id, error=e.message)
            await box.stop()
            return
        self._learn(box.spec)
        async with self._lock:
            previous = self._kept.pop(volume, None)
            self._kept[volume] = _Kept(box, time.monotonic())
        if previous is not None and previous.box is not box:
            await previous.box.stop()
        log.info("sandbox kept warm", sandbox_id=box.id, volume=volume)
        await self._trim()

    # --- new environments ------------------------------------------------------------------------

    def claim_environment(self, spec: SandboxSpec | None = None) -> str | None:
        """The id for a new environment whose box is already started (paused, on the environment's
        own empty workspace) for a first run of ``spec`` (its workspace aside; ``None``: not known,
        the most recent run's shape is taken), or ``None`` when none is ready. The box is kept for
        the id: the environment's first run takes it when its spec has the box's shape (else it
        starts its own)."""
        template = self._shape_for(spec)
        if template is None:
            return None
        box = self.environments.claim(template)
        volume = box.spec.workspace_volume if box is not None else None
        if box is None or volume is None:
            return None
        environment_id = self._env_of.pop(volume)
        self._kept[volume] = _Kept(box, time.monotonic(), pooled=True)
        self._use(template, learn=False)
        log.info("pooled sandbox claimed", sandbox_id=box.id, environment_id=environment_id)
        return environment_id

    def _shape_for(self, spec: SandboxSpec | None) -> SandboxSpec | None:
        """The template of pre-started boxes that serve a first run of ``spec``; the most recent
        one when ``spec`` is ``None``; ``None`` when no pre-started box can serve it."""
        if spec is None:
            return next(reversed(self._shapes.values())).template if self._shapes else None
        return _template(spec) if shapeable(spec) else None

    def shapes(self) -> list[SandboxSpec]:
        """The templates new environments' boxes are pre-started from, least recently used first."""
        return [shape.template for shape in self._shapes.values()]

    def name_workspaces(self, workspace_name: Callable[[str], str]) -> None:
        """Name environments' workspace volumes after their ids (enables :meth:`claim_environment`)."""
        self._workspace_name = workspace_name

    def _learn(self, spec: SandboxSpec) -> None:
        """Pre-start boxes of this run's shape for new environments."""
        if self._workspace_name is None or self.config.pool_size == 0 or not shapeable(spec):
            return
        self._use(_template(spec), learn=True)

    def _use(self, template: SandboxSpec, *, learn: bool) -> None:
        """``template`` was just used: it becomes the most recent shape (``learn``: added if new,
        and the least recently used past ``max_shapes`` goes)."""
        key = template.key()
        shape = self._shapes.get(key)
        if shape is None and not learn:
            return
        if shape is None:
            self._shapes[key] = shape = _Shape(template, time.monotonic())
            self.environments.warm(template)
            log.info("warm pool shape added", spec_key=key, shapes=len(self._shapes))
        shape.used = time.monotonic()
        self._shapes.move_to_end(key)
        while len(self._shapes) > self.config.max_shapes:
            self._drop_shape(next(iter(self._shapes)), "least recently used")

    def _expire_shapes(self) -> None:
        """Drop the shapes unused for ``shape_idle_s`` (never the most recent one)."""
        now = time.monotonic()
        for key, shape in list(self._shapes.items())[:-1]:
            if now - shape.used > self.config.shape_idle_s:
                self._drop_shape(key, "unused")

    def _drop_shape(self, key: str, why: str) -> None:
        """No more pre-started boxes of this shape; its boxes go with their empty workspaces."""
        shape = self._shapes.pop(key)
        self.environments.forget(shape.template)
        log.info("warm pool shape dropped", spec_key=key, reason=why)

    def _with_new_workspace(self, template: SandboxSpec) -> SandboxSpec:
        assert self._workspace_name is not None
        environment_id = f"env_{secrets.token_hex(8)}"
        volume = self._workspace_name(environment_id)
        self._env_of[volume] = environment_id
        return template.model_copy(update={"workspace_volume": volume})

    async def _drop_workspace(self, box: Sandbox) -> None:
        """A pre-started box never claimed: its empty workspace goes with it."""
        volume = box.spec.workspace_volume
        if volume is not None:
            self._env_of.pop(volume, None)
            await self.inner.remove_volume(volume)

    def wake(self, volume: str) -> None:
        """A run on ``volume`` is about to start: begin resuming its kept box now, so the unpause
        overlaps the run's bookkeeping and its ``create`` finds the box running. A woken box not
        taken within :data:`WAKE_GRACE_S` is paused again."""
        entry = self._kept.get(volume)
        if entry is None or entry.waking is not None or entry.box.state is not SandboxState.PAUSED:
            return
        entry.waking = asyncio.create_task(entry.box.resume())
        entry.waking.add_done_callback(lambda task: task.cancelled() or task.exception())
        asyncio.get_running_loop().call_later(WAKE_GRACE_S, self._doze_later, volume, entry)

    def _doze_later(self, volume: str, entry: _Kept) -> None:
        if self._kept.get(volume) is entry:  # not taken (nor stopped) meanwhile
            task = asyncio.create_task(self._doze(volume, entry))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _doze(self, volume: str, entry: _Kept) -> None:
        """Pause again a woken box nobody took (a stopped one is dropped). The box is out of the
        table while it is paused, so the provider's lock is never held across engine calls and no
        run takes a box about to be paused; it goes back unless another box was kept meanwhile."""
        async with self._lock:
            if self._kept.get(volume) is not entry or entry.waking is None:
                return
            del self._kept[volume]
        try:
            await entry.waking
            await entry.box.pause()
        except HangarError as e:
            log.warning("woken sandbox unusable; stopping it", sandbox_id=entry.box.id, error=e.message)
            await entry.box.stop()
            return
        entry.waking = None
        async with self._lock:
            if volume not in self._kept:
                self._kept[volume] = entry
                return
        await entry.box.stop()  # a newer box is kept for the volume

    def kept(self, volume: str) -> Sandbox | None:
        """The box kept for ``volume``, if any."""
        entry = self._kept.get(volume)
        return entry.box if entry is not None else None

    def kept_volumes(self) -> list[str]:
        """The volumes of the kept boxes, least recently kept first."""
        return list(self._kept)

    async def discard(self, volume: str) -> None:
        """Stop the box kept for ``volume`` (a cancelled run, a volume about to go)."""
        async with self._lock:
            entry = self._kept.pop(volume, None)
        if entry is not None:
            await entry.box.stop()

    async def _take_kept(self, spec: SandboxSpec) -> Sandbox | None:
        volume = spec.workspace_volume
        if volume is None:
            return None
        async with self._lock:
            entry = self._kept.get(volume)
            if entry is not None and not _serves(entry, spec) and entry.waking is not None:
                self._doze_later(volume, entry)  # woken for a run it does not serve: paused at once
            if entry is None or not _serves(entry, spec):
                return None  # another spec on this volume (a file box, a changed network): its own box
            del self._kept[volume]
        # A pre-started box gets the run's egress rule while it is still paused.
        if entry.pooled and not await self._adopted(entry.box, spec):
            return None
        try:
            await (entry.waking if entry.waking is not None else entry.box.resume())
        except HangarError as e:
            log.warning("kept sandbox unusable; starting another", sandbox_id=entry.box.id, error=e.message)
            await entry.box.stop()
            return None
        # Each run gets the box's whole lifetime and idle timeout, as a cold box would.
        entry.box.created_at = entry.box.last_active = time.monotonic()
        log.info("kept sandbox resumed", sandbox_id=entry.box.id, volume=volume)
        return entry.box

    async def _trim(self) -> None:
        """Stop kept boxes past their window, dead ones, and the least recently used ones while
        there are too many or the host's memory is tight."""
        now = time.monotonic()
        window = self.config.keep_seconds
        doomed: list[Sandbox] = []
        async with self._lock:
            for volume, entry in list(self._kept.items()):
                idle = window is None or now - entry.since > window
                awake = entry.box.state is not SandboxState.PAUSED and entry.waking is None
                if idle or awake:  # a woken box is paused again if not taken (_doze)
                    doomed.append(self._kept.pop(volume).box)
            while len(self._kept) > self.config.max_kept:
                doomed.append(self._kept.popitem(last=False)[1].box)
            if self._kept and memory_tight(self.config.min_free_mb):
                # One per sweep: the memory a stopped box frees shows only once it is gone.
                doomed.append(self._kept.popitem(last=False)[1].box)
        for box in doomed:
            log.info("kept sandbox stopped", sandbox_id=box.id)
            try:
                await box.stop()
            except HangarError as e:
                log.warning("could not stop kept sandbox", sandbox_id=box.id, error=e.message)

    async def _sweep_forever(self) -> None:
        window = self.config.keep_seconds or self.config.sweep_interval_s
        while True:
            await asyncio.sleep(min(self.config.sweep_interval_s, window / 4))
            self._expire_shapes()
            await self._trim()

    # --- delegated ----------------------------------------------------------------------------

    async def adopt(self, box: Sandbox, spec: SandboxSpec) -> None:
        await self.inner.adopt(box, spec)

    async def list(self) -> list[SandboxInfo]:
        return await self.inner.list()

    async def remove(self, sandbox_id: str) -> None:
        async with self._lock:
            for volume, entry in list(self._kept.items()):
                if entry.box.id == sandbox_id.removeprefix("hangar-"):
                    del self._kept[volume]
        await self.inner.remove(sandbox_id)

    async def remove_volume(self, name: str) -> None:
        await self.discard(name)
        await self.inner.remove_volume(name)

    async def volume_exists(self, name: str) -> bool:
        if name in self._kept:  # its kept box holds it mounted: no engine round trip
            return True
        return await self.inner.volume_exists(name)


def _template(spec: SandboxSpec) -> SandboxSpec:
    """The template of pre-started boxes for new environments a run of ``spec`` can adopt."""
    return pool_shape(spec).model_copy(update={"workspace_volume": None})


def _serves(entry: _Kept, spec: SandboxSpec) -> bool:
    """A kept box serves only its own spec; a pre-started one any spec of its shape."""
    if entry.pooled:
        return shapeable(spec) and pool_shape(spec) == entry.box.spec
    return entry.box.spec == spec
