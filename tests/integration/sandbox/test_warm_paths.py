"""Warm paths on real containers: pooled boxes are hardened like cold ones and never cross specs;
kept boxes resume with their sessions and processes, stop after their window (the workspace stays),
give way least recently used first, and go before their volume does."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.sandbox.base import EgressRule, SandboxSpec, SandboxState
from runtime.sandbox.docker import DockerProvider, DockerSandbox
from runtime.sandbox.pooled import PooledProvider, WarmConfig, pool_shape, poolable
from runtime.sandbox.reaper import list_owned

pytestmark = pytest.mark.docker


@pytest.fixture
async def volume(provider: DockerProvider) -> AsyncIterator[str]:
    name = f"hangar-ws-test-warm-{secrets.token_hex(4)}"
    yield name
    await provider.remove_volume(name)


@pytest.fixture
async def warm(provider: DockerProvider, volume: str) -> AsyncIterator[Callable[..., PooledProvider]]:
    """Warm paths over the session's provider (closed at the end, before ``volume`` goes; the
    provider stays)."""
    made: list[PooledProvider] = []

    def make(**config: Any) -> PooledProvider:
        pooled = PooledProvider(provider, WarmConfig(**{"min_free_mb": 0, **config}))
        made.append(pooled)
        return pooled

    yield make
    for pooled in made:
        await pooled.close_warm()


def _hardening(docker_client: Any, box: DockerSandbox) -> dict[str, Any]:
    """What a box's container is made with, less what names the box itself."""
    attrs = docker_client.api.inspect_container(box.container_id)
    host = dict(attrs["HostConfig"])
    binds = host.pop("Binds", None) or []
    mounts = host.pop("Mounts", None) or []
    config = attrs["Config"]
    return {
        "host": host,
        "bind_targets": sorted(b.split(":", 1)[1] for b in binds),
        "mounts": sorted((m.get("Target"), m.get("Type"), m.get("ReadOnly", False)) for m in mounts),
        "user": config.get("User"), "entrypoint": config.get("Entrypoint"), "cmd": config.get("Cmd"),
        "env": sorted(e.split("=", 1)[0] for e in config.get("Env") or []),
        "workdir": config.get("WorkingDir"), "image": config.get("Image"),
    }


NETWORKS = {
    "none": {},
    "allowlist": {"network": "allowlist", "allowed_domains": ("pypi.org", "*.example.test")},
    "egress": {"network": "egress"},
}


@pytest.mark.parametrize("network", list(NETWORKS))
async def test_a_pooled_box_is_hardened_exactly_like_a_cold_one(
    warm: Callable[..., PooledProvider], provider: DockerProvider, make_spec: Callable[..., SandboxSpec],
    docker_client: Any, network: str,
) -> None:
    spec = make_spec(labels=(("test", "pool-hardening"),), **NETWORKS[network])
    shape = pool_shape(spec)
    pooled = warm(pool_size=1)
    await pooled.start_warm()
    pooled.pool.warm(shape)
    await pooled.pool.wait_full(shape)
    waiting = pooled.pool._idle[shape.key()][0].box
    async with await pooled.create(spec) as box, await provider.create(spec) as cold:
        assert box is waiting and box.spec == spec  # from the pool, adopted for this spec
        assert isinstance(box, DockerSandbox) and isinstance(cold, DockerSandbox)
        assert _hardening(docker_client, box) == _hardening(docker_client, cold)
        assert (await box.client.exec(["id", "-u"])).stdout == (await cold.client.exec(["id", "-u"])).stdout
        if box.egress:  # the proxy holds the run's rule for it, as for the cold box
            rules = [_rule(provider, b.id) for b in (box, cold)]
            assert rules[0] == rules[1] == {
                "open": network == "egress", "domains": list(spec.allowed_domains)
            }


def _rule(provider: DockerProvider, sandbox_id: str) -> dict[str, Any]:
    data = json.loads((provider.egress.policy_dir / f"{sandbox_id}.json").read_text())
    return {"open": data["open"], "domains": data["domains"]}


async def test_a_spec_that_injects_credentials_is_never_pooled(
    warm: Callable[..., PooledProvider], make_spec: Callable[..., SandboxSpec],
) -> None:
    spec = make_spec(network="allowlist", allowed_domains=("api.example.test",),
                     egress_rules=(EgressRule(domain="api.example.test", headers=(("X-Key", "k"),)),))
    shape = pool_shape(spec)
    pooled = warm(pool_size=1)
    await pooled.start_warm()
    pooled.pool.warm(shape)
    await pooled.pool.wait_full(shape)
    waiting = pooled.pool._idle[shape.key()][0].box
    assert not poolable(spec)
    async with await pooled.create(spec) as box:
        assert box is not waiting and box.spec == spec
    assert pooled.pool.available(shape) == 1


async def test_a_box_of_another_spec_is_not_taken_from_a_pool(
    warm: Callable[..., PooledProvider], make_spec: Callable[..., SandboxSpec],
) -> None:
    spec = make_spec(labels=(("test", "pool-keys"),))
    other_env = make_spec(labels=(("test", "pool-keys"),), env=(("TOKEN", "b"),))
    pooled = warm(pool_size=1)
    await pooled.start_warm()
    pooled.pool.warm(spec)
    await pooled.pool.wait_full(spec)
    waiting = pooled.pool._idle[spec.key()][0].box
    async with await pooled.create(other_env) as box:
        assert box is not waiting
        assert (await box.client.exec(["sh", "-c", "echo $TOKEN"])).stdout == "b\n"
    assert pooled.pool.available(spec) == 1  # still there for its own spec


async def test_a_kept_box_resumes_with_its_sessions_and_processes(
    warm: Callable[..., PooledProvider], make_spec: Callable[..., SandboxSpec], volume: str,
) -> None:
    spec = make_spec(workspace_volume=volume)
    pooled = warm(keep_seconds=60)
    await pooled.start_warm()
    box = await pooled.create(spec)
    await box.client.python("answer = 42")
    await box.client.shell("sleep 300 & echo $! > /tmp/bg.pid")
    await pooled.release(box)
    assert box.state is SandboxState.PAUSED
    assert pooled.kept(volume) is box

    again = await pooled.create(spec)
    try:
        assert again is box and again.state is SandboxState.READY
        assert "42" in (await again.client.python("print(answer)")).stdout
        alive = await again.client.shell("kill -0 $(cat /tmp/bg.pid) && echo alive")
        assert "alive" in alive.output
    finally:
        await pooled.release(again, keep=False)
    assert box.state is SandboxState.STOPPED and pooled.kept(volume) is None


async def test_a_kept_box_is_not_taken_for_another_spec(
    warm: Callable[..., PooledProvider], make_spec: Callable[..., SandboxSpec], volume: str,
) -> None:
    pooled = warm(keep_seconds=60)
    await pooled.start_warm()
    box = await pooled.create(make_spec(workspace_volume=volume))
    await pooled.release(box)
    async with await pooled.create(make_spec(workspace_volume=volume, env=(("A", "1"),))) as other:
        assert other is not box
    assert pooled.kept(volume) is box  # the file box of a volume does not end its kept box


async def test_an_idle_kept_box_stops_after_its_window_and_the_workspace_stays(
    warm: Callable[..., PooledProvider], provider: DockerProvider, make_spec: Callable[..., SandboxSpec],
    volume: str,
) -> None:
    pooled = warm(keep_seconds=0.5, sweep_interval_s=0.1)
    await pooled.start_warm()
    box = await pooled.create(make_spec(workspace_volume=volume))
    await box.client.write_file("kept.txt", b"still here")
    await pooled.release(box)
    assert isinstance(box, DockerSandbox)
    await asyncio.wait_for(box.wait_stopped(), 30)
    assert pooled.kept(volume) is None
    assert await provider.volume_exists(volume)
    async with await pooled.create(make_spec(workspace_volume=volume)) as fresh:
        assert fresh is not box
        assert await fresh.client.read_file("kept.txt") == b"still here"


async def test_least_recently_used_kept_boxes_stop_first(
    warm: Callable[..., PooledProvider], provider: DockerProvider, make_spec: Callable[..., SandboxSpec],
) -> None:
    pooled = warm(keep_seconds=60, max_kept=1)
    await pooled.start_warm()
    volumes = [f"hangar-ws-test-lru-{secrets.token_hex(4)}" for _ in range(2)]
    try:
        first = await pooled.create(make_spec(workspace_volume=volumes[0]))
        second = await pooled.create(make_spec(workspace_volume=volumes[1]))
        await pooled.release(first)
        await pooled.release(second)
        assert first.state is SandboxState.STOPPED
        assert pooled.kept(volumes[1]) is second and second.state is SandboxState.PAUSED
    finally:
        for name in volumes:
            await pooled.remove_volume(name)


async def test_removing_a_volume_stops_its_kept_box_first(
    warm: Callable[..., PooledProvider], provider: DockerProvider, make_spec: Callable[..., SandboxSpec],
    volume: str,
) -> None:
    pooled = warm(keep_seconds=60)
    await pooled.start_warm()
    box = await pooled.create(make_spec(workspace_volume=volume))
    await pooled.release(box)
    await pooled.remove_volume(volume)
    assert box.state is SandboxState.STOPPED
    assert not await provider.volume_exists(volume)


KEEPER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from runtime.sandbox.base import SandboxSpec
    from runtime.sandbox.docker import DockerProvider, DockerProviderConfig
    from runtime.sandbox.pooled import PooledProvider, WarmConfig, pool_shape, poolable

    async def main():
        config = DockerProviderConfig(
            state_dir=Path(sys.argv[1]), namespace=sys.argv[2], reap_on_start=False, reap_interval_s=None
        )
        provider = PooledProvider(DockerProvider(config), WarmConfig(pool_size=0, min_free_mb=0))
        await provider.start()
        spec = SandboxSpec(image=sys.argv[3], memory_mb=256, workspace_volume=sys.argv[4])
        box = await provider.create(spec)
        await provider.release(box)
        print("SANDBOX_ID=" + box.id, flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
""")


async def test_a_kept_box_of_a_killed_server_is_reaped(
    provider: DockerProvider, spec: SandboxSpec, docker_client: Any, namespace: str, state_dir: Path,
    volume: str,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KEEPER, str(state_dir), namespace, spec.image, volume,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    assert proc.stdout is not None
    kept_id = ""
    async with asyncio.timeout(60):
        while not kept_id and (line := await proc.stdout.readline()):
            kept_id = line.decode().strip().removeprefix("SANDBOX_ID=") if b"SANDBOX_ID=" in line else ""
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert kept_id, "the subprocess did not keep a box"
    owned = list_owned(docker_client, namespace, provider.sockets_dir)
    container = next(c for c, i in owned.containers.items() if i == kept_id)
    assert docker_client.api.inspect_container(container)["State"]["Status"] == "paused"

    await provider.reaper.reap_once()
    owned = list_owned(docker_client, namespace, provider.sockets_dir)
    assert kept_id not in [*owned.containers.values(), *owned.socket_dirs.values()]
    assert await provider.volume_exists(volume)  # the environment's workspace stays


async def test_a_new_environment_adopts_a_pre_started_box_hardened_like_a_cold_one(
    provider: DockerProvider, make_spec: Callable[..., SandboxSpec], docker_client: Any, volume: str,
) -> None:
    tag = secrets.token_hex(3)
    config = WarmConfig(pool_size=1, min_free_mb=0)
    pooled = PooledProvider(provider, config, workspace_name=lambda env: f"hangar-ws-test-{tag}-{env}")
    await pooled.start_warm()
    claimed: list[str] = []
    try:
        run_spec = make_spec(labels=(("test", f"claim-{tag}"),), workspace_volume=volume)
        assert pooled.claim_environment() is None  # nothing learnt yet: a new environment starts cold
        await pooled.release(await pooled.create(run_spec))  # a run kept: its spec is learnt
        template = run_spec.model_copy(update={"workspace_volume": None})
        await pooled.environments.wait_full(template)

        environment_id = pooled.claim_environment()
        assert environment_id is not None
        workspace = f"hangar-ws-test-{tag}-{environment_id}"
        claimed.append(workspace)
        waiting = pooled.kept(workspace)
        assert waiting is not None and waiting.state is SandboxState.PAUSED
        spec = run_spec.model_copy(update={"workspace_volume": workspace})
        box = await pooled.create(spec)  # the environment's first run
        assert box is waiting and box.state is SandboxState.READY
        async with await provider.create(spec) as cold:
            assert isinstance(box, DockerSandbox)
            assert _hardening(docker_client, box) == _hardening(docker_client, cold)
        await box.client.write_file("mine.txt", b"first run")
        await pooled.release(box, keep=False)

        # A box pre-started for another spec is not taken: the run starts its own.
        await pooled.environments.wait_full(template)  # refilled since the first claim
        other = pooled.claim_environment()
        assert other is not None
        claimed.append(f"hangar-ws-test-{tag}-{other}")
        other_spec = run_spec.model_copy(update={"workspace_volume": claimed[-1], "env": (("A", "1"),)})
        async with await pooled.create(other_spec) as fresh:
            assert fresh is not pooled.kept(claimed[-1])
            assert (await fresh.client.exec(["sh", "-c", "echo $A"])).stdout == "1\n"
    finally:
        await pooled.close_warm()  # unclaimed pre-started boxes go with their empty volumes
        for name in claimed:
            await provider.remove_volume(name)
    left = [v["Name"] for v in docker_client.api.volumes()["Volumes"] or [] if f"-{tag}-" in v["Name"]]
    assert not left, left


async def test_removing_a_volume_stops_every_box_that_holds_it(
    warm: Callable[..., PooledProvider], provider: DockerProvider, make_spec: Callable[..., SandboxSpec],
    volume: str, docker_client: Any,
) -> None:
    """Not only the kept box: a box a caller still holds (a run being released, a file box), one
    already stopping, and a container of the namespace no handle tracks (a killed process's)."""
    pooled = warm(keep_seconds=60)
    await pooled.start_warm()
    kept = await pooled.create(make_spec(workspace_volume=volume))
    await pooled.release(kept)
    held = await pooled.create(make_spec(workspace_volume=volume, env=(("ROLE", "file box"),)))
    stopping = await provider.create(make_spec(workspace_volume=volume, env=(("ROLE", "stopping"),)))
    untracked = await provider.create(make_spec(workspace_volume=volume, env=(("ROLE", "orphan"),)))
    assert isinstance(untracked, DockerSandbox)
    provider.untrack(untracked.id)  # as if its process had died
    stop = asyncio.create_task(stopping.stop())
    await asyncio.sleep(0)
    try:
        await pooled.remove_volume(volume)
        assert not await provider.volume_exists(volume)
        assert kept.state is SandboxState.STOPPED and held.state is SandboxState.STOPPED
        assert not docker_client.containers.list(all=True, filters={"volume": volume})
    finally:
        await stop
        await untracked.stop()
