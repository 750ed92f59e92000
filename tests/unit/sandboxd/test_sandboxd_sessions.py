"""Persistent shell and Python sessions."""

from __future__ import annotations

import pytest

from runtime.sandbox.client import SandboxdClient
from runtime.sandboxd import pysession, shell


async def test_shell_keeps_cwd_env_and_jobs(client: SandboxdClient) -> None:
    first = await client.shell("mkdir -p d && cd d && export X=42 && sleep 30 &")
    assert first.exit_code == 0
    await client.shell("mkdir -p e && cd e && export Y=7")
    result = await client.shell("echo $Y; jobs")
    assert result.cwd == "e"
    assert result.output.startswith("7\n") and "Running" in result.output and "sleep 30" in result.output
    await client.close_shell()


async def test_shell_interleaves_stderr_and_reports_status(client: SandboxdClient) -> None:
    result = await client.shell("echo a; echo b >&2; echo c; false")
    assert result.output == "a\nb\nc\n" and result.exit_code == 1


async def test_shell_command_cannot_read_the_control_stream(client: SandboxdClient) -> None:
    result = await client.shell("cat; echo after")
    assert result.output == "after\n"


async def test_shell_syntax_error_leaves_session_usable(client: SandboxdClient) -> None:
    bad = await client.shell("if then fi (")
    assert bad.exit_code != 0 and "syntax error" in bad.output
    assert (await client.shell("echo ok")).output == "ok\n"


async def test_shell_timeout_interrupts_command_but_keeps_session(client: SandboxdClient) -> None:
    await client.shell("export KEEP=yes; sleep 30 &")
    result = await client.shell("echo before; sleep 30", timeout_s=0.3)
    assert result.timed_out and result.output == "before\n"
    after = await client.shell("echo $KEEP; jobs | grep -c Running")
    assert after.output == "yes\n1\n"  # the background job survived, the foreground one did not
    await client.close_shell()


async def test_shell_builtin_loop_timeout_restarts_session(
    client: SandboxdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shell, "INTERRUPT_GRACE_S", 0.2)
    result = await client.shell("while :; do :; done", timeout_s=0.2)
    assert result.timed_out
    again = await client.shell("echo fine")
    assert again.output.endswith("fine\n")


async def test_shell_exit_restarts_with_note(client: SandboxdClient) -> None:
    await client.shell("cd /tmp")
    gone = await client.shell("exit 4")
    assert gone.exit_code == 4
    result = await client.shell("pwd")
    assert "started a new one" in result.output and result.cwd == "."


async def test_sessions_are_independent(client: SandboxdClient) -> None:
    await client.shell("export A=1", session="one")
    assert (await client.shell("echo ${A:-unset}", session="two")).output == "unset\n"


async def test_python_keeps_state_and_returns_last_expression(client: SandboxdClient) -> None:
    assert (await client.python("x = 20\ny = 22")).result is None
    result = await client.python("print('hi')\nx + y")
    assert (result.stdout, result.result) == ("hi\n", "42")
    assert (await client.python("for i in range(2): pass")).result is None


async def test_python_exception_traceback_shows_user_code_only(client: SandboxdClient) -> None:
    result = await client.python("def f():\n    return 1 / 0\nf()")
    assert result.error is not None and result.error.ename == "ZeroDivisionError"
    assert "<cell-" in result.error.traceback and "kernel.py" not in result.error.traceback
    assert "return 1 / 0" in result.error.traceback


async def test_python_syntax_error(client: SandboxdClient) -> None:
    result = await client.python("def (")
    assert result.error is not None and result.error.ename == "SyntaxError"


async def test_python_subprocess_output_is_captured(client: SandboxdClient) -> None:
    result = await client.python("import os\nos.system('echo from-child; echo e >&2')")
    assert result.stdout == "from-child\n" and result.stderr == "e\n" and result.result == "0"


async def test_python_timeout_interrupts_and_session_survives(client: SandboxdClient) -> None:
    await client.python("kept = 'yes'")
    result = await client.python("import time\nprint('start', flush=True)\ntime.sleep(30)", timeout_s=0.3)
    assert result.timed_out and result.stdout == "start\n"
    assert result.error is not None and result.error.ename == "KeyboardInterrupt"
    assert (await client.python("kept")).result == "'yes'"


async def test_python_unkillable_cell_restarts_kernel(
    client: SandboxdClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pysession, "INTERRUPT_GRACE_S", 0.3)
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)"
    result = await client.python(code, timeout_s=0.2)
    assert result.timed_out and result.error is not None and result.error.ename == "KernelDied"
    again = await client.python("1 + 1")
    assert again.result == "2" and "started a new one" in again.stdout
