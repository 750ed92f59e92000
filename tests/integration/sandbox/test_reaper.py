"""The reaper removes this namespace's untracked boxes and never touches another namespace."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.docker import DockerProvider
from runtime.sandbox.reaper import list_owned

pytestmark = pytest.mark.docker


def _labelled(docker_client: Any, image: str, namespace: str, sandbox_id: str) -> Any:
    labels = {"hangar.managed": "1", "hangar.namespace": namespace, "hangar.sandbox_id": sandbox_id}
    docker_client.volumes.create(f"hangar-ws-{sandbox_id}", labels=labels)
    return docker_client.containers.create(
        image, entrypoint=["sleep", "60"], labels=labels, network_mode="none", name=f"hangar-{sandbox_id}",
    )


async def test_reaper_removes_orphans_of_its_namespace_only(
    provider: DockerProvider, spec: SandboxSpec, docker_client: Any, namespace: str
) -> None:
    other_ns = f"{namespace}-other"
    async with await provider.create(spec) as tracked:
        orphan = _labelled(docker_client, spec.image, namespace, "0rphan0rphan")
        orphan_dir = provider.sockets_dir / "0rphan0rphan"
        orphan_dir.mkdir()
        foreign = _labelled(docker_client, spec.image, other_ns, "f0reignf0rei")
        foreign_dir = provider.sockets_dir.parent / other_ns / "f0reignf0rei"
        foreign_dir.mkdir(parents=True)
        try:
            reaped = await provider.reaper.reap_once()
            assert set(reaped.containers) == {orphan.id}
            assert set(reaped.volumes) == {"hangar-ws-0rphan0rphan"}
            assert not orphan_dir.exists()
            docker_client.containers.get(foreign.id)  # untouched
            docker_client.volumes.get("hangar-ws-f0reignf0rei")
            assert foreign_dir.exists()
            assert (await tracked.client.exec(["true"])).exit_code == 0  # tracked box untouched
        finally:
            foreign.remove(force=True)
            docker_client.volumes.get("hangar-ws-f0reignf0rei").remove(force=True)


ORPHAN_MAKER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from runtime.sandbox.base import SandboxSpec
    from runtime.sandbox.docker import DockerProvider, DockerProviderConfig

    async def main():
        config = DockerProviderConfig(
            state_dir=Path(sys.argv[1]), namespace=sys.argv[2], reap_on_start=False, reap_interval_s=None
        )
        provider = DockerProvider(config)
        await provider.start()
        box = await provider.create(SandboxSpec(image=sys.argv[3], memory_mb=256))
        print("SANDBOX_ID=" + box.id, flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
""")


async def test_boxes_of_a_killed_process_are_reaped(
    provider: DockerProvider, spec: SandboxSpec, docker_client: Any, namespace: str, state_dir: Path
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ORPHAN_MAKER, str(state_dir), namespace, spec.image,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    assert proc.stdout is not None
    orphan_id = ""
    async with asyncio.timeout(60):
        while not orphan_id and (line := await proc.stdout.readline()):
            orphan_id = line.decode().strip().removeprefix("SANDBOX_ID=") if b"SANDBOX_ID=" in line else ""
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert orphan_id, "the subprocess did not create a box"
    owned = list_owned(docker_client, namespace, provider.sockets_dir)
    assert orphan_id in owned.containers.values()

    await provider.reaper.reap_once()
    owned = list_owned(docker_client, namespace, provider.sockets_dir)
    assert orphan_id not in [*owned.containers.values(), *owned.volumes.values(), *owned.socket_dirs.values()]
