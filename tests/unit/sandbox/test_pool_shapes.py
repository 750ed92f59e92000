"""New environments get pre-started boxes of each recent run's shape, not only the last one's: a
shape LRU bounded by ``max_shapes``, shapes unused for ``shape_idle_s`` dropped (never the most
recent one), a dropped shape's boxes removed with their empty workspaces. On the ``local`` backend
(sandboxd in-process), wrapped by the real :class:`PooledProvider`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from runtime.sandbox.base import EgressRule, SandboxSpec
from runtime.sandbox.local import LocalProvider
from runtime.sandbox.pooled import PooledProvider, WarmConfig, pool_shape
from runtime.worker.agent_runner import workspace_volume

NONE = SandboxSpec(network="none")
LISTED = SandboxSpec(network="allowlist", allowed_domains=("pypi.org",), cpus=2.0)
BIG = SandboxSpec(network="none", memory_mb=2048)


class VolumeProvider(LocalProvider):
    """The local backend, recording the workspace volumes removed."""

    def __init__(self) -> None:
        super().__init__()
        self.removed: list[str] = []

    async def remove_volume(self, name: str) -> None:
        self.removed.append(name)


def template(spec: SandboxSpec) -> SandboxSpec:
    return pool_shape(spec).model_copy(update={"workspace_volume": None})


async def until(check: Callable[[], bool], tries: int = 500) -> None:
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not reached in time")


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., PooledProvider]]:
    made: list[PooledProvider] = []

    def factory(**config: object) -> PooledProvider:
        warm = WarmConfig.model_validate({"pool_size": 1, **config})
        pooled = PooledProvider(VolumeProvider(), warm, workspace_name=workspace_volume)
        made.append(pooled)
        return pooled

    yield factory
    for pooled in made:
        await pooled.stop()


async def run(pooled: PooledProvider, spec: SandboxSpec, environment_id: str) -> None:
    """A run of ``spec`` in ``environment_id``, released (its shape learnt)."""
    volume = workspace_volume(environment_id)
    box = await pooled.inner.create(spec.model_copy(update={"workspace_volume": volume}))
    await pooled.release(box)


def volumes_of(pooled: PooledProvider, spec: SandboxSpec) -> list[str]:
    boxes = pooled.environments._idle.get(template(spec).key(), ())
    return [str(p.box.spec.workspace_volume) for p in boxes]


async def test_each_recent_shape_gets_its_boxes_and_a_claim_takes_the_one_of_its_shape(
    make: Callable[..., PooledProvider],
) -> None:
    pooled = make()
    await pooled.start()
    assert pooled.claim_environment(NONE) is None and pooled.claim_environment() is None  # nothing learnt
    await run(pooled, NONE, "env_a")
    await run(pooled, LISTED, "env_b")
    assert pooled.shapes() == [template(NONE), template(LISTED)]
    for spec in (NONE, LISTED):
        await pooled.environments.wait_full(template(spec))

    other_rule = LISTED.model_copy(update={"allowed_domains": ("github.com",)})
    for spec in (NONE, other_rule):  # the older shape too, and any allowlist of the same shape
        environment_id = pooled.claim_environment(spec)
        assert environment_id is not None
        box = pooled.kept(workspace_volume(environment_id))
        assert box is not None and box.spec == pool_shape(spec).model_copy(
            update={"workspace_volume": workspace_volume(environment_id)}
        )
    assert pooled.shapes() == [template(NONE), template(LISTED)]  # the claim made LISTED the most recent
    unknown = pooled.claim_environment(BIG)
    assert unknown is None  # no box of that shape: a cold start, never a box of another shape
    injecting = LISTED.model_copy(update={"egress_rules": (EgressRule(domain="pypi.org", credential="c"),)})
    assert pooled.claim_environment(injecting) is None  # never pooled
    await pooled.environments.wait_full(template(LISTED))
    recent = pooled.claim_environment()  # the shape not known (no agent): the most recent one's
    assert recent is not None
    recent_box = pooled.kept(workspace_volume(recent))
    assert recent_box is not None and recent_box.spec.network == "allowlist"


async def test_past_max_shapes_the_least_recently_used_shape_goes_with_its_workspaces(
    make: Callable[..., PooledProvider],
) -> None:
    pooled = make(max_shapes=2)
    await pooled.start()
    await run(pooled, NONE, "env_a")
    await run(pooled, LISTED, "env_b")
    await pooled.environments.wait_full(template(NONE))
    await pooled.environments.wait_full(template(LISTED))
    listed_volumes = volumes_of(pooled, LISTED)
    await run(pooled, NONE, "env_c")  # NONE used again: LISTED is now the least recently used
    await run(pooled, BIG, "env_d")
    assert pooled.shapes() == [template(NONE), template(BIG)]
    inner = pooled.inner
    assert isinstance(inner, VolumeProvider)
    await until(lambda: set(listed_volumes) <= set(inner.removed))  # its boxes went with their workspaces
    assert pooled.claim_environment(LISTED) is None
    await pooled.environments.wait_full(template(BIG))
    assert not set(volumes_of(pooled, NONE) + volumes_of(pooled, BIG)) & set(inner.removed)
    assert pooled.claim_environment(NONE) is not None and pooled.claim_environment(BIG) is not None


async def test_no_shape_is_refilled_while_host_memory_is_tight(make: Callable[..., PooledProvider]) -> None:
    pooled = make(min_free_mb=2**40)  # more than any host has
    await pooled.start()
    await run(pooled, NONE, "env_a")
    await run(pooled, LISTED, "env_b")
    assert pooled.shapes() == [template(NONE), template(LISTED)]
    await asyncio.sleep(0.5)
    assert [pooled.environments.available(template(s)) for s in (NONE, LISTED)] == [0, 0]


async def test_a_shape_unused_for_long_is_dropped_but_the_most_recent_one_stays(
    make: Callable[..., PooledProvider],
) -> None:
    pooled = make(shape_idle_s=0.3, sweep_interval_s=0.05)
    await pooled.start()
    await run(pooled, LISTED, "env_a")
    await pooled.environments.wait_full(template(LISTED))
    listed_volumes = volumes_of(pooled, LISTED)
    await run(pooled, NONE, "env_b")
    await pooled.environments.wait_full(template(NONE))
    inner = pooled.inner
    assert isinstance(inner, VolumeProvider)
    await until(lambda: pooled.shapes() == [template(NONE)])
    await until(lambda: set(listed_volumes) <= set(inner.removed))  # its empty workspaces went too
    assert pooled.environments.available(template(LISTED)) == 0
    await asyncio.sleep(0.5)  # the most recent shape outlives the idle window: an idle server stays warm
    assert pooled.shapes() == [template(NONE)]
    assert pooled.claim_environment(NONE) is not None
