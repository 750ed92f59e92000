"""Persistent bash sessions: cwd, exported variables and background jobs survive between calls.

Each call writes the command (quoted, run through ``eval`` with stdin from /dev/null so it cannot
eat the control stream) followed by a line that prints a unique marker, the background job pids,
the exit status and ``$PWD``. The reply is complete when the marker comes back on the pipe: no
polling. stderr shares stdout's pipe, so output is interleaved as in a terminal.

On timeout the command's processes (bash's children that are not background jobs, and their
descendants) get SIGINT, then SIGKILL; bash itself survives, prints the marker, and the session
stays usable. A command bash runs itself (``while :; do :; done``) cannot be interrupted that
way: then the session is killed and restarted on the next call.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field

from runtime.sandboxd import procs
from runtime.sandboxd.execute import open_reader
from runtime.sandboxd.protocol import ShellResult, ShellRun

READ_SIZE = 65536
INTERRUPT_GRACE_S = 1.0
RESTARTED_NOTE = (
    "[sandboxd: the previous shell of this session exited; started a new one"
    " (cwd, variables and jobs were reset)]\n"
)
SHELL_ENV = {"TERM": "dumb", "PAGER": "cat", "GIT_PAGER": "cat"}


def ansi_quote(text: str) -> str:
    """Quote ``text`` as one bash ``$'...'`` word (any bytes but NUL survive)."""
    out = []
    for ch in text:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


@dataclass
class _Scan:
    """Split the pipe into command output and the trailer between two markers."""

    mark: bytes
    cap: int
    output: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    trailer: bytes | None = None
    _buf: bytearray = field(default_factory=bytearray)
    _in_trailer: bool = False

    def feed(self, data: bytes) -> bool:
        self._buf += data
        if not self._in_trailer:
            i = self._buf.find(self.mark)
            if i < 0:
                keep = len(self.mark) - 1
                self._take(self._buf[: max(0, len(self._buf) - keep)])
                del self._buf[: max(0, len(self._buf) - keep)]
                return False
            self._take(self._buf[:i])
            del self._buf[: i + len(self.mark)]
            self._in_trailer = True
        j = self._buf.find(self.mark)
        if j < 0:
            return False
        self.trailer = bytes(self._buf[:j])
        return True

    def _take(self, data: bytes | bytearray) -> None:
        room = self.cap - len(self.output)
        if len(data) > room:
            self.truncated = True
        self.output += data[: max(0, room)]


class ShellSession:
    def __init__(self, name: str, root: str, children: procs.Children) -> None:
        self.name = name
        self.root = root
        self.cwd = root
        self.children = children
        self.lock = asyncio.Lock()
        self.jobs: set[int] = set()
        self._proc: subprocess.Popen[bytes] | None = None
        self._exited: asyncio.Future[int] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.WriteTransport | None = None
        self._read_transport: asyncio.ReadTransport | None = None

    @property
    def alive(self) -> bool:
        return self._exited is not None and not self._exited.done()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        proc = procs.spawn(
            ["bash", "--noprofile", "--norc"], cwd=self.root, env={**os.environ, **SHELL_ENV},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self._proc, self._exited = proc, self.children.watch(proc)
        self._read_transport, self._reader = await open_reader(proc.stdout)
        self._writer, _ = await loop.connect_write_pipe(asyncio.Protocol, proc.stdin)
        self.cwd, self.jobs = self.root, set()

    async def run(self, req: ShellRun) -> ShellResult:
        started = time.monotonic()
        note = ""
        if not self.alive:
            note = RESTARTED_NOTE if self._proc is not None else ""
            await self.close()
            await self._start()
        assert self._writer is not None and self._reader is not None and self._exited is not None
        mark = f"__HANGAR_{secrets.token_hex(8)}__"
        self._writer.write(
            f"__hangar_c={ansi_quote(req.command)}\n"
            f'eval "$__hangar_c" < /dev/null\n'
            f"__hangar_rc=$?; printf '%s' '{mark}'; jobs -p; "
            f"printf '%s %s\\n%s' \"$__hangar_rc\" \"$PWD\" '{mark}'\n".encode()
        )
        scan = _Scan(mark.encode(), req.max_output_bytes)
        timed_out = await self._read_reply(scan, req.timeout_s)
        exit_code = self._parse_trailer(scan.trailer) if scan.trailer is not None else await self._died()
        return ShellResult(
            output=note + scan.output.decode("utf-8", errors="replace"), exit_code=exit_code,
            timed_out=timed_out, truncated=scan.truncated, cwd=self.relative_cwd(),
            duration_ms=(time.monotonic() - started) * 1000,
        )

    def relative_cwd(self) -> str:
        inside = self.cwd == self.root or self.cwd.startswith(self.root + os.sep)
        return os.path.relpath(self.cwd, self.root) if inside else self.cwd

    async def _read_reply(self, scan: _Scan, timeout_s: float | None) -> bool:
        """Read until the trailer arrives or bash dies; returns whether the command timed out."""
        deadline = time.monotonic() + timeout_s if timeout_s else None
        escalation = [signal.SIGINT, signal.SIGKILL, None]
        timed_out = False
        while True:
            left = deadline - time.monotonic() if deadline is not None else None
            try:
                data = await asyncio.wait_for(self._reader_().read(READ_SIZE), left)
            except TimeoutError:
                timed_out = True
                sig = escalation.pop(0)
                if sig is None:
                    await self.close()  # bash itself is stuck: give up on this session
                    return True
                self._interrupt(sig)
                deadline = time.monotonic() + INTERRUPT_GRACE_S
                continue
            if not data or scan.feed(data):
                return timed_out

    def _reader_(self) -> asyncio.StreamReader:
        assert self._reader is not None
        return self._reader

    def _interrupt(self, sig: int) -> None:
        assert self._proc is not None
        running = [pid for pid in procs.children_of(self._proc.pid) if pid not in self.jobs]
        procs.signal_pids(procs.descendants(running), sig)

    def _parse_trailer(self, trailer: bytes) -> int:
        lines = trailer.decode("utf-8", errors="replace").removesuffix("\n").split("\n")
        status, _, cwd = lines[-1].partition(" ")
        self.jobs = {int(p) for p in lines[:-1] if p.strip().isdigit()}
        self.cwd = cwd or self.cwd
        try:
            return int(status)
        except ValueError:
            return -1

    async def _died(self) -> int:
        assert self._exited is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._exited), INTERRUPT_GRACE_S)
        except TimeoutError:
            await self.close()
            return -int(signal.SIGKILL)

    async def close(self) -> None:
        """Kill bash and everything it started (idempotent)."""
        if self._proc is not None and self._exited is not None and not self._exited.done():
            procs.signal_group(self._proc.pid, signal.SIGKILL)
            await asyncio.shield(self._exited)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._read_transport is not None:
            self._read_transport.close()
            self._read_transport = None


class ShellSessions:
    def __init__(self, root: str, children: procs.Children) -> None:
        self.root = root
        self.children = children
        self.sessions: dict[str, ShellSession] = {}

    async def run(self, req: ShellRun) -> ShellResult:
        session = self.sessions.get(req.session)
        if session is None:
            session = self.sessions[req.session] = ShellSession(req.session, self.root, self.children)
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
