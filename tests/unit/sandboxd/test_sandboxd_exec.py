"""One-shot commands through the client against the in-process app."""

from __future__ import annotations

import asyncio
import os

from runtime.sandbox.client import SandboxdClient
from runtime.sandbox.local import LocalSandbox


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


async def test_exit_code_and_both_streams(client: SandboxdClient) -> None:
    result = await client.exec("echo out; echo err >&2; exit 3")
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 3)
    assert not result.timed_out and not result.truncated


async def test_argv_is_not_parsed_by_a_shell(client: SandboxdClient) -> None:
    result = await client.exec(["echo", "$HOME; ls"])
    assert result.stdout == "$HOME; ls\n"


async def test_stdin_env_and_cwd(client: SandboxdClient, box: LocalSandbox) -> None:
    await client.mkdir("sub")
    result = await client.exec("cat; echo \" $FOO\"; pwd", stdin="in", env={"FOO": "bar"}, cwd="sub")
    assert result.stdout == f"in bar\n{box.app.daemon.workspace.root}/sub\n"


async def test_missing_program_exits_127(client: SandboxdClient) -> None:
    result = await client.exec(["definitely-not-a-program"])
    assert result.exit_code == 127 and "definitely-not-a-program" in result.stderr


async def test_timeout_kills_the_process_group_and_keeps_output(client: SandboxdClient) -> None:
    result = await client.exec("sleep 30 & echo $!; echo partial; wait", timeout_s=0.5)
    assert result.timed_out and result.exit_code < 0
    grandchild, partial = result.stdout.splitlines()
    assert partial == "partial"
    for _ in range(100):  # the orphaned grandchild is reaped by the host's init
        if _gone(int(grandchild)):
            break
        await asyncio.sleep(0.02)
    assert _gone(int(grandchild))


async def test_idle_timeout(client: SandboxdClient) -> None:
    result = await client.exec("echo hi; sleep 30", idle_timeout_s=0.3, timeout_s=20)
    assert result.idle_timed_out and not result.timed_out and result.stdout == "hi\n"
    assert result.duration_ms < 5000


async def test_output_cap_counts_both_streams(client: SandboxdClient) -> None:
    result = await client.exec("head -c 5000 /dev/zero | tr '\\0' a; head -c 5000 /dev/zero >&2",
                               max_output_bytes=6000)
    assert result.truncated and len(result.stdout) + len(result.stderr) == 6000
    assert result.exit_code == 0


async def test_multibyte_characters_survive_chunking(client: SandboxdClient) -> None:
    result = await client.exec(["python3", "-c", "import sys\nfor _ in range(40000): sys.stdout.write('é€')"])
    assert result.stdout == "é€" * 40000


async def test_background_child_holding_the_pipe_does_not_hang(client: SandboxdClient) -> None:
    result = await client.exec("sleep 30 & echo $!", timeout_s=10)
    assert result.exit_code == 0 and not result.timed_out
    os.kill(int(result.stdout), 9)


async def test_on_output_sees_chunks(client: SandboxdClient) -> None:
    seen: list[tuple[str, str]] = []

    async def on_output(stream: str, text: str) -> None:
        seen.append((stream, text))

    await client.exec("echo a; echo b >&2", on_output=on_output)
    assert "".join(t for s, t in seen if s == "stdout") == "a\n"
    assert "".join(t for s, t in seen if s == "stderr") == "b\n"
