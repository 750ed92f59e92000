"""The Python session kernel: a child process that runs cells like a notebook.

Run as ``python -I -u kernel.py IN_FD OUT_FD CWD`` from a directory outside the workspace, so its
own imports never come from the workspace; it then moves to ``CWD`` and puts ``""`` first on
``sys.path`` for the agent's code, like an interactive interpreter. Standard library only, and it
imports nothing from ``runtime``. Requests and replies are JSON frames (4-byte big-endian length,
then UTF-8 JSON) on two extra pipes, so the user's stdout/stderr (fds 1 and 2, at the OS level:
subprocesses and C extensions included) stay separate. After each cell the kernel writes the
cell's marker twice to fd 1 and fd 2; sandboxd reads each stream up to it, then the reply frame.

A request is ``{"code": str, "mark": str, "max_repr": int}``; the reply is ``{"result": str|null,
"error": {"ename","evalue","traceback"}|null, "images": [base64 PNG]}``.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import builtins
import contextlib
import inspect
import io
import json
import linecache
import os
import struct
import sys
import traceback
import types
from typing import Any

_HERE = os.path.abspath(__file__)


def read_frame(fd: int) -> dict[str, Any] | None:
    header = _read_exactly(fd, 4)
    if header is None:
        return None
    body = _read_exactly(fd, struct.unpack(">I", header)[0])
    return None if body is None else dict(json.loads(body))


def _read_exactly(fd: int, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def write_frame(fd: int, obj: object) -> None:
    body = json.dumps(obj).encode()
    data = struct.pack(">I", len(body)) + body
    while data:
        data = data[os.write(fd, data):]


class Kernel:
    def __init__(self) -> None:
        main = types.ModuleType("__main__")
        main.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = main
        self.ns = main.__dict__
        self.count = 0
        self.loop = asyncio.new_event_loop()

    def run_cell(self, code: str, max_repr: int) -> dict[str, Any]:
        self.count += 1
        filename = f"<cell-{self.count}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        reply: dict[str, Any] = {"result": None, "error": None, "images": []}
        try:
            value = self._execute(code, filename)
            if value is not None:
                self.ns["_"] = value
                text = repr(value)
                if len(text) > max_repr:
                    text = text[:max_repr] + f"... [{len(text) - max_repr} more characters]"
                reply["result"] = text
        except BaseException as e:  # the cell's failure is data, KeyboardInterrupt included
            if isinstance(e, SystemExit):
                reply["error"] = {"ename": "SystemExit", "evalue": str(e.code), "traceback": ""}
            else:
                reply["error"] = _error(e)
        reply["images"] = _figures()
        return reply

    def _execute(self, code: str, filename: str) -> object:
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        tree = ast.parse(code, filename)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        assert last is None or isinstance(last, ast.Expr)
        if tree.body:
            self._run(compile(tree, filename, "exec", flags=flags))
        if last is None:
            return None
        return self._run(compile(ast.Expression(last.value), filename, "eval", flags=flags))

    def _run(self, code: types.CodeType) -> object:
        value = eval(code, self.ns)
        if code.co_flags & inspect.CO_COROUTINE:
            value = self.loop.run_until_complete(value)
        return value


def _error(e: BaseException) -> dict[str, str]:
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == _HERE:
        tb = tb.tb_next  # hide the kernel's own frames
    lines = traceback.format_exception(type(e), e, tb)
    return {"ename": type(e).__name__, "evalue": str(e), "traceback": "".join(lines)}


def _figures() -> list[str]:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    images = []
    try:
        for num in plt.get_fignums():
            buf = io.BytesIO()
            plt.figure(num).savefig(buf, format="png", bbox_inches="tight")
            images.append(base64.b64encode(buf.getvalue()).decode())
    finally:
        plt.close("all")
    return images


def _mark(mark: str) -> None:
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        with contextlib.suppress(Exception):  # the user may have replaced or closed it
            stream.flush()
        data = (mark + mark).encode()
        while data:
            data = data[os.write(fd, data):]


def main() -> None:
    in_fd, out_fd = int(sys.argv[1]), int(sys.argv[2])
    if len(sys.argv) > 3:
        os.chdir(sys.argv[3])
    if sys.flags.safe_path:
        sys.path.insert(0, "")  # the agent's code may import its own modules (after ours)
    else:
        sys.path[0] = ""  # started without -I: the cwd, not this file's folder
    del sys.argv[1:]
    kernel = Kernel()
    while True:
        try:
            request = read_frame(in_fd)
            if request is None:
                return
            reply = kernel.run_cell(request["code"], int(request.get("max_repr", 20_000)))
            _mark(request["mark"])
            write_frame(out_fd, reply)
        except KeyboardInterrupt:
            continue  # an interrupt that landed between cells


if __name__ == "__main__":
    main()
