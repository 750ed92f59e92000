"""MCP server tools end to end: a real MCP server over streamable HTTP on loopback, the real
google-genai client against FakeGemini, the agent loop over a local sandbox."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from runtime import steps as s
from runtime.agent.events import RunStatus
from runtime.agent.session import AgentSession, loop_config
from runtime.agents.spec import AgentSpec
from runtime.llm import GeminiClient, call, turn
from runtime.llm.fake_server import FakeGemini
from runtime.llm.script import JsonDict, has_function_response
from runtime.sandbox.local import LocalProvider

TOKEN = "Bearer mcp-test-token"


def inventory_server() -> MCPServer:
    server = MCPServer("inventory")

    @server.tool()
    def stock(item: str, ctx: Context) -> str:
        """How many of an item are in stock."""
        request = ctx.request_context.request
        if request is None or request.headers.get("authorization") != TOKEN:
            raise ToolError("missing or wrong authorization header")
        return f"{item}: 7 in stock"

    @server.tool()
    def reserve(item: str, count: int) -> str:
        """Reserve items."""
        raise ToolError(f"cannot reserve {count} {item}: warehouse closed")

    return server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(params=["streamable_http", "sse"])
async def mcp_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The server's URL, over streamable HTTP and over the legacy SSE transport (``…/sse``)."""
    port = _free_port()
    server_ = inventory_server()
    app = server_.streamable_http_app() if request.param == "streamable_http" else server_.sse_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}/{'mcp' if request.param == 'streamable_http' else 'sse'}"
    server.should_exit = True
    await task


def agent(url: str, **server: object) -> AgentSpec:
    tool = {"type": "mcp_server", "name": "inventory", "url": url, "headers": {"Authorization": TOKEN}}
    return AgentSpec.model_validate({"id": "mcp-agent", "builtin_tools": [], "tools": [tool | server]})


def function_response(request: JsonDict, call_id: str) -> JsonDict:
    for content in request["contents"]:
        for part in content["parts"]:
            if part.get("functionResponse", {}).get("id") == call_id:
                return dict(part["functionResponse"])
    raise AssertionError(f"no functionResponse for {call_id}")


def declared(request: JsonDict) -> set[str]:
    return {d["name"] for t in request.get("tools", []) for d in t.get("functionDeclarations", [])}


async def test_agent_calls_mcp_tools_and_the_results_reach_the_model(mcp_url: str) -> None:
    script = [
        turn(
            calls=[call("inventory__stock", item="bolts", id="c1")],
            expect=lambda r: declared(r) == {"inventory__stock", "inventory__reserve"},
        ),
        turn(
            calls=[call("inventory__reserve", item="bolts", count=3, id="c2")],
            expect=has_function_response("c1", "inventory__stock"),
        ),
        turn("7 bolts, none reserved.", expect=has_function_response("c2", "inventory__reserve")),
    ]
    steps: list[s.Step] = [s.UserInputStep(content=[s.TextContent(text="check bolts")])]
    async with FakeGemini(script) as fake, LocalProvider() as provider:
        model = GeminiClient(api_key="fake-key", base_url=fake.base_url)
        spec = agent(mcp_url)
        async with AgentSession(spec, provider, model, config=loop_config(spec)) as session:
            result = await session.run(steps)
        await model.aclose()
        fake.assert_done()
    assert result.status is RunStatus.COMPLETED, result.reason
    assert function_response(fake.requests[1], "c1")["response"] == {"output": "bolts: 7 in stock"}
    assert "warehouse closed" in function_response(fake.requests[2], "c2")["response"]["error"]

    calls = [st for st in steps if isinstance(st, s.McpServerToolCallStep)]
    results = [st for st in steps if isinstance(st, s.McpServerToolResultStep)]
    assert [(c.id, c.name, c.server_name, c.arguments) for c in calls] == [
        ("c1", "stock", "inventory", {"item": "bolts"}),
        ("c2", "reserve", "inventory", {"item": "bolts", "count": 3}),
    ]
    assert [(r.call_id, r.name, r.server_name) for r in results] == [
        ("c1", "stock", "inventory"),
        ("c2", "reserve", "inventory"),
    ]
    assert results[0].result == "bolts: 7 in stock"
    assert getattr(results[0], "is_error", None) is None
    assert getattr(results[1], "is_error", None) is True
    assert "warehouse closed" in str(results[1].result)


async def test_allowed_tools_limit_what_the_model_sees(mcp_url: str) -> None:
    script = [turn("ok", expect=lambda r: declared(r) == {"inventory__stock"})]
    async with FakeGemini(script) as fake, LocalProvider() as provider:
        model = GeminiClient(api_key="fake-key", base_url=fake.base_url)
        spec = agent(mcp_url, allowed_tools=[{"tools": ["stock"]}])
        async with AgentSession(spec, provider, model, config=loop_config(spec)) as session:
            result = await session.run([s.UserInputStep(content=[s.TextContent(text="hi")])])
        await model.aclose()
        fake.assert_done()
    assert result.status is RunStatus.COMPLETED, result.reason


async def test_unreachable_server_fails_the_run_with_a_clear_reason() -> None:
    url = f"http://127.0.0.1:{_free_port()}/mcp"
    async with FakeGemini([]) as fake, LocalProvider() as provider:
        model = GeminiClient(api_key="fake-key", base_url=fake.base_url)
        spec = agent(url)
        async with AgentSession(spec, provider, model, config=loop_config(spec)) as session:
            result = await session.run([s.UserInputStep(content=[s.TextContent(text="hi")])])
        await model.aclose()
        fake.assert_done()
    assert result.status is RunStatus.FAILED
    assert f"cannot connect to MCP server 'inventory' ({url})" in result.reason
