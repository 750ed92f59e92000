"""Route handlers: validate the request with the wire models, call the executors, shape the reply.

Loaded on the first request that needs them (see ``app.ROUTES``); each takes the shared
:class:`~runtime.sandboxd.app.Daemon` and the request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from runtime.errors import InfraError, InputError
from runtime.sandboxd import files
from runtime.sandboxd.app import Daemon, Request, Response, json_response
from runtime.sandboxd.execute import run_exec
from runtime.sandboxd.protocol import (
    BrowserAction,
    DeleteRequest,
    ExecRequest,
    ListRequest,
    MoveRequest,
    PathRequest,
    PythonRun,
    ReadRequest,
    SessionRef,
    ShellRun,
)
from runtime.sandboxd.pysession import PythonSessions
from runtime.sandboxd.shell import ShellSessions
from runtime.sandboxd.tarstream import extract_tar, iter_tar
from runtime.sandboxd.usage import measure

M = TypeVar("M", bound=BaseModel)
_BROWSER_ACTION: TypeAdapter[Any] = TypeAdapter(BrowserAction)


async def _parse(req: Request, model: type[M]) -> M:
    return model.model_validate_json(await req.body() or b"{}")


def _model(model: BaseModel) -> Response:
    return Response(model.model_dump_json().encode())


def _flag(req: Request, name: str) -> bool:
    return req.query.get(name, "").lower() in ("1", "true", "yes")


# --- exec and sessions ---------------------------------------------------------------------------


async def exec_command(d: Daemon, req: Request) -> Response:
    r = await _parse(req, ExecRequest)
    if (r.argv is None) == (r.command is None) or r.argv == []:
        raise InputError("give exactly one of argv (non-empty) or command")
    cwd = files.directory(d.workspace, r.cwd or ".")
    return Response(run_exec(r, cwd=cwd, children=d.get_children()), content_type="application/x-ndjson")


def _shells(d: Daemon) -> ShellSessions:
    if d.shells is None:
        d.shells = ShellSessions(d.workspace.root, d.get_children())
    return d.shells


def _pythons(d: Daemon) -> PythonSessions:
    if d.pythons is None:
        d.pythons = PythonSessions(d.workspace.root, d.get_children())
    return d.pythons


async def shell_run(d: Daemon, req: Request) -> Response:
    r = await _parse(req, ShellRun)
    return _model(await _shells(d).run(r))


async def shell_close(d: Daemon, req: Request) -> Response:
    r = await _parse(req, SessionRef)
    await _shells(d).close(r.session)
    return json_response({})


async def python_run(d: Daemon, req: Request) -> Response:
    r = await _parse(req, PythonRun)
    return _model(await _pythons(d).run(r))


async def python_close(d: Daemon, req: Request) -> Response:
    r = await _parse(req, SessionRef)
    await _pythons(d).close(r.session)
    return json_response({})


# --- files ---------------------------------------------------------------------------------------


async def files_list(d: Daemon, req: Request) -> Response:
    r = await _parse(req, ListRequest)
    return _model(await asyncio.to_thread(
        files.list_dir, d.workspace, r.path, recursive=r.recursive, max_entries=r.max_entries
    ))


async def files_stat(d: Daemon, req: Request) -> Response:
    r = await _parse(req, PathRequest)
    return _model(files.info(d.workspace, d.workspace.existing(r.path)))


async def files_read(d: Daemon, req: Request) -> Response:
    r = await _parse(req, ReadRequest)
    real = files.regular(d.workspace, r.path)
    return Response(_read(real, r.offset, r.length), content_type="application/octet-stream")


async def _read(real: str, offset: int, length: int | None) -> AsyncIterator[bytes]:
    chunks = files.read_chunks(real, offset, length)
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        yield chunk


async def files_write(d: Daemon, req: Request) -> Response:
    path = req.query.get("path")
    if not path:
        raise InputError("query parameter 'path' is required")
    try:
        mode = int(req.query["mode"], 0) if req.query.get("mode") else None
    except ValueError as e:
        raise InputError(f"mode must be an integer, got {req.query['mode']!r}") from e
    real, f = await asyncio.to_thread(
        files.open_for_write, d.workspace, path, append=_flag(req, "append"), mode=mode
    )
    try:
        async for chunk in req.chunks():
            await asyncio.to_thread(f.write, chunk)
    finally:
        await asyncio.to_thread(f.close)
    return _model(files.info(d.workspace, real))


async def files_mkdir(d: Daemon, req: Request) -> Response:
    r = await _parse(req, PathRequest)
    return _model(await asyncio.to_thread(files.mkdir, d.workspace, r.path))


async def files_move(d: Daemon, req: Request) -> Response:
    r = await _parse(req, MoveRequest)
    return _model(await asyncio.to_thread(files.move, d.workspace, r.src, r.dst, overwrite=r.overwrite))


async def files_delete(d: Daemon, req: Request) -> Response:
    r = await _parse(req, DeleteRequest)
    await asyncio.to_thread(files.delete, d.workspace, r.path, recursive=r.recursive)
    return json_response({})


async def files_upload(d: Daemon, req: Request) -> Response:
    dest = files.directory(d.workspace, req.query.get("path") or ".", create=True)
    result = await extract_tar(req.chunks(), dest, d.workspace.root, limits=files.extract_limits(req.query))
    return json_response({"files": result.entries, "bytes": result.bytes})


async def files_usage(d: Daemon, req: Request) -> Response:
    stops = {name: files.optional_int(req.query, name) for name in ("stop_bytes", "stop_entries")}
    usage = await asyncio.to_thread(measure, d.workspace.root, **stops)
    return json_response(dataclasses.asdict(usage))


async def files_download(d: Daemon, req: Request) -> Response:
    real = d.workspace.existing(req.query.get("path") or ".")
    arcname = "." if real == d.workspace.root else os.path.basename(real)
    return Response(iter_tar(real, arcname), content_type="application/x-tar")


# --- browser -------------------------------------------------------------------------------------


async def browser_action(d: Daemon, req: Request) -> Response:
    action = _BROWSER_ACTION.validate_json(await req.body() or b"{}")
    if d.browser is None:
        try:
            from runtime.sandboxd.browser import Browser
        except ImportError as e:
            raise InfraError(f"the browser is not available in this sandbox: {e}", retryable=False) from e
        d.browser = Browser(workspace=d.workspace.root)
    result = await d.browser.run(action)
    return _model(result)
