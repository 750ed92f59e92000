"""One-shot commands: run, stream output as NDJSON events, enforce timeouts and the output cap.

The command leads its own process group. Timeouts, and the client going away (the generator is
closed or cancelled), kill the whole group: SIGTERM, then SIGKILL after a short grace.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from runtime.sandboxd import procs
from runtime.sandboxd.protocol import ExecExit, ExecRequest, OutputChunk

READ_SIZE = 65536
DRAIN_AFTER_EXIT_S = 0.2
"""How long to keep reading after the command exited (a background child may hold the pipes)."""


@dataclass
class _Budget:
    left: int
    truncated: bool = False

    def take(self, data: bytes) -> bytes:
        if len(data) > self.left:
            self.truncated = True
            data = data[: self.left]
        self.left -= len(data)
        return data


@dataclass
class _Run:
    queue: asyncio.Queue[tuple[str, bytes] | None] = field(default_factory=asyncio.Queue)
    open_streams: int = 2


async def _pump(name: str, reader: asyncio.StreamReader, run: _Run) -> None:
    while data := await reader.read(READ_SIZE):
        await run.queue.put((name, data))
    await run.queue.put(None)


async def open_reader(pipe: object) -> tuple[asyncio.ReadTransport, asyncio.StreamReader]:
    """An asyncio reader over a pipe; close the transport (not the pipe) when done."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_SIZE * 4)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return transport, reader


async def _feed_stdin(pipe: object, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, pipe)
    try:
        transport.write(data)
    finally:
        transport.close()  # flushes what is buffered, then closes: the command sees EOF


def _argv(req: ExecRequest) -> list[str]:
    if req.argv:
        return req.argv
    return ["bash", "-c", req.command or ""]


async def run_exec(req: ExecRequest, *, cwd: str, children: procs.Children) -> AsyncIterator[bytes]:
    """Yield NDJSON lines (``OutputChunk``... then one ``ExecExit``) for one command."""
    started = time.monotonic()
    env = {**os.environ, **req.env}
    try:
        proc = procs.spawn(
            _argv(req), cwd=cwd, env=env,
            stdin=subprocess.PIPE if req.stdin is not None else subprocess.DEVNULL,
        )
    except Exception as e:  # a missing program reads like it does in a shell: exit 127
        yield _chunk("stderr", f"{e}\n")
        yield _exit_line(127, started)
        return
    exited = children.watch(proc)
    state = _Run()
    pumps: list[asyncio.Task[None]] = []
    transports: list[asyncio.ReadTransport] = []
    try:
        if proc.stdin is not None:
            await _feed_stdin(proc.stdin, (req.stdin or "").encode())
        assert proc.stdout is not None and proc.stderr is not None
        for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            transport, reader = await open_reader(pipe)
            transports.append(transport)
            pumps.append(asyncio.create_task(_pump(name, reader, state)))
        async for line in _stream(req, state, exited, proc.pid, started):
            yield line
    finally:
        if not exited.done():  # client went away or we were cancelled: kill the group
            await procs.kill_group(proc.pid, exited)
        for task in pumps:
            task.cancel()
        for transport in transports:
            transport.close()


async def _stream(
    req: ExecRequest, state: _Run, exited: asyncio.Future[int], pid: int, started: float
) -> AsyncIterator[bytes]:
    budget = _Budget(req.max_output_bytes)
    decoders = {n: codecs.getincrementaldecoder("utf-8")(errors="replace") for n in ("stdout", "stderr")}
    exited.add_done_callback(lambda _: state.queue.put_nowait(("exit", b"")))
    deadline = started + req.timeout_s if req.timeout_s else None
    timed_out = idle_timed_out = False
    drain_until: float | None = None
    while state.open_streams:
        now = time.monotonic()
        waits = [d - now for d in (deadline, drain_until) if d is not None]
        if req.idle_timeout_s and drain_until is None:
            waits.append(req.idle_timeout_s)
        try:
            item = await asyncio.wait_for(state.queue.get(), max(0.0, min(waits)) if waits else None)
        except TimeoutError:
            if drain_until is not None:
                break  # a background child keeps the pipes open; don't wait for it
            timed_out = deadline is not None and time.monotonic() >= deadline
            idle_timed_out = not timed_out
            await procs.kill_group(pid, exited)
            drain_until = time.monotonic() + DRAIN_AFTER_EXIT_S
            continue
        if item is None:
            state.open_streams -= 1
            continue
        name, data = item
        if name == "exit":
            drain_until = drain_until or time.monotonic() + DRAIN_AFTER_EXIT_S
            continue
        if text := decoders[name].decode(budget.take(data)):
            yield _chunk(name, text)
    for name, decoder in decoders.items():
        if tail := decoder.decode(b"", final=True):
            yield _chunk(name, tail)
    if not exited.done():  # the pipes closed but the command runs on: wait within the deadline
        left = deadline - time.monotonic() if deadline is not None else None
        try:
            await asyncio.wait_for(asyncio.shield(exited), left)
        except TimeoutError:
            timed_out = True
            await procs.kill_group(pid, exited)
    yield _exit_line(await exited, started, timed_out=timed_out, idle_timed_out=idle_timed_out,
                     truncated=budget.truncated)


def _chunk(stream: str, text: str) -> bytes:
    event = OutputChunk(type="stdout" if stream == "stdout" else "stderr", data=text)
    return event.model_dump_json().encode() + b"\n"


def _exit_line(code: int, started: float, **flags: bool) -> bytes:
    duration_ms = (time.monotonic() - started) * 1000
    return ExecExit(exit_code=code, duration_ms=duration_ms, **flags).model_dump_json().encode() + b"\n"
