"""Remote MCP servers as tools: connect, list their tools, offer them to the model, call them.

The model sees each server tool as a function named ``<server>__<tool>`` (see :func:`qualified_name`)
so that two servers — or a server and a built-in — cannot clash; the steps keep the real tool
name and the server name. :class:`McpToolbox` opens one client per server for the length of a run
and closes them at its end.

Failures: a server that cannot be reached (or cannot list its tools) when the toolbox opens raises
:class:`McpServerUnavailable` — the loop fails the run with that reason rather than letting the
model work without tools the agent was given. A failing call later on (the tool reports an error,
the server went away, a timeout) becomes an ``is_error`` result for the model.

A server's URL is the tenant's choice: :func:`guarded_connect` reaches it only through the
:class:`~runtime.outbound.OutboundGuard` (checked before connecting, and every request resolved,
checked and pinned). Failure reasons name the kind of failure (HTTP status, MCP error code,
connection error), never text the server sent: the URL may point somewhere the tenant cannot read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import structlog
from google.genai import types

from runtime import steps as s
from runtime.errors import HangarError, InfraError, InputError
from runtime.outbound import OutboundGuard

if TYPE_CHECKING:
    import httpx2
    import mcp_types
    from mcp import Client

    from runtime.sandbox.egress_credentials import CredentialSource

log = structlog.get_logger(__name__)

SEPARATOR = "__"
MAX_NAME = 64
"""Gemini's limit on a function name."""

Connect = Callable[["McpServer"], "AbstractAsyncContextManager[Client]"]
"""Opens a connected client for a server (tests pass one that serves an in-process server)."""


class McpServerUnavailable(InfraError):
    """An MCP server could not be reached or could not list its tools when the run started."""

    code = "mcp_server_unavailable"


@dataclass(frozen=True)
class McpServer:
    """One ``mcp_server`` tool of an agent or a request."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    """Sent with every request to the server (e.g. ``Authorization``)."""
    allowed_tools: frozenset[str] | None = None
    """Tool names the model may use; all of the server's tools when ``None``."""

    @property
    def transport(self) -> Literal["streamable_http", "sse"]:
        """Streamable HTTP, unless the URL names the legacy SSE endpoint (``…/sse``)."""
        return "sse" if self.url.rstrip("/").endswith("/sse") else "streamable_http"


@dataclass(frozen=True)
class McpTool:
    server: str
    name: str
    """The tool's name on its server (what the steps record)."""
    qualified: str
    """The function name the model calls."""
    declaration: types.FunctionDeclaration

    def call_step(self, call_id: str, args: dict[str, Any], signature: str | None) -> s.Step:
        step = s.McpServerToolCallStep(id=call_id, name=self.name, server_name=self.server, arguments=args)
        if signature:
            step.signature = signature  # type: ignore[attr-defined]  # extra field, kept for the history
        return step

    def result_step(self, call_id: str, result: McpResult) -> s.Step:
        return mcp_result_step(call_id, self.name, self.server, result.result, result.is_error)


@dataclass(frozen=True)
class McpResult:
    result: str | list[s.Content]
    is_error: bool = False


def mcp_result_step(
    call_id: str, name: str, server: str, result: s.ToolResult, is_error: bool = False
) -> s.Step:
    step = s.McpServerToolResultStep(call_id=call_id, result=result, name=name, server_name=server)
    if is_error:
        # Not in the wire schema of this step (extra fields are kept); the history reads it.
        step.is_error = True  # type: ignore[attr-defined]
    return step


def interrupted_mcp_result(call: s.McpServerToolCallStep, text: str) -> s.Step:
    """The error answer to an ``mcp_server_tool_call`` that never finished."""
    return mcp_result_step(call.id, call.name, call.server_name, text, is_error=True)


def _clean(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_"


def qualified_name(server: str, tool: str) -> str:
    """The model-facing name of ``tool`` on ``server``: deterministic, so the history rebuilt from
    the steps (which keep both names) matches the declarations."""
    name = f"{_clean(server)}{SEPARATOR}{_clean(tool)}"
    if not (name[0].isalpha() or name[0] == "_"):
        name = f"_{name}"
    return name[:MAX_NAME]


@contextlib.asynccontextmanager
async def connect_http(server: McpServer, guard: OutboundGuard | None = None) -> AsyncIterator[Client]:
    """A client over streamable HTTP (or SSE) with the server's headers; through ``guard`` when
    given (the server always gives one; ``hangar run`` reaches the operator's own servers)."""
    # Imported here: the mcp library takes most of a second to import, and most runs use no server.
    import httpx2
    from mcp import Client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    if guard is not None:
        await guard.check(server.url)

    def http_client(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            headers=headers,
            timeout=timeout or httpx2.Timeout(30.0, read=300.0),
            auth=auth,
            follow_redirects=False,
            transport=guard.transport() if guard is not None else None,
        )

    headers = dict(server.headers)
    async with contextlib.AsyncExitStack() as stack:
        if server.transport == "sse":
            transport = sse_client(
                server.url, headers=headers, timeout=30.0, httpx_client_factory=http_client
            )
        else:
            http = await stack.enter_async_context(http_client(headers=headers))
            transport = streamable_http_client(server.url, http_client=http)
        yield await stack.enter_async_context(Client(transport))


def guarded_connect(guard: OutboundGuard) -> Connect:
    """:func:`connect_http` through ``guard``: what the server uses for tenants' MCP servers."""

    def connect(server: McpServer) -> AbstractAsyncContextManager[Client]:
        return connect_http(server, guard)

    return connect


class _Connection:
    """One server's client, entered and exited in a task of its own: the mcp library's anyio task
    groups are then scoped to that task and a misbehaving server cannot cancel the agent loop."""

    def __init__(self, server: McpServer, connect: Connect) -> None:
        self.server = server
        self._connect = connect
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[Client] | None = None

    async def open(self, timeout_s: float) -> Client:
        self._ready = ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._serve(ready), name=f"mcp-{self.server.name}")
        try:
            return await asyncio.wait_for(asyncio.shield(ready), timeout_s)
        except TimeoutError as e:
            raise McpServerUnavailable(
                f"MCP server {self.server.name!r} ({self.server.url}) did not answer in {timeout_s:g} s"
            ) from e

    async def _serve(self, ready: asyncio.Future[Client]) -> None:
        try:
            async with self._connect(self.server) as client:
                ready.set_result(client)
                await self._closing.wait()
        except Exception as e:
            if not ready.done():
                ready.set_exception(
                    McpServerUnavailable(
                        f"cannot connect to MCP server {self.server.name!r} ({self.server.url}): {_why(e)}"
                    )
                )
            else:
                log.warning("mcp_connection_ended", server=self.server.name, error=_why(e))

    async def close(self) -> None:
        if self._task is None:
            return
        if self._ready is not None and not self._ready.done():
            self._task.cancel()  # still connecting: nothing to shut down politely
        self._closing.set()
        done, _ = await asyncio.wait({self._task}, timeout=10.0)
        if not done:
            log.warning("mcp_close_timeout", server=self.server.name)
            self._task.cancel()
        if self._ready is not None and self._ready.done() and not self._ready.cancelled():
            self._ready.exception()  # retrieved (it was raised by ``open`` or came too late to matter)


class McpToolbox:
    """The tools of a run's MCP servers: ``async with McpToolbox(servers) as box``.

    Opening connects to every server and lists its tools (raises :class:`McpServerUnavailable`);
    closing disconnects. A tool whose model-facing name is in ``reserved`` (a built-in, a client
    function) or repeats another's is left out with a warning.
    """

    def __init__(
        self,
        servers: Sequence[McpServer],
        *,
        reserved: Collection[str] = (),
        connect: Connect = connect_http,
        connect_timeout_s: float = 30.0,
        call_timeout_s: float = 600.0,
    ) -> None:
        self.servers = list(servers)
        self.reserved = set(reserved)
        self.tools: dict[str, McpTool] = {}
        self._connect = connect
        self._connect_timeout_s = connect_timeout_s
        self._call_timeout_s = call_timeout_s
        self._connections: list[_Connection] = []
        self._clients: dict[str, Client] = {}

    async def __aenter__(self) -> Self:
        try:
            for server in self.servers:
                await self._open(server)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        connections, self._connections = self._connections, []
        for connection in connections:
            await connection.close()
        self._clients.clear()

    def declarations(self) -> list[types.FunctionDeclaration]:
        return [tool.declaration for tool in self.tools.values()]

    async def call(self, tool: McpTool, args: dict[str, Any]) -> McpResult:
        """Run ``tool``; every failure is an error result for the model, never an exception."""
        client = self._clients[tool.server]
        try:
            result = await client.call_tool(tool.name, args, read_timeout_seconds=self._call_timeout_s)
        except Exception as e:
            log.info("mcp_call_failed", server=tool.server, tool=tool.name, error=_why(e))
            return McpResult(f"error: MCP server {tool.server!r} failed to run {tool.name}: {_why(e)}", True)
        return McpResult(to_result(result), result.is_error)

    async def _open(self, server: McpServer) -> None:
        if server.name in self._clients:
            raise McpServerUnavailable(f"two MCP servers are named {server.name!r}", retryable=False)
        connection = _Connection(server, self._connect)
        self._connections.append(connection)
        client = await connection.open(self._connect_timeout_s)
        self._clients[server.name] = client
        try:
            listed = await self._list(client)
        except Exception as e:
            raise McpServerUnavailable(
                f"MCP server {server.name!r} ({server.url}) could not list its tools: {_why(e)}"
            ) from e
        for tool in listed:
            if server.allowed_tools is None or tool.name in server.allowed_tools:
                self._add(server, tool)
        log.info(
            "mcp_server_ready",
            server=server.name,
            tools=[t.name for t in self.tools.values() if t.server == server.name],
        )

    async def _list(self, client: Client) -> list[mcp_types.Tool]:
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        while True:
            page = await asyncio.wait_for(client.list_tools(cursor=cursor), self._connect_timeout_s)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                return tools

    def _add(self, server: McpServer, tool: mcp_types.Tool) -> None:
        name = qualified_name(server.name, tool.name)
        if name in self.reserved or name in self.tools:
            log.warning("mcp_tool_name_clash", server=server.name, tool=tool.name, qualified=name)
            return
        description = f"[MCP server {server.name}, tool {tool.name}] {tool.description or ''}".strip()
        declaration = types.FunctionDeclaration(
            name=name, description=description, parameters_json_schema=tool.input_schema
        )
        self.tools[name] = McpTool(server.name, tool.name, name, declaration)


def to_result(result: mcp_types.CallToolResult) -> str | list[s.Content]:
    """An MCP tool result as step content: plain text when it is only text, else content blocks;
    structured content (JSON) as text when there is no other content."""
    blocks = [b for b in (_block(c) for c in result.content) if b is not None]
    if not blocks and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    if all(isinstance(b, s.TextContent) for b in blocks):
        return "\n".join(b.text for b in blocks if isinstance(b, s.TextContent))
    return blocks


def _block(content: mcp_types.ContentBlock) -> s.Content | None:
    import mcp_types  # imported here, see connect_http

    if isinstance(content, mcp_types.TextContent):
        return s.TextContent(text=content.text)
    if isinstance(content, mcp_types.ImageContent):
        return s.ImageContent(data=content.data, mime_type=content.mime_type)
    if isinstance(content, mcp_types.AudioContent):
        return s.AudioContent(data=content.data, mime_type=content.mime_type)
    if isinstance(content, mcp_types.EmbeddedResource):
        res = content.resource
        if isinstance(res, mcp_types.TextResourceContents):
            return s.TextContent(text=res.text)
        return s.DocumentContent(data=res.blob, mime_type=res.mime_type)
    if isinstance(content, mcp_types.ResourceLink):
        return s.TextContent(text=f"[resource {content.name}: {content.uri}]")
    return None


def _why(e: BaseException) -> str:
    """A one-line reason, looking through the exception groups the mcp library raises. Never text
    from the server (a body, a JSON-RPC message): only the status, the error code, the error kind."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    if isinstance(e, HangarError):
        return e.message  # our own words (an outbound refusal, a timeout we measured)
    status = getattr(getattr(e, "response", None), "status_code", None)
    if isinstance(status, int):
        return f"the server answered HTTP {status}"
    code = getattr(getattr(e, "error", None), "code", None)
    if isinstance(code, int):
        return f"the server answered MCP error {code}"
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, OSError) or _is_connect_error(e):
        return str(e) or type(e).__name__  # the local socket's words ("connection refused")
    return type(e).__name__


def _is_connect_error(e: BaseException) -> bool:
    import httpx2  # imported here, see connect_http

    return isinstance(e, httpx2.ConnectError | httpx2.ConnectTimeout)


async def with_credentials(
    tools: Sequence[Any], source: CredentialSource | None, scope: str
) -> list[Any]:
    """``tools`` with each ``mcp_server`` entry's ``credential`` resolved into its headers (the
    server adds them when it connects, through the outbound guard; the secret never enters a box
    or a step). Raises :class:`InputError` for a credential the project ``scope`` does not have."""
    from runtime.agents.wire import McpServerTool
    from runtime.sandbox.egress_credentials import placeholder

    out: list[Any] = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, McpServerTool) or tool.credential is None:
            out.append(tool)
            continue
        found = await source.resolve(scope, [tool.credential]) if source is not None else {}
        credential = found.get(tool.credential)
        if credential is None:
            raise InputError(
                f"tools[{index}].credential: credential '{tool.credential}' not found in this project"
            )
        marker = placeholder(credential.id)
        headers = {k: v.replace(marker, credential.value) for k, v in (tool.headers or {}).items()}
        if credential.header is not None:
            headers[credential.header[0]] = credential.header[1]
        out.append(tool.model_copy(update={"headers": headers, "credential": None}))
    return out
