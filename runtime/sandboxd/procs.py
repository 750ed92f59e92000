"""Child processes: spawning in a new session, waiting without polling, killing whole trees.

Waiting has two modes. The daemon (often PID 1 of the box) must also reap orphans that the
kernel reparents to it, so it reaps everything on ``SIGCHLD`` (``reap_all=True``). In-process
use (the local backend, tests) must not steal other children of the host process, so it waits on
a pidfd per child. asyncio's own subprocess machinery is not used, so the two never race.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable, Sequence
from typing import IO, Any

from runtime.errors import InputError

KILL_GRACE_S = 0.5


class Children:
    """Turns child exits into futures. ``start``/``close`` bracket its life on one event loop."""

    def __init__(self, *, reap_all: bool = False) -> None:
        self.reap_all = reap_all
        self._waiters: dict[int, asyncio.Future[int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.reap_all:
            self._loop.add_signal_handler(signal.SIGCHLD, self._reap)
            self._reap()

    def close(self) -> None:
        if self.reap_all and self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGCHLD)

    def watch(self, proc: subprocess.Popen[bytes]) -> asyncio.Future[int]:
        """A future of the exit code (``-N`` for signal N). Call right after spawning, before any await."""
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        fut.add_done_callback(lambda f: _set_returncode(proc, f))
        if self.reap_all:
            self._waiters[proc.pid] = fut
            self._reap()
            return fut
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:  # no pidfd (old kernel, some gVisor versions): a blocking wait in a thread
            waiting = loop.run_in_executor(None, os.waitpid, proc.pid, 0)
            waiting.add_done_callback(lambda w: _resolve(fut, w.result()[1]))
            return fut
        loop.add_reader(pidfd, self._pidfd_ready, loop, pidfd, proc.pid, fut)
        return fut

    @staticmethod
    def _pidfd_ready(loop: asyncio.AbstractEventLoop, pidfd: int, pid: int, fut: asyncio.Future[int]) -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 255 << 8
        if not fut.done():
            fut.set_result(_code(status))

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            fut = self._waiters.pop(pid, None)
            if fut is not None and not fut.done():
                fut.set_result(_code(status))


def _resolve(fut: asyncio.Future[int], status: int) -> None:
    if not fut.done():
        fut.set_result(_code(status))


def _code(status: int) -> int:
    return os.waitstatus_to_exitcode(status)


def _set_returncode(proc: subprocess.Popen[bytes], fut: asyncio.Future[int]) -> None:
    # Popen never waited itself; telling it the code keeps it from warning "still running".
    if not fut.cancelled():
        proc.returncode = fut.result()


def spawn(
    argv: Sequence[str], *, cwd: str, env: dict[str, str] | None = None,
    stdin: int | IO[Any] | None = subprocess.DEVNULL, stdout: int | None = subprocess.PIPE,
    stderr: int | None = subprocess.PIPE, pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as the leader of a new session (so its whole tree can be signalled).

    Raises ``InputError`` when the program or the working directory does not exist.
    """
    try:
        return subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr,
            start_new_session=True, close_fds=True, pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError as e:
        raise InputError(f"cannot run {argv[0]!r}: {e.strerror}: {e.filename}") from e
    except PermissionError as e:
        raise InputError(f"cannot run {argv[0]!r}: permission denied") from e


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def signal_pids(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


async def kill_group(pgid: int, exited: asyncio.Future[int], grace_s: float = KILL_GRACE_S) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace_s`` (always, to catch stragglers)."""
    signal_group(pgid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(exited), grace_s)
    signal_group(pgid, signal.SIGKILL)


def _parents() -> dict[int, int]:
    """pid -> ppid for every process we can see (``/proc`` scan; cheap in a box)."""
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        out[int(name)] = int(fields[1])
    return out


def descendants(roots: Iterable[int]) -> list[int]:
    """``roots`` and all their descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    stack = list(roots)
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def children_of(pid: int) -> list[int]:
    return [child for child, parent in _parents().items() if parent == pid]
