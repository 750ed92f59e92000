"""The contract every sandbox backend passes: lifecycle, exec, sessions, files, browser.

Parametrized over the backends (``box`` fixture); a new backend proves itself by passing this file.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from pathlib import Path

import pytest

from runtime.errors import PathOutsideWorkspace, SandboxGone
from runtime.sandbox.base import Provider, Sandbox, SandboxSpec, SandboxState

pytestmark = pytest.mark.docker


async def test_lifecycle(any_provider: Provider, spec: SandboxSpec) -> None:
    async with await any_provider.create(spec) as box:
        assert box.state is SandboxState.READY
        assert (await box.client.health()).status == "ok"
    assert box.state is SandboxState.STOPPED
    await box.stop()  # idempotent
    with pytest.raises(SandboxGone):
        await box.client.exec(["true"])


async def test_exec_streams_output_before_the_command_ends(docker_box: Sandbox) -> None:
    """Docker only: the in-process backend's ASGI transport buffers whole responses."""
    box = docker_box
    first_chunk_at: list[float] = []

    def on_output(stream: str, text: str) -> None:
        if not first_chunk_at:
            first_chunk_at.append(time.monotonic())

    result = await box.client.exec(["bash", "-c", "echo first; sleep 1.5; echo second"], on_output=on_output)
    ended = time.monotonic()
    assert result.exit_code == 0
    assert result.stdout == "first\nsecond\n"
    assert first_chunk_at and ended - first_chunk_at[0] > 1.0


async def test_exec_exit_code_and_stderr(box: Sandbox) -> None:
    result = await box.client.exec(["bash", "-c", "echo oops >&2; exit 7"])
    assert (result.exit_code, result.stderr) == (7, "oops\n")


async def test_exec_timeout_kills_the_command(box: Sandbox) -> None:
    started = time.monotonic()
    result = await box.client.exec(["sleep", "30"], timeout_s=0.5)
    assert result.timed_out
    assert time.monotonic() - started < 5


async def test_exec_big_output_is_capped(box: Sandbox) -> None:
    result = await box.client.exec(["bash", "-c", "head -c 5000000 /dev/zero | tr '\\0' x"])
    assert result.truncated
    assert len(result.stdout) <= 1_100_000


async def test_shell_session_keeps_cwd_and_env(box: Sandbox) -> None:
    await box.client.shell("mkdir -p /tmp/here && cd /tmp/here && export HANGAR_X=42")
    result = await box.client.shell("pwd; echo $HANGAR_X")
    assert result.output.split() == ["/tmp/here", "42"]
    assert result.cwd == "/tmp/here"


async def test_python_session_keeps_variables(box: Sandbox) -> None:
    await box.client.python("x = 41\nimport math")
    result = await box.client.python("x + 1")
    assert result.result == "42"
    failed = await box.client.python("1 / 0")
    assert failed.error is not None and failed.error.ename == "ZeroDivisionError"


async def test_files_round_trip(box: Sandbox) -> None:
    c = box.client
    await c.mkdir("dir/sub")
    await c.write_file("dir/sub/a.txt", b"hello")
    assert await c.read_file("dir/sub/a.txt") == b"hello"
    assert (await c.stat("dir/sub/a.txt")).size == 5
    names = [e.path for e in await c.list_files("dir", recursive=True)]
    assert "dir/sub/a.txt" in names
    await c.move("dir/sub/a.txt", "b.txt")
    assert await c.read_file("b.txt") == b"hello"
    await c.delete("dir", recursive=True)
    assert "dir" not in [e.path for e in await c.list_files(".")]


async def test_50_mb_upload_and_download_through_tar(box: Sandbox, tmp_path: Path) -> None:
    src = tmp_path / "up"
    src.mkdir()
    payload = os.urandom(50 * 1024 * 1024)
    (src / "big.bin").write_bytes(payload)
    (src / "small.txt").write_text("small")
    # The tar stream goes through sandboxd; the host side never holds it whole.
    await box.client.upload_path(src, "data")
    result = await box.client.exec(["sha256sum", "data/up/big.bin"])
    assert result.stdout.split()[0] == hashlib.sha256(payload).hexdigest()
    dst = tmp_path / "down"
    await box.client.download_path("data", dst)
    found = {p.name: p for p in dst.rglob("*") if p.is_file()}
    assert found["big.bin"].read_bytes() == payload
    assert found["small.txt"].read_text() == "small"


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "a/../../x"])
async def test_paths_outside_the_workspace_are_rejected(box: Sandbox, path: str) -> None:
    with pytest.raises(PathOutsideWorkspace):
        await box.client.read_file(path)
    with pytest.raises(PathOutsideWorkspace):
        await box.client.write_file(path, b"x")


async def test_symlink_escape_is_rejected(box: Sandbox) -> None:
    await box.client.exec(["ln", "-s", "/etc", "escape"])
    with pytest.raises(PathOutsideWorkspace):
        await box.client.read_file("escape/passwd")


PAGE = """<!doctype html><html><head><title>Hangar test</title></head><body>
<h1 id="h">Hello sandbox</h1>
<input id="name"><button id="go" onclick="document.getElementById('out').textContent =
  'Hi ' + document.getElementById('name').value">Go</button>
<p id="out"></p></body></html>"""


@pytest.mark.browser
async def test_python_returns_matplotlib_figures(docker_box: Sandbox) -> None:
    """matplotlib lives in the image, not on the host: this runs in a real box only."""
    c = docker_box.client
    result = await c.python("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nNone")
    assert len(result.images) == 1
    assert base64.b64decode(result.images[0]).startswith(b"\x89PNG")
    assert (await c.python("plt.get_fignums()")).result == "[]"


async def test_browser_against_a_page_served_inside_the_box(docker_box: Sandbox) -> None:
    from runtime.sandboxd.protocol import Click, Navigate, PageContent, Screenshot, TypeText

    c = docker_box.client
    await c.write_file("site/index.html", PAGE.encode())
    await c.shell("cd /workspace/site && (python3 -m http.server 8123 --bind 127.0.0.1 >/dev/null 2>&1 &)")
    ready = await c.shell(
        "for i in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:8123/ && echo up && break;"
        " sleep 0.05; done"
    )
    assert "up" in ready.output
    nav = await c.browser(Navigate(url="http://127.0.0.1:8123/index.html"))
    assert nav.title == "Hangar test" and nav.status == 200
    await c.browser(TypeText(selector="#name", text="Ada"))
    await c.browser(Click(selector="#go"))
    content = await c.browser(PageContent())
    assert content.content is not None
    assert "Hello sandbox" in content.content and "Hi Ada" in content.content
    shot = await c.browser(Screenshot())
    assert shot.screenshot_png is not None
    assert base64.b64decode(shot.screenshot_png)[:8] == b"\x89PNG\r\n\x1a\n"


async def test_concurrent_operations_on_one_box(box: Sandbox) -> None:
    results = await asyncio.gather(*(box.client.exec(["echo", str(i)]) for i in range(8)))
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(8)]
