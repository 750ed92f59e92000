"""An MCP server to test against, served in-process (the real protocol, no network): for Hangar's
own tests and for users testing agents that use MCP tools offline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from runtime.tools.mcp import Connect, McpServer


def calculator_server(name: str = "calc") -> MCPServer:
    """Two tools: ``add(a, b)`` and ``fail(reason)``, which always raises a tool error."""
    server = MCPServer(name)

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails."""
        raise ToolError(f"refused: {reason}")

    return server


def in_process(servers: Mapping[str, MCPServer]) -> Connect:
    """A ``connect`` for :class:`~runtime.tools.mcp.McpToolbox` serving ``servers`` by name;
    any other server is unreachable (``ConnectionError``)."""

    @asynccontextmanager
    async def connect(server: McpServer) -> AsyncIterator[Client]:
        if server.name not in servers:
            raise ConnectionError("connection refused")
        async with Client(servers[server.name]) as client:
            yield client

    return connect
