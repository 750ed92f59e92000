"""The box is hardened: proven from inside (what a program can do) and from the engine's side."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from runtime.errors import SandboxGone
from runtime.sandbox.base import Sandbox, SandboxSpec
from runtime.sandbox.docker import DockerProvider, DockerSandbox

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
async def hardened(provider: DockerProvider, spec: SandboxSpec) -> AsyncIterator[DockerSandbox]:
    """One box for the read-only checks of this module."""
    async with await provider.create(spec) as box:
        yield box


async def sh(box: Sandbox, command: str, **kw: Any) -> tuple[int, str]:
    result = await box.client.exec(["bash", "-c", command], **kw)
    return result.exit_code, result.stdout + result.stderr


async def test_runs_as_uid_1000_without_capabilities(hardened: DockerSandbox) -> None:
    assert await sh(hardened, "id -u") == (0, "1000\n")
    _, status = await sh(hardened, "cat /proc/self/status")
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["CapEff"].strip() == "0000000000000000"
    assert fields["CapPrm"].strip() == "0000000000000000"
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"  # Docker's default profile, filtering


async def test_root_filesystem_is_read_only_but_scratch_is_writable(hardened: DockerSandbox) -> None:
    code, out = await sh(hardened, "touch /evil")
    assert code != 0 and "Read-only file system" in out
    assert (await sh(hardened, "touch /usr/bin/evil"))[0] != 0
    for path in ("/workspace/ok", "/tmp/ok", "$HOME/ok"):
        assert (await sh(hardened, f"touch {path} && rm {path}"))[0] == 0, path
    assert await sh(hardened, "stat -c %u /workspace $HOME") == (0, "1000\n1000\n")


async def test_no_network_but_loopback(hardened: DockerSandbox) -> None:
    # Only interfaces are inspected: nothing is ever sent towards an outside address.
    assert await sh(hardened, "ls /sys/class/net") == (0, "lo\n")


async def test_no_docker_socket(hardened: DockerSandbox) -> None:
    code, _ = await sh(hardened, "test -e /var/run/docker.sock || test -e /run/docker.sock")
    assert code != 0


async def test_engine_side_settings(hardened: DockerSandbox, docker_client: Any, spec: SandboxSpec) -> None:
    host = docker_client.api.inspect_container(hardened.container_id)["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert host["ReadonlyRootfs"] is True
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["NetworkMode"] == "none"
    assert host["Privileged"] is False
    assert host["Memory"] == host["MemorySwap"] == spec.memory_mb * 1024 * 1024
    assert host["PidsLimit"] == spec.pids_limit
    assert not any("docker.sock" in bind for bind in host.get("Binds") or [])


async def test_fork_bomb_hits_pids_limit_and_box_survives(
    provider: DockerProvider, make_spec: Callable[..., SandboxSpec]
) -> None:
    bomb = (
        "import os, signal, time\n"
        "kids = []\n"
        "try:\n"
        "    while True:\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(30); os._exit(0)\n"
        "        kids.append(pid)\n"
        "except OSError as e:\n"
        "    print('limit', len(kids), e.errno, flush=True)\n"
        "for pid in kids:\n"
        "    os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)\n"
    )
    async with await provider.create(make_spec(pids_limit=64)) as box:
        result = await box.client.exec(["timeout", "20", "python3", "-c", bomb], timeout_s=30)
        assert result.stdout.startswith("limit "), result
        forked = int(result.stdout.split()[1])
        assert forked < 64
        assert (await box.client.health()).status == "ok"
        assert await sh(box, "echo still here") == (0, "still here\n")


async def test_memory_hog_is_killed_and_reported(
    provider: DockerProvider, make_spec: Callable[..., SandboxSpec]
) -> None:
    hog = "b = []\nwhile True:\n    b.append(bytearray(16 * 1024 * 1024))\n"
    async with await provider.create(make_spec(memory_mb=256)) as box:
        try:
            result = await box.client.exec(["python3", "-c", hog], timeout_s=60)
        except SandboxGone as e:  # the kernel chose the daemon: the whole box is gone, and says why
            assert "out of memory (limit 256 MB)" in str(e)
            return
        assert result.exit_code in (-9, 137), result
        assert await box.wait_oom(5.0), "the engine reported no OOM kill"
        await box.check_alive()  # the box itself survived its child's OOM
        assert await sh(box, "echo ok") == (0, "ok\n")


async def test_egress_box_gets_no_interface_only_its_proxy_socket(
    provider: DockerProvider, make_spec: Callable[..., SandboxSpec], docker_client: Any
) -> None:
    # Lists interfaces only; no packet is sent anywhere. Egress goes through the namespace's proxy.
    async with await provider.create(make_spec(network="egress")) as box:
        assert await sh(box, "ls /sys/class/net") == (0, "lo\n")
        assert (await sh(box, "ls /run/egress"))[1] == "proxy.sock\n"
    network = docker_client.api.inspect_network(provider.egress.network)
    assert network["Labels"]["hangar.managed"] == "1"
    assert network["Labels"]["hangar.namespace"] == provider.config.namespace
