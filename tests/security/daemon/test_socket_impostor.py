"""Attack: from inside a real box, take over sandboxd's socket and answer the host with hostile
replies (a gzip bomb, endless bodies, endless exec output, a never-ending line, garbage, wrong
JSON), or plant a symlink to a socket of the host; and look for the token in the box.

The host must fail with a clear error, read a bounded number of bytes (its memory stays flat),
never follow the link, and retire the box.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from daemon_attacks import docker_sh, gzip_bomb, impostor_requests, rss_bytes, start_impostor

from runtime.errors import SandboxGone
from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.client import ProtocolViolation, SandboxdClient
from runtime.sandbox.docker import DockerProvider, DockerSandbox
from runtime.sandbox.engine import SANDBOX_UID
from runtime.sandbox.transport import KEEPALIVE_EXPIRY_S, SandboxdTransport
from runtime.sandboxd.protocol import SOCKET_NAME

pytestmark = pytest.mark.docker

MAX_GROWTH = 200 * 1024 * 1024
"""What the host may grow by while fending off one impostor (the bodies on offer are unbounded)."""


@pytest.fixture
async def box(provider: DockerProvider, spec: SandboxSpec) -> AsyncIterator[DockerSandbox]:
    sandbox = await provider.create(spec)
    yield sandbox
    await sandbox.stop()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb()


def fresh_client(box: DockerSandbox, *, pinned: bool = False) -> SandboxdClient:
    """A new client of the box, so the next call opens a new connection. Unpinned, it accepts
    whatever listens there first (the impostor): that exercises the reply bounds behind the pin."""
    peer_pid = box.socket.backend.peer_pid if pinned else None
    path = box.where.socket_dir / SOCKET_NAME
    transport = SandboxdTransport(path, owner_uid=SANDBOX_UID, peer_pid=peer_pid)
    return SandboxdClient(transport, box.where.token)


async def _calls(client: SandboxdClient) -> list[BaseException | object]:
    calls = [
        client.health(), client.exec("echo hi"), client.read_file("a.txt", length=100),
        client.list_files(".", recursive=True), client.python("1"),
    ]
    results: list[BaseException | object] = []
    for call in calls:
        try:
            results.append(await asyncio.wait_for(call, 120))
        except BaseException as e:
            results.append(e)
    return results


@pytest.mark.parametrize(
    "mode",
    ["gzip-bomb", "huge-body", "huge-declared", "huge-error", "endless-lines", "endless-line", "garbage",
     "wrong-json"],
)
async def test_impostor_replies_fail_cleanly_with_bounded_memory(
    box: DockerSandbox, docker_client: Any, bomb: bytes, mode: str
) -> None:
    await start_impostor(box, docker_client, mode, bomb if mode == "gzip-bomb" else None)
    client = fresh_client(box)
    before = rss_bytes()
    try:
        results = await _calls(client)
    finally:
        await client.aclose()
    grown = rss_bytes() - before
    if mode == "wrong-json":  # any bytes are a file's content: only the length is checked
        read = results.pop(2)
        assert isinstance(read, bytes) and len(read) <= 100
    for result in results:
        assert isinstance(result, SandboxGone), f"{mode}: expected a clear SandboxGone, got {result!r}"
        assert "sandboxd" in result.message
    if mode != "garbage":  # garbage is not HTTP: the connection breaks (SandboxGone), no reply to judge
        assert any(isinstance(r, ProtocolViolation) for r in results), results
    assert grown < MAX_GROWTH, f"{mode}: the host grew by {grown / 2**20:.0f} MiB"
    assert impostor_requests(docker_client, box) >= 1, "the impostor never got a request: no attack happened"


async def test_an_impostor_gets_no_request_and_no_token(box: DockerSandbox, docker_client: Any) -> None:
    """The box's connections are pinned to the listener sandboxd started with: another listener at
    the same path is refused before a byte (the token included) is sent."""
    assert box.socket.backend.peer_pid is not None
    await start_impostor(box, docker_client, "wrong-json")
    client = fresh_client(box, pinned=True)
    try:
        with pytest.raises(ProtocolViolation, match="not the box's sandboxd"):
            await client.health()
        with pytest.raises(ProtocolViolation, match="not the box's sandboxd"):
            await client.exec("true")
    finally:
        await client.aclose()
    assert impostor_requests(docker_client, box) == 0
    # Control: an unpinned client does reach it (so the pin is what stopped the requests).
    control = fresh_client(box)
    try:
        with pytest.raises(ProtocolViolation):
            await control.health()
    finally:
        await control.aclose()
    assert impostor_requests(docker_client, box) == 1


async def test_sandboxd_cannot_be_traced_or_read_by_the_agent(box: DockerSandbox) -> None:
    probe = await box.client.exec(
        "pid=$(pgrep -f '^/opt/venv/bin/python -I -u -m runtime[.]sandboxd$'); echo pid=$pid; "
        "cat /proc/$pid/environ >/dev/null 2>&1 && echo environ-readable; "
        "head -c1 /proc/$pid/mem >/dev/null 2>&1 && echo mem-readable; "
        "ls /proc/$pid/fd >/dev/null 2>&1 && echo fds-readable; "
        "python3 -c 'import ctypes, sys; sys.exit(ctypes.CDLL(None).ptrace(16, int(sys.argv[1]), 0, 0))' $pid"
        " && echo attached; cat /proc/self/environ >/dev/null && echo own-environ-readable"
    )
    out = probe.stdout.split()
    assert out[0].startswith("pid=") and out[0] != "pid=", probe
    assert out[1:] == ["own-environ-readable"], probe.stdout


async def test_the_box_itself_is_retired_after_an_out_of_protocol_answer(
    box: DockerSandbox, docker_client: Any
) -> None:
    """Through the box's own client: once its pooled connection is gone the next call reaches the
    impostor, fails, and the box takes no further calls (the watchdog then removes it)."""
    await start_impostor(box, docker_client, "endless-lines")
    await asyncio.sleep(KEEPALIVE_EXPIRY_S + 1)  # the pooled connection to the real sandboxd expires
    with pytest.raises(ProtocolViolation, match="out of protocol"):
        await box.client.exec("echo hi")
    with pytest.raises(SandboxGone, match="retired"):
        await box.client.exec("echo again")
    await asyncio.wait_for(box.wait_stopped(), 30)


@contextlib.contextmanager
def host_socket() -> Any:
    """A unix socket server of the host that counts connections (a stand-in for docker.sock)."""
    directory = Path(tempfile.mkdtemp(prefix="h-", dir="/tmp"))
    path = directory / "host.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    server.setblocking(False)

    def accepted() -> int:
        count = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                conn, _ = server.accept()
                conn.close()
                count += 1
        return count

    try:
        yield path, accepted
    finally:
        server.close()
        path.unlink()
        directory.rmdir()


async def test_symlink_to_a_host_socket_is_never_followed(box: DockerSandbox) -> None:
    with host_socket() as (target, accepted):
        planted = await box.client.exec(
            f"rm /run/sandboxd/{SOCKET_NAME} && ln -s {target} /run/sandboxd/{SOCKET_NAME} && echo planted"
        )
        assert planted.stdout.strip() == "planted", planted.stderr
        client = fresh_client(box)
        try:
            with pytest.raises(ProtocolViolation, match="symbolic link"):
                await client.health()
            with pytest.raises(ProtocolViolation, match="symbolic link"):
                await client.exec("true")
        finally:
            await client.aclose()
        assert accepted() == 0, "the host connected to its own socket through the box's symlink"
        # Control: a host client that follows links would have reached it.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as naive:
            naive.connect(str(box.where.socket_dir / SOCKET_NAME))
        assert accepted() == 1


async def test_no_process_of_the_box_has_the_token(box: DockerSandbox, docker_client: Any) -> None:
    token = box.where.token
    await box.client.shell("sleep 0 && echo started")  # a shell session and a kernel exist too
    await box.client.python("import os")
    seen = await box.client.exec(
        "for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do cat $f 2>/dev/null; echo; done; "
        "ls -A /run/sandboxd; env"
    )
    assert seen.exit_code == 0
    assert "python" in seen.stdout and "SANDBOXD_TOKEN_FILE" in seen.stdout  # we did read them
    assert token not in seen.stdout and token not in seen.stderr
    assert "SANDBOXD_TOKEN=" not in seen.stdout
    assert "token" not in seen.stdout.split(), "the token file outlived sandboxd's start"
    as_agent = docker_sh(docker_client, box, "cat /proc/1/environ /proc/*/environ 2>/dev/null")
    assert token not in as_agent

