"""MCP servers a tenant names are reached only through the outbound guard (the connect the server's
agent runner uses), and nothing an MCP endpoint answers is echoed in the failure a tenant sees.
The real mcp client library against HTTP servers on loopback."""

from __future__ import annotations

import json

import pytest
from recorders import Recorder, Reply

from runtime.outbound import OutboundGuard
from runtime.tools.mcp import McpServer, McpServerUnavailable, McpToolbox, guarded_connect

SECRET = "TOP-SECRET-7f3a9c"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]", "127.1", "0x7f.1", "0.0.0.0"]
)
async def test_internal_mcp_urls_are_refused_before_any_request(host: str) -> None:
    with Recorder(Reply(body=SECRET.encode())) as internal:
        server = McpServer(
            name="inside", url=f"http://{host}:{internal.port}/mcp", headers={"Authorization": "t"}
        )
        refused = r"refused to contact host .*: .*(loopback|unspecified)"
        with pytest.raises(McpServerUnavailable, match=refused) as caught:
            async with McpToolbox([server], connect=guarded_connect(OutboundGuard())):
                pass
        assert SECRET not in caught.value.message
    assert internal.seen == []


def _jsonrpc_error(message: str) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 0, "error": {"code": -32000, "message": message}}).encode()


ERROR_REPLIES = [
    Reply(
        status=500,
        body=f"<html>internal admin panel {SECRET}</html>".encode(),
        headers={"content-type": "text/html"},
    ),
    Reply(
        status=400,
        body=_jsonrpc_error(f"db password is {SECRET}"),
        headers={"content-type": "application/json"},
    ),
    Reply(
        status=200,
        body=json.dumps({"not": "jsonrpc", "leak": SECRET}).encode(),
        headers={"content-type": "application/json"},
    ),
    Reply(status=200, body=f"data: {SECRET}\n\n".encode(), headers={"content-type": "text/event-stream"}),
    Reply(status=200, body=SECRET.encode(), headers={"content-type": f"text/{SECRET}"}),
    Reply(status=302, body=SECRET.encode(), headers={"location": f"http://127.0.0.1:1/{SECRET}"}),
]


@pytest.mark.parametrize("reply", ERROR_REPLIES)
async def test_an_mcp_error_body_never_reaches_the_tenant(reply: Reply) -> None:
    with Recorder(reply) as endpoint:
        guard = OutboundGuard((f"127.0.0.1:{endpoint.port}",))
        server = McpServer(name="remote", url=endpoint.url("/mcp"))
        with pytest.raises(McpServerUnavailable) as caught:
            async with McpToolbox([server], connect=guarded_connect(guard), connect_timeout_s=10):
                pass
    assert endpoint.seen, "the allowed endpoint was contacted"
    assert SECRET not in caught.value.message, caught.value.message
    assert "remote" in caught.value.message


async def test_an_allowed_mcp_endpoint_redirecting_inside_is_not_followed() -> None:
    with Recorder(Reply(body=SECRET.encode())) as internal:
        redirect = Reply(status=307, body=b"", headers={"location": internal.url("/mcp")})
        with Recorder(redirect) as endpoint:
            guard = OutboundGuard((f"127.0.0.1:{endpoint.port}",))
            server = McpServer(name="remote", url=endpoint.url("/mcp"))
            with pytest.raises(McpServerUnavailable) as caught:
                async with McpToolbox([server], connect=guarded_connect(guard), connect_timeout_s=10):
                    pass
    assert endpoint.seen and internal.seen == []
    assert SECRET not in caught.value.message


class FlipResolver:
    """Public for the first lookup (the check before connecting), loopback afterwards."""

    def __init__(self) -> None:
        self.asked = 0

    async def __call__(self, host: str, _port: int) -> list[str]:
        self.asked += 1
        return ["93.184.216.34"] if self.asked == 1 else ["127.0.0.1"]  # the first is never contacted


async def test_an_mcp_name_rebinding_to_loopback_is_refused_on_the_request() -> None:
    with Recorder(Reply(body=SECRET.encode())) as internal:
        resolver = FlipResolver()
        server = McpServer(name="rebind", url=f"http://mcp.tenant.example:{internal.port}/mcp")
        with pytest.raises(McpServerUnavailable) as caught:
            connect = guarded_connect(OutboundGuard(resolver=resolver))
            async with McpToolbox([server], connect=connect, connect_timeout_s=10):
                pass
    assert resolver.asked >= 2
    assert internal.seen == []
    assert SECRET not in caught.value.message


async def test_an_allowed_mcp_name_is_pinned_and_keeps_its_host_header() -> None:
    with Recorder(Reply(status=500, body=b"no")) as endpoint:
        looked_up: list[str] = []

        async def resolver(host: str, _port: int) -> list[str]:
            looked_up.append(host)
            return ["127.0.0.1"]

        guard = OutboundGuard(("mcp.internal.test",), resolver=resolver)
        server = McpServer(name="named", url=f"http://mcp.internal.test:{endpoint.port}/mcp")
        with pytest.raises(McpServerUnavailable):
            async with McpToolbox([server], connect=guarded_connect(guard), connect_timeout_s=10):
                pass
    assert endpoint.seen and endpoint.seen[0].headers["Host"] == f"mcp.internal.test:{endpoint.port}"
    assert set(looked_up) == {"mcp.internal.test"}
