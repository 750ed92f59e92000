"""Persistent Python sessions: one kernel process per session (see ``kernel``).

A timeout sends SIGINT (the cell sees ``KeyboardInterrupt`` and the session lives on); if the
kernel does not answer within a grace period it is killed and a new one starts on the next call.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import struct
import subprocess
import sys
import time
from typing import IO, Any

from runtime.sandboxd import procs
from runtime.sandboxd.execute import open_reader
from runtime.sandboxd.protocol import PythonError, PythonResult, PythonRun
from runtime.sandboxd.shell import _Scan

KERNEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel.py")
KERNEL_START_DIR = os.path.dirname(KERNEL)
INTERRUPT_GRACE_S = 2.0
MAX_REPR = 20_000
RESTARTED_NOTE = "[sandboxd: the previous Python process of this session exited; started a new one]\n"


class _Kernel:
    """One running kernel process and its four pipes."""

    def __init__(self, proc: subprocess.Popen[bytes], exited: asyncio.Future[int]) -> None:
        self.proc, self.exited = proc, exited
        self.transports: list[asyncio.BaseTransport] = []
        self.out: asyncio.StreamReader | None = None
        self.err: asyncio.StreamReader | None = None
        self.ctrl_in: asyncio.WriteTransport | None = None
        self.ctrl_out: asyncio.StreamReader | None = None

    @classmethod
    async def start(cls, cwd: str, children: procs.Children) -> _Kernel:
        to_kernel_r, to_kernel_w = os.pipe()
        from_kernel_r, from_kernel_w = os.pipe()
        try:
            # Isolated mode from outside the workspace: the kernel's own imports never come from it;
            # it moves to ``cwd`` (and puts it on sys.path for the agent's code) once they are done.
            proc = procs.spawn(
                [sys.executable, "-I", "-u", KERNEL, str(to_kernel_r), str(from_kernel_w), cwd],
                cwd=KERNEL_START_DIR, env={"MPLBACKEND": "Agg", **os.environ},
                pass_fds=(to_kernel_r, from_kernel_w),
            )
        finally:
            os.close(to_kernel_r)
            os.close(from_kernel_w)
        kernel = cls(proc, children.watch(proc))
        loop = asyncio.get_running_loop()
        ctrl_out = _pipe_file(from_kernel_r, "rb")
        for attr, pipe in (("out", proc.stdout), ("err", proc.stderr), ("ctrl_out", ctrl_out)):
            transport, reader = await open_reader(pipe)
            kernel.transports.append(transport)
            setattr(kernel, attr, reader)
        kernel.ctrl_in, _ = await loop.connect_write_pipe(asyncio.Protocol, _pipe_file(to_kernel_w, "wb"))
        kernel.transports.append(kernel.ctrl_in)
        return kernel

    def send(self, request: dict[str, Any]) -> None:
        assert self.ctrl_in is not None
        body = json.dumps(request).encode()
        self.ctrl_in.write(struct.pack(">I", len(body)) + body)

    async def reply(self) -> dict[str, Any]:
        assert self.ctrl_out is not None
        header = await self.ctrl_out.readexactly(4)
        return dict(json.loads(await self.ctrl_out.readexactly(struct.unpack(">I", header)[0])))

    async def kill(self) -> None:
        if not self.exited.done():
            procs.signal_group(self.proc.pid, signal.SIGKILL)
            await asyncio.shield(self.exited)
        for transport in self.transports:
            transport.close()


def _pipe_file(fd: int, mode: str) -> IO[bytes]:
    return os.fdopen(fd, mode, buffering=0)


async def _read_until(reader: asyncio.StreamReader, scan: _Scan) -> None:
    while data := await reader.read(65536):
        if scan.feed(data):
            return


class PythonSession:
    def __init__(self, root: str, children: procs.Children) -> None:
        self.root, self.children = root, children
        self.lock = asyncio.Lock()
        self.kernel: _Kernel | None = None
        self.started_once = False

    async def run(self, req: PythonRun) -> PythonResult:
        started = time.monotonic()
        note = ""
        if self.kernel is None or self.kernel.exited.done():
            note = RESTARTED_NOTE if self.started_once else ""
            await self.close()
            self.kernel = await _Kernel.start(self.root, self.children)
            self.started_once = True
        kernel = self.kernel
        mark = f"__HANGAR_{secrets.token_hex(8)}__"
        out, err = _Scan(mark.encode(), req.max_output_bytes), _Scan(mark.encode(), req.max_output_bytes)
        assert kernel.out is not None and kernel.err is not None
        kernel.send({"code": req.code, "mark": mark, "max_repr": MAX_REPR})
        work = asyncio.gather(_read_until(kernel.out, out), _read_until(kernel.err, err), kernel.reply())
        reply, timed_out = await self._wait(work, kernel, req.timeout_s)
        return _result(note, out, err, reply, timed_out, req.max_output_bytes, started)

    async def _wait(
        self, work: asyncio.Future[Any], kernel: _Kernel, timeout_s: float | None
    ) -> tuple[dict[str, Any] | None, bool]:
        try:
            return (await asyncio.wait_for(asyncio.shield(work), timeout_s))[2], False
        except TimeoutError:
            procs.signal_pids([kernel.proc.pid], signal.SIGINT)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()  # the kernel died mid-cell (os._exit, out of memory...)
            return None, False
        try:
            return (await asyncio.wait_for(asyncio.shield(work), INTERRUPT_GRACE_S))[2], True
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            work.cancel()
            return None, True

    async def close(self) -> None:
        if self.kernel is not None:
            kernel, self.kernel = self.kernel, None
            await kernel.kill()


def _result(
    note: str, out: _Scan, err: _Scan, reply: dict[str, Any] | None, timed_out: bool, cap: int,
    started: float,
) -> PythonResult:
    stdout = bytes(out.output[:cap])
    stderr = bytes(err.output[: max(0, cap - len(stdout))])
    dropped = len(stdout) + len(stderr) < len(out.output) + len(err.output)
    error = None
    if reply is None:
        error = PythonError(ename="KernelDied", evalue="the Python process exited or was killed",
                            traceback="")
    elif reply.get("error"):
        error = PythonError.model_validate(reply["error"])
    return PythonResult(
        stdout=note + stdout.decode("utf-8", errors="replace"),
        stderr=stderr.decode("utf-8", errors="replace"),
        result=reply.get("result") if reply else None, error=error,
        images=reply.get("images", []) if reply else [], timed_out=timed_out,
        truncated=out.truncated or err.truncated or dropped,
        duration_ms=(time.monotonic() - started) * 1000,
    )


class PythonSessions:
    def __init__(self, root: str, children: procs.Children) -> None:
        self.root, self.children = root, children
        self.sessions: dict[str, PythonSession] = {}

    async def run(self, req: PythonRun) -> PythonResult:
        session = self.sessions.setdefault(req.session, PythonSession(self.root, self.children))
        async with session.lock:
            return await session.run(req)

    async def close(self, name: str) -> None:
        session = self.sessions.pop(name, None)
        if session is not None:
            async with session.lock:
                await session.close()

    async def close_all(self) -> None:
        for name in list(self.sessions):
            await self.close(name)
