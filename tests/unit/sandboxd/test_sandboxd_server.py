"""The h11 server over a real unix socket, driven by the real client."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator

import httpx
import pytest

from runtime.errors import SandboxGone
from runtime.sandbox.client import SandboxdClient
from runtime.sandboxd.app import App, Config, create_app
from runtime.sandboxd.server import serve_unix


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.fixture
async def served() -> AsyncIterator[tuple[App, SandboxdClient, str]]:
    with tempfile.TemporaryDirectory() as workspace, tempfile.TemporaryDirectory() as sockdir:
        app = create_app(Config(token="t0k", workspace=workspace))
        path = os.path.join(sockdir, "sandboxd.sock")
        server = await serve_unix(app, path)
        client = SandboxdClient(httpx.AsyncHTTPTransport(uds=path), "t0k")
        try:
            yield app, client, path
        finally:
            await client.aclose()
            server.close()
            await app.aclose()


async def test_first_chunk_arrives_before_the_command_ends(served: tuple[App, SandboxdClient, str]) -> None:
    _, client, _ = served
    first = asyncio.Event()

    def on_output(stream: str, text: str) -> None:
        first.set()

    # The command waits until the test has seen its first line, then ends by itself.
    command = "echo first; while [ ! -e release ]; do sleep 0.01; done; echo second"
    task = asyncio.create_task(client.exec(command, on_output=on_output, timeout_s=20))
    await asyncio.wait_for(first.wait(), 10)
    assert not task.done()
    await client.write_file("release", b"")
    result = await task
    assert result.stdout == "first\nsecond\n" and result.exit_code == 0


async def test_keep_alive_and_file_transfer(served: tuple[App, SandboxdClient, str]) -> None:
    _, client, _ = served
    data = os.urandom(5 * 1024 * 1024)
    await client.write_file("big", data)
    assert await client.read_file("big") == data
    for _ in range(20):
        assert (await client.health()).status == "ok"


async def test_disconnect_kills_the_command(served: tuple[App, SandboxdClient, str]) -> None:
    _, client, _ = served
    pids: list[int] = []
    seen = asyncio.Event()

    def on_output(stream: str, text: str) -> None:
        pids.extend(int(p) for p in text.split())
        seen.set()

    task = asyncio.create_task(client.exec("sleep 30 & echo $!; wait", on_output=on_output))
    await asyncio.wait_for(seen.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):
        if _gone(pids[0]):
            break
        await asyncio.sleep(0.01)
    assert _gone(pids[0])


async def test_error_body_over_the_socket(served: tuple[App, SandboxdClient, str]) -> None:
    path = served[2]
    bad = SandboxdClient(httpx.AsyncHTTPTransport(uds=path), "wrong")
    with pytest.raises(Exception, match="token"):
        await bad.health()
    await bad.aclose()


async def test_gone_socket_is_sandbox_gone() -> None:
    client = SandboxdClient(httpx.AsyncHTTPTransport(uds="/nonexistent/sandboxd.sock"), "t")
    with pytest.raises(SandboxGone, match="unreachable"):
        await client.health()
    await client.aclose()


async def test_shutdown_route_sets_the_event(served: tuple[App, SandboxdClient, str]) -> None:
    app, client, _ = served
    await client.shutdown()
    assert app.daemon.shutdown_requested.is_set()
