"""MCP servers as tools, against an in-process ``MCPServer`` (the real protocol, no network)."""

from __future__ import annotations

import mcp_types
import pytest

from runtime import steps as s
from runtime.agent.session import _allowed, mcp_servers_for
from runtime.agents.wire import AllowedTools, McpServerTool
from runtime.tools.mcp import McpServer, McpServerUnavailable, McpToolbox, qualified_name, to_result
from runtime.tools.mcp_fakes import calculator_server, in_process

SERVER = McpServer(name="calc", url="http://calc.test/mcp")


async def test_tools_are_listed_namespaced_and_called() -> None:
    async with McpToolbox([SERVER], connect=in_process({"calc": calculator_server("demo")})) as box:
        assert set(box.tools) == {"calc__add", "calc__fail"}
        decl = box.tools["calc__add"].declaration
        assert decl.parameters_json_schema["required"] == ["a", "b"]  # type: ignore[index]
        assert "Add two integers" in (decl.description or "")
        ok = await box.call(box.tools["calc__add"], {"a": 2, "b": 40})
        assert (ok.result, ok.is_error) == ("42", False)
        bad = await box.call(box.tools["calc__fail"], {"reason": "no"})
        assert bad.is_error and "refused: no" in str(bad.result)


async def test_allowed_tools_and_reserved_names_filter_the_list() -> None:
    only_add = McpServer(name="calc", url="http://calc.test/mcp", allowed_tools=frozenset({"add"}))
    async with McpToolbox([only_add], connect=in_process({"calc": calculator_server("demo")})) as box:
        assert set(box.tools) == {"calc__add"}
    async with McpToolbox(
        [SERVER], reserved={"calc__fail"}, connect=in_process({"calc": calculator_server("demo")})
    ) as box:
        assert set(box.tools) == {"calc__add"}


async def test_unreachable_server_raises_a_clear_error() -> None:
    down = McpServer(name="down", url="http://down.test/mcp")
    with pytest.raises(
        McpServerUnavailable, match=r"cannot connect to MCP server 'down'.*connection refused"
    ):
        async with McpToolbox([SERVER, down], connect=in_process({"calc": calculator_server("demo")})):
            pass


def test_qualified_names_are_valid_gemini_function_names() -> None:
    assert qualified_name("calc", "add") == "calc__add"
    assert qualified_name("my server", "get/item") == "my_server__get_item"
    assert qualified_name("1st", "x") == "_1st__x"
    assert len(qualified_name("s" * 50, "t" * 50)) == 64


def test_results_become_text_or_content_blocks() -> None:
    text = mcp_types.CallToolResult(
        content=[mcp_types.TextContent(text="a"), mcp_types.TextContent(text="b")]
    )
    assert to_result(text) == "a\nb"
    structured = mcp_types.CallToolResult(content=[], structured_content={"n": 1})
    assert to_result(structured) == '{"n": 1}'
    image = mcp_types.CallToolResult(
        content=[
            mcp_types.TextContent(text="see"),
            mcp_types.ImageContent(data="aGk=", mime_type="image/png"),
        ]
    )
    blocks = to_result(image)
    assert isinstance(blocks, list) and isinstance(blocks[1], s.ImageContent)
    assert blocks[1].data == "aGk="


def test_agent_mcp_tools_become_servers() -> None:
    tool = McpServerTool(
        type="mcp_server",
        name="gh",
        url="https://mcp.example.com/mcp",
        headers={"Authorization": "Bearer x"},
        allowed_tools=[AllowedTools(tools=["search"])],
    )
    (server,) = mcp_servers_for([tool])
    assert (server.name, server.headers, server.allowed_tools) == (
        "gh",
        {"Authorization": "Bearer x"},
        {"search"},
    )
    assert server.transport == "streamable_http"
    assert McpServer(name="x", url="http://h/sse").transport == "sse"
    assert _allowed(None) is None
    assert _allowed([AllowedTools(mode="auto")]) is None
    assert _allowed([AllowedTools(mode="none", tools=["a"])]) == frozenset()
