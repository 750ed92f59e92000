"""Docker-specific lifecycle: start-up failures, pause/resume, death, watchdog, list/remove, volumes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from runtime.errors import ImageMissing, InputError, SandboxGone, SandboxStartFailed
from runtime.sandbox.base import SandboxSpec, SandboxState
from runtime.sandbox.docker import DockerProvider
from runtime.sandbox.reaper import list_owned

pytestmark = pytest.mark.docker


def _leftovers(provider: DockerProvider, docker_client: Any, sandbox_id: str) -> list[str]:
    owned = list_owned(docker_client, provider.config.namespace, provider.sockets_dir)
    everything = [*owned.containers.items(), *owned.volumes.items(), *owned.socket_dirs.items()]
    return [str(name) for name, sid in everything if sid == sandbox_id]


async def test_missing_image_is_reported_and_nothing_is_left(
    provider: DockerProvider, make_spec: Callable[..., SandboxSpec], docker_client: Any
) -> None:
    before = provider.tracked()
    with pytest.raises(ImageMissing, match="hangar images build"):
        await provider.create(make_spec(image="hangar-no-such-image:nope"))
    assert provider.tracked() == before
    owned = list_owned(docker_client, provider.config.namespace, provider.sockets_dir)
    assert set(owned.containers.values()) | set(owned.volumes.values()) <= before


async def test_daemon_that_exits_is_reported_with_its_logs(
    provider: DockerProvider, spec: SandboxSpec, docker_client: Any
) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxStartFailed) as info:
        await provider.create(spec, entrypoint=["sh", "-c", "echo boom-from-daemon >&2; exit 3"])
    assert time.monotonic() - started < 5
    assert "exited with code 3" in str(info.value)
    assert "boom-from-daemon" in str(info.value)
    owned = list_owned(docker_client, provider.config.namespace, provider.sockets_dir)
    assert set(owned.containers.values()) <= provider.tracked()


async def test_daemon_that_never_answers_hits_the_deadline(
    provider: DockerProvider, make_spec: Callable[..., SandboxSpec]
) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxStartFailed) as info:
        await provider.create(
            make_spec(start_timeout_s=1.0), entrypoint=["sh", "-c", "echo waiting-forever; exec sleep 60"]
        )
    assert time.monotonic() - started < 4
    message = str(info.value)
    assert "did not answer within 1 s" in message
    assert "container state: running" in message
    assert "waiting-forever" in message


async def test_stop_is_idempotent_and_ops_after_stop_say_gone(
    provider: DockerProvider, spec: SandboxSpec, docker_client: Any
) -> None:
    box = await provider.create(spec)
    assert box.state is SandboxState.READY
    await box.stop()
    await box.stop()
    assert box.state is SandboxState.STOPPED
    assert _leftovers(provider, docker_client, box.id) == []
    with pytest.raises(SandboxGone):
        await box.client.exec(["true"])


async def test_pause_and_resume(provider: DockerProvider, spec: SandboxSpec) -> None:
    async with await provider.create(spec) as box:
        await box.client.exec(["bash", "-c", "echo kept > /workspace/f"])
        await box.pause()
        assert box.state is SandboxState.PAUSED
        with pytest.raises(InputError, match="paused"):
            await box.client.exec(["true"])
        started = time.monotonic()
        await box.resume()
        assert time.monotonic() - started < 1.0
        assert (await box.client.exec(["cat", "/workspace/f"])).stdout == "kept\n"


async def test_a_killed_box_fails_its_running_call_with_the_reason(
    provider: DockerProvider, spec: SandboxSpec, docker_client: Any
) -> None:
    async with await provider.create(spec) as box:
        call = asyncio.create_task(box.client.exec(["sleep", "60"]))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(docker_client.api.kill, box.container_id)
        with pytest.raises(SandboxGone, match="exited with code 137"):
            await asyncio.wait_for(call, 10)
        assert box.state is SandboxState.DEAD
        with pytest.raises(SandboxGone, match="exited with code 137"):
            await box.check_alive()


async def test_watchdog_stops_idle_boxes(
    provider: DockerProvider, make_spec: Callable[..., SandboxSpec], docker_client: Any
) -> None:
    box = await provider.create(make_spec(idle_timeout_s=0.5))
    async with asyncio.timeout(5):
        await box.wait_stopped()
    assert _leftovers(provider, docker_client, box.id) == []


async def test_list_and_remove_by_id_and_name(provider: DockerProvider, spec: SandboxSpec) -> None:
    first, second = await asyncio.gather(provider.create(spec), provider.create(spec))
    listed = {info.id: info for info in await provider.list()}
    assert {first.id, second.id} <= set(listed)
    assert listed[first.id].name == f"hangar-{first.id}"
    assert listed[first.id].spec_key == spec.key()
    await provider.remove(first.id)
    await provider.remove(f"hangar-{second.id}")
    await provider.remove(first.id)  # idempotent
    assert not {first.id, second.id} & {info.id for info in await provider.list()}


async def test_given_workspace_volume_outlives_the_box(
    provider: DockerProvider, make_spec: Callable[..., SandboxSpec], docker_client: Any, namespace: str
) -> None:
    volume = f"hangar-test-env-{namespace}"
    docker_client.volumes.create(volume)
    try:
        async with await provider.create(make_spec(workspace_volume=volume)) as box:
            assert (await box.client.exec(["bash", "-c", "echo persisted > /workspace/note"])).exit_code == 0
        docker_client.volumes.get(volume)  # still there
        async with await provider.create(make_spec(workspace_volume=volume)) as box:
            assert (await box.client.exec(["cat", "/workspace/note"])).stdout == "persisted\n"
    finally:
        docker_client.volumes.get(volume).remove(force=True)


async def test_ten_boxes_at_once_all_cleaned_up(
    provider: DockerProvider, make_spec: Callable[..., SandboxSpec], docker_client: Any
) -> None:
    small = make_spec(memory_mb=256, cpus=0.5, tmp_size_mb=16)

    async def work(i: int) -> str:
        async with await provider.create(small) as box:
            result = await box.client.exec(["python3", "-c", f"print(sum(range({i} * 100000)))"])
            assert result.exit_code == 0
            assert int(result.stdout) == sum(range(i * 100000))
            return box.id

    ids = await asyncio.gather(*(work(i) for i in range(10)))
    assert len(set(ids)) == 10
    for sandbox_id in ids:
        assert _leftovers(provider, docker_client, sandbox_id) == []
