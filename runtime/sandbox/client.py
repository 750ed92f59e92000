"""Host-side client of sandboxd, over any httpx transport (a unix socket, or the app in-process).

One ``httpx.AsyncClient`` keeps its connection alive, so a call costs a round trip on an open
socket. Errors arrive typed: a 4xx/5xx body becomes the matching ``runtime.errors`` class; a dead
or missing daemon (socket gone, connection dropped mid-reply) becomes ``SandboxGone``; a reply
that takes longer than the operation's own timeout plus a margin becomes ``Timeout``. Cancelling
a call closes its connection, and sandboxd then kills what the call was running.

Every byte from the box is untrusted (code in the box can put its own server on the socket): each
reply is read up to a bound of its own (JSON replies, error bodies, each exec line and the whole
exec stream, ``read_file``'s ``length``) and, when the call has a timeout, within a total deadline;
compressed replies are neither asked for nor accepted; a reply that breaks the protocol raises
:class:`SandboxGone` and tells ``on_protocol_error``, so the box's owner can retire the box.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from runtime.errors import HangarError, InfraError, SandboxGone, Timeout, from_body
from runtime.sandbox.base import OutputCallback
from runtime.sandbox.transport import SocketRefused
from runtime.sandboxd.protocol import (
    DEFAULT_MAX_OUTPUT,
    BrowserAction,
    BrowserResult,
    DeleteRequest,
    ExecEvent,
    ExecExit,
    ExecRequest,
    ExecResult,
    FileInfo,
    Health,
    ListRequest,
    ListResult,
    MoveRequest,
    OutputChunk,
    PathRequest,
    PythonResult,
    PythonRun,
    ReadRequest,
    SessionRef,
    ShellResult,
    ShellRun,
)
from runtime.sandboxd.tarstream import ExtractLimits, ExtractResult, extract_tar, iter_tar
from runtime.sandboxd.usage import Usage

M = TypeVar("M", bound=BaseModel)

MARGIN_S = 15.0
"""Added to an operation's own timeout: interrupt grace periods, kernel restarts, transfer."""
DEFAULT_TIMEOUT_S = 60.0
"""Request timeout of quick operations (files, session close)."""
DOWNLOAD_CHUNK = 64 * 1024
"""Downloads reach the caller in pieces of this size at most: a transport that hands over the whole
body at once (the in-process ASGI one) would otherwise make tar extraction quadratic."""

MAX_REPLY_BYTES = 32 * 1024 * 1024
"""Largest JSON reply (a recursive listing, a cell's images, a screenshot) or unbounded file read."""
MAX_ERROR_BYTES = 64 * 1024
"""Largest error body."""
MAX_EXEC_LINE = 1024 * 1024
"""Largest line of an exec stream (sandboxd sends output in pieces of 64 KiB at most)."""
EXEC_STREAM_SLACK = 1024 * 1024
"""Exec stream bytes allowed beyond the output budget's worst JSON escaping (6 bytes per byte)."""

_EXEC_EVENT: TypeAdapter[OutputChunk | ExecExit] = TypeAdapter(ExecEvent)
_BROWSER_ACTION: TypeAdapter[Any] = TypeAdapter(BrowserAction)
_COUNTS: TypeAdapter[dict[str, int]] = TypeAdapter(dict[str, int])
_USAGE: TypeAdapter[Usage] = TypeAdapter(Usage)


def _timeout(op_timeout_s: float | None, *, margin: bool = True) -> httpx.Timeout:
    if not margin:
        return httpx.Timeout(op_timeout_s)
    read = None if op_timeout_s is None else op_timeout_s + MARGIN_S
    return httpx.Timeout(connect=10.0, read=read, write=DEFAULT_TIMEOUT_S, pool=DEFAULT_TIMEOUT_S)


def _map_transport_error(path: str, e: httpx.HTTPError) -> HangarError:
    if isinstance(e.__cause__, SocketRefused):
        return _violation(path, str(e.__cause__))
    if isinstance(e, httpx.TimeoutException):
        return Timeout(f"sandboxd did not answer {path} in time ({type(e).__name__})")
    if isinstance(e, httpx.NetworkError | httpx.RemoteProtocolError):
        return SandboxGone(f"sandboxd is unreachable or went away during {path}: {e or type(e).__name__}")
    return InfraError(f"talking to sandboxd failed during {path}: {e!r}")


class ProtocolViolation(SandboxGone):
    """The box answered out of protocol (too big, compressed, malformed): it is not trusted any more."""


def _violation(path: str, why: str) -> ProtocolViolation:
    return ProtocolViolation(f"sandboxd answered {path} out of protocol ({why}); the sandbox is retired")


def _check_headers(path: str, resp: httpx.Response, limit: int) -> None:
    encoding = resp.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _violation(path, f"compressed reply ({encoding[:40]!r})")
    declared = resp.headers.get("content-length")
    if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
        raise _violation(path, f"declared length {declared[:40]!r} over the {limit}-byte bound")


async def read_bounded(resp: httpx.Response, path: str, limit: int) -> bytes:
    """The raw body, refusing it once it passes ``limit`` bytes (never decoded, never buffered past)."""
    _check_headers(path, resp, limit)
    buf = bytearray()
    async for chunk in resp.aiter_raw():
        buf += chunk
        if len(buf) > limit:
            raise _violation(path, f"reply longer than {limit} bytes")
    return bytes(buf)


async def bounded_lines(
    resp: httpx.Response, path: str, *, max_line: int, max_total: int
) -> AsyncIterator[bytes]:
    """The body's lines, refusing a line longer than ``max_line`` or a stream past ``max_total``."""
    _check_headers(path, resp, max_total)
    buf = bytearray()
    total = 0
    async for chunk in resp.aiter_raw():
        total += len(chunk)
        if total > max_total:
            raise _violation(path, f"stream longer than {max_total} bytes")
        buf += chunk
        while (end := buf.find(b"\n")) >= 0:
            line = bytes(buf[:end])
            del buf[: end + 1]
            yield line
        if len(buf) > max_line:
            raise _violation(path, f"a line longer than {max_line} bytes")
    if buf:
        yield bytes(buf)


async def _raise_for_error(path: str, resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    raw = await read_bounded(resp, path, MAX_ERROR_BYTES)
    body: object = raw
    with contextlib.suppress(ValueError, RecursionError):
        body = json.loads(raw)
    raise from_body(body, default_status=resp.status_code)


async def _deliver(on_output: OutputCallback | None, stream: str, text: str) -> None:
    if on_output is not None:
        maybe = on_output(stream, text)
        if inspect.isawaitable(maybe):
            await maybe


class SandboxdClient:
    """Typed calls to one sandboxd. Construct it, use it, ``aclose`` it."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport, token: str, *, base_url: str = "http://sandboxd"
    ) -> None:
        self._http = httpx.AsyncClient(
            transport=transport, base_url=base_url, headers={"authorization": f"Bearer {token}"},
            timeout=_timeout(DEFAULT_TIMEOUT_S),
        )
        # A compressed reply is a decompression bomb waiting to happen: never ask for one.
        del self._http.headers["accept-encoding"]
        self.on_activity: Callable[[], None] | None = None
        self.on_protocol_error: Callable[[ProtocolViolation], None] | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- plumbing ------------------------------------------------------------------------------

    def _touch(self) -> None:
        if self.on_activity is not None:
            self.on_activity()

    @contextlib.asynccontextmanager
    async def _stream(
        self, method: str, path: str, *, timeout_s: float | None = DEFAULT_TIMEOUT_S, margin: bool = True,
        **kwargs: Any,
    ) -> AsyncIterator[httpx.Response]:
        self._touch()
        if self._http.is_closed:
            raise SandboxGone(f"the sandboxd client is closed (the sandbox was stopped); cannot call {path}")
        timeout = _timeout(timeout_s, margin=margin)
        try:
            async with self._http.stream(method, path, timeout=timeout, **kwargs) as resp:
                await _raise_for_error(path, resp)
                yield resp
        except httpx.HTTPError as e:
            error = _map_transport_error(path, e)
            if isinstance(error, ProtocolViolation):
                self._violated(error)
            raise error from e
        except ProtocolViolation as e:
            self._violated(e)
            raise

    def _violated(self, error: ProtocolViolation) -> None:
        if self.on_protocol_error is not None:
            self.on_protocol_error(error)

    def _parse(self, model: type[M] | TypeAdapter[Any], path: str, data: bytes) -> Any:
        try:
            if isinstance(model, TypeAdapter):
                return model.validate_json(data)
            return model.model_validate_json(data)
        except ValidationError as e:
            error = _violation(path, f"malformed reply: {e.error_count()} validation error(s)")
            self._violated(error)
            raise error from None

    async def _call(
        self, path: str, body: BaseModel | None = None, *, timeout_s: float | None = DEFAULT_TIMEOUT_S,
        limit: int = MAX_REPLY_BYTES, **kwargs: Any,
    ) -> bytes:
        if body is not None:
            kwargs["content"] = body.model_dump_json(exclude_unset=True).encode()
            kwargs["headers"] = {"content-type": "application/json"}
        # The read timeout applies per read: a box trickling bytes would hold the call for ever.
        deadline = None if timeout_s is None else timeout_s + 2 * MARGIN_S
        try:
            async with asyncio.timeout(deadline):
                async with self._stream("POST", path, timeout_s=timeout_s, **kwargs) as resp:
                    return await read_bounded(resp, path, limit)
        except TimeoutError as e:
            raise Timeout(f"sandboxd did not finish {path} within {deadline:g} s") from e

    async def _model(self, model: type[M], path: str, body: BaseModel | None = None, **kwargs: Any) -> M:
        result: M = self._parse(model, path, await self._call(path, body, **kwargs))
        return result

    # --- lifecycle -----------------------------------------------------------------------------

    async def health(self, *, timeout_s: float = 5.0) -> Health:
        async with self._stream("GET", "/health", timeout_s=timeout_s, margin=False) as resp:
            data = await read_bounded(resp, "/health", MAX_ERROR_BYTES)
        result: Health = self._parse(Health, "/health", data)
        return result

    async def shutdown(self) -> None:
        """Ask sandboxd to exit. A connection dropped while it does so is not an error."""
        with contextlib.suppress(SandboxGone):
            await self._call("/shutdown", timeout_s=10.0)

    # --- commands ------------------------------------------------------------------------------

    async def exec(
        self, cmd: list[str] | str, *, cwd: str | None = None, env: dict[str, str] | None = None,
        stdin: str | None = None, timeout_s: float | None = None, idle_timeout_s: float | None = None,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT, on_output: OutputCallback | None = None,
    ) -> ExecResult:
        """Run a one-shot command (a string runs under ``bash -c``) and gather its output.

        ``on_output(stream, text)`` sees output as it arrives. A non-zero exit is a result, not an
        error; ``InputError`` for a bad request, ``SandboxGone``/``Timeout`` for infrastructure.
        """
        req = ExecRequest(
            argv=cmd if isinstance(cmd, list) else None, command=cmd if isinstance(cmd, str) else None,
            cwd=cwd, env=env or {}, stdin=stdin, timeout_s=timeout_s, idle_timeout_s=idle_timeout_s,
            max_output_bytes=max_output_bytes,
        )
        parts: dict[str, list[str]] = {"stdout": [], "stderr": []}
        max_total = 6 * max_output_bytes + EXEC_STREAM_SLACK
        result: ExecResult | None = None
        # Between chunks a silent command may run up to its timeout; without one, wait for ever.
        async with self._stream(
            "POST", "/exec", timeout_s=timeout_s, content=req.model_dump_json().encode()
        ) as resp:
            lines = bounded_lines(resp, "/exec", max_line=MAX_EXEC_LINE, max_total=max_total)
            try:
                async for line in lines:
                    if not line.strip() or result is not None:
                        continue
                    event = self._parse(_EXEC_EVENT, "/exec", line)
                    if isinstance(event, ExecExit):
                        # Read on to the end of the reply (sandboxd ends it at once), so its
                        # connection stays open for the next call; a box that holds the end back
                        # gains nothing it could not do by holding back the exit event.
                        result = ExecResult(
                            stdout="".join(parts["stdout"]), stderr="".join(parts["stderr"]),
                            **event.model_dump(exclude={"type"}),
                        )
                        continue
                    parts[event.type].append(event.data)
                    await _deliver(on_output, event.type, event.data)
            except httpx.HTTPError as e:
                if result is None:
                    raise _map_transport_error("/exec", e) from e
        if result is not None:
            return result
        raise SandboxGone("the exec stream ended without an exit event (sandboxd died?)")

    async def shell(
        self, command: str, *, session: str = "default", timeout_s: float | None = None
    ) -> ShellResult:
        req = ShellRun(session=session, command=command, timeout_s=timeout_s)
        return await self._model(ShellResult, "/shell/run", req, timeout_s=timeout_s)

    async def close_shell(self, session: str = "default") -> None:
        await self._call("/shell/close", SessionRef(session=session))

    async def python(
        self, code: str, *, session: str = "default", timeout_s: float | None = None
    ) -> PythonResult:
        req = PythonRun(session=session, code=code, timeout_s=timeout_s)
        return await self._model(PythonResult, "/python/run", req, timeout_s=timeout_s)

    async def close_python(self, session: str = "default") -> None:
        await self._call("/python/close", SessionRef(session=session))

    # --- files ---------------------------------------------------------------------------------

    async def list_files(self, path: str = ".", *, recursive: bool = False) -> list[FileInfo]:
        result = await self._model(ListResult, "/files/list", ListRequest(path=path, recursive=recursive))
        return result.entries

    async def stat(self, path: str) -> FileInfo:
        return await self._model(FileInfo, "/files/stat", PathRequest(path=path))

    async def read_file(self, path: str, *, offset: int = 0, length: int | None = None) -> bytes:
        req = ReadRequest(path=path, offset=offset, length=length)
        limit = MAX_REPLY_BYTES if length is None else length
        return await self._call("/files/read", req, timeout_s=None, limit=limit)

    async def write_file(
        self, path: str, data: bytes | str, *, append: bool = False, mode: int | None = None
    ) -> FileInfo:
        params: dict[str, str] = {"path": path, "append": "true" if append else "false"}
        if mode is not None:
            params["mode"] = str(mode)
        content = data.encode() if isinstance(data, str) else data
        body = await self._call("/files/write", params=params, content=content, timeout_s=None)
        result: FileInfo = self._parse(FileInfo, "/files/write", body)
        return result

    async def mkdir(self, path: str) -> FileInfo:
        return await self._model(FileInfo, "/files/mkdir", PathRequest(path=path))

    async def move(self, src: str, dst: str, *, overwrite: bool = False) -> FileInfo:
        return await self._model(FileInfo, "/files/move", MoveRequest(src=src, dst=dst, overwrite=overwrite))

    async def delete(self, path: str, *, recursive: bool = False) -> None:
        await self._call("/files/delete", DeleteRequest(path=path, recursive=recursive))

    async def upload_tar(
        self, dest: str, data: bytes | AsyncIterator[bytes], *, limits: ExtractLimits | None = None
    ) -> int:
        """Extract a tar stream under ``dest`` in the workspace; returns the number of entries.
        Raises :class:`LimitExceeded` when the archive passes ``limits`` (sandboxd's defaults
        when ``None``)."""
        params = {"path": dest}
        if limits is not None:
            params.update(
                max_bytes=str(limits.max_bytes), max_entries=str(limits.max_entries),
                bytes_setting=limits.bytes_setting, entries_setting=limits.entries_setting,
            )
        body = await self._call("/files/upload", params=params, content=data, timeout_s=None)
        counts: dict[str, int] = self._parse(_COUNTS, "/files/upload", body)
        if "files" not in counts:
            raise _violation("/files/upload", "no file count")
        return int(counts["files"])

    async def usage(self, *, stop_bytes: int | None = None, stop_entries: int | None = None) -> Usage:
        """Disk used by the workspace (the walk stops once past either bound)."""
        bounds = {"stop_bytes": stop_bytes, "stop_entries": stop_entries}
        params = {k: str(v) for k, v in bounds.items() if v is not None}
        body = await self._call("/files/usage", params=params)
        usage: Usage = self._parse(_USAGE, "/files/usage", body)
        return usage

    async def download_tar(self, path: str) -> AsyncIterator[bytes]:
        """A tar stream of a file or directory of the workspace, chunk by chunk."""
        async with self._stream("POST", "/files/download", params={"path": path}, timeout_s=None) as resp:
            try:
                _check_headers("/files/download", resp, 1 << 62)
                async for chunk in resp.aiter_raw(DOWNLOAD_CHUNK):
                    yield chunk
            except httpx.HTTPError as e:
                raise _map_transport_error("/files/download", e) from e

    async def upload_path(self, local: Path, dest: str = ".") -> int:
        """Upload a local file or directory (as ``dest/<its name>``)."""
        local = Path(local)
        if not await asyncio.to_thread(local.exists):
            raise FileNotFoundError(local)
        return await self.upload_tar(dest, iter_tar(str(local), local.name))

    async def download_path(
        self, path: str, local_dir: Path, *, limits: ExtractLimits | None = None
    ) -> ExtractResult:
        """Download a workspace file or directory into ``local_dir`` on the host: no absolute
        paths or ``..``, no symbolic or hard links created (they are listed in the result), nothing
        written through a link already in ``local_dir``, at most ``limits``."""
        return await extract_tar(
            self.download_tar(path), str(local_dir), str(local_dir), limits=limits, links=False
        )

    # --- browser -------------------------------------------------------------------------------

    async def browser(self, action: BrowserAction) -> BrowserResult:
        content = _BROWSER_ACTION.dump_json(action)
        timeout = float(getattr(action, "timeout_s", 30.0))
        body = await self._call("/browser", content=content, timeout_s=timeout)
        result: BrowserResult = self._parse(BrowserResult, "/browser", body)
        return result
