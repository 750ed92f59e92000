"""HTTP hook handlers from ``.agents/hooks.json``: a real HTTP server on loopback as the hook
endpoint, called through an outbound guard (a minimal real one here, standing in for the
server's), the real google-genai client against FakeGemini, the agent loop over a local sandbox."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime import steps as s
from runtime.agent.events import RunStatus
from runtime.agent.session import AgentSession, loop_config
from runtime.agents.spec import AgentSpec
from runtime.errors import InputError
from runtime.llm import GeminiClient, call, turn
from runtime.llm.fake_server import FakeGemini
from runtime.sandbox.local import LocalProvider


class AllowListGuard:
    """Lets through only URLs on the given ``host:port`` origins (the test's own server)."""

    def __init__(self, *origins: str) -> None:
        self.origins = origins
        self.checked: list[str] = []

    async def check(self, url: str) -> None:
        self.checked.append(url)
        parsed = httpx.URL(url)
        if f"{parsed.host}:{parsed.port}" not in self.origins:
            raise InputError(f"outbound URL refused: {url}", code="outbound_url_refused")

    def client(self, *, timeout: float, headers: Mapping[str, str] | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout, headers=dict(headers or {}), follow_redirects=False)


@dataclass
class HookEndpoint:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[str | None] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def endpoint() -> AsyncIterator[HookEndpoint]:
    port = _free_port()
    hook = HookEndpoint(url=f"http://127.0.0.1:{port}")

    async def handle(request: Request) -> Response:
        body = json.loads(await request.body())
        hook.received.append(body)
        hook.headers.append(request.headers.get("x-hook-token"))
        if body["event"] == "pre_tool_execution" and "secret" in json.dumps(body["arguments"]):
            return JSONResponse({"decision": "deny", "reason": "secrets stay put"})
        return JSONResponse({"decision": "allow"})

    app = Starlette(
        routes=[Route("/hook", handle, methods=["POST"]), Route("/down", _fail, methods=["POST"])]
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield hook
    server.should_exit = True
    await task


async def _fail(request: Request) -> Response:
    return Response("broken", status_code=500)


SPEC = AgentSpec.model_validate({"id": "hooked", "builtin_tools": ["files"]})


async def _run(hooks: dict[str, Any], script: list[Any], guard: AllowListGuard | None) -> list[s.Step]:
    steps: list[s.Step] = [s.UserInputStep(content=[s.TextContent(text="go")])]
    async with FakeGemini(script) as fake, LocalProvider() as provider:
        model = GeminiClient(api_key="fake-key", base_url=fake.base_url)
        async with AgentSession(SPEC, provider, model, config=loop_config(SPEC), outbound=guard) as session:
            assert session.sandbox is not None
            await session.sandbox.client.write_file(".agents/hooks.json", json.dumps(hooks))
            result = await session.run(steps)
            listing = {f.path for f in await session.sandbox.client.list_files(".")}
        await model.aclose()
        fake.assert_done()
    assert result.status is RunStatus.COMPLETED, result.reason
    steps.append(s.ModelOutputStep(content=[s.TextContent(text=json.dumps(sorted(listing)))]))
    return steps


def _results(steps: list[s.Step]) -> dict[str, s.FunctionResultStep]:
    return {st.call_id: st for st in steps if isinstance(st, s.FunctionResultStep)}


async def test_http_pre_hook_denies_and_post_hook_is_called(endpoint: HookEndpoint) -> None:
    handler = {"type": "http", "url": f"{endpoint.url}/hook", "headers": {"X-Hook-Token": "t0k"}}
    hooks = {
        "pre_tool_execution": [{"matcher": "write_file", "handler": handler}],
        "post_tool_execution": [{"handler": handler}],
    }
    script = [
        turn(calls=[call("write_file", path="secret.txt", content="secret", id="w1")]),
        turn(calls=[call("write_file", path="ok.txt", content="fine", id="w2")]),
        turn("done"),
    ]
    guard = AllowListGuard(httpx.URL(endpoint.url).netloc.decode())
    steps = await _run(hooks, script, guard)
    results = _results(steps)
    assert results["w1"].is_error
    assert "denied by a pre_tool_execution hook: secrets stay put" in str(results["w1"].result)
    assert not results["w2"].is_error
    files = json.loads(steps[-1].content[0].text)  # type: ignore[union-attr]
    assert "ok.txt" in files and "secret.txt" not in files  # the denied call never ran
    events = [(b["event"], b["call_id"]) for b in endpoint.received]
    assert events == [
        ("pre_tool_execution", "w1"),
        ("pre_tool_execution", "w2"),
        ("post_tool_execution", "w2"),
    ]
    assert endpoint.received[-1]["output"].startswith("wrote ok.txt")
    assert endpoint.headers == ["t0k", "t0k", "t0k"]
    assert guard.checked and all(u == f"{endpoint.url}/hook" for u in guard.checked)


async def test_hooks_fail_closed_when_the_guard_refuses_or_the_endpoint_fails(endpoint: HookEndpoint) -> None:
    hooks = {
        "pre_tool_execution": [
            {"matcher": "write_file", "handler": {"type": "http", "url": "http://10.0.0.1:9/hook"}},
            {"matcher": "edit_file", "handler": {"type": "http", "url": f"{endpoint.url}/down"}},
        ]
    }
    script = [
        turn(calls=[call("write_file", path="a.txt", content="x", id="w1")]),
        turn(calls=[call("edit_file", path="a.txt", old="x", new="y", id="e1")]),
        turn("done"),
    ]
    guard = AllowListGuard(httpx.URL(endpoint.url).netloc.decode())
    results = _results(await _run(hooks, script, guard))
    assert results["w1"].is_error and "outbound_url_refused" in str(results["w1"].result)
    assert results["e1"].is_error and "HTTP 500" in str(results["e1"].result)
    assert guard.checked[0] == "http://10.0.0.1:9/hook"  # refused before any packet was sent


async def test_http_hooks_without_a_guard_fail_the_run_before_the_model() -> None:
    hooks = {"post_tool_execution": [{"handler": {"type": "http", "url": "http://127.0.0.1:9/hook"}}]}
    async with FakeGemini([]) as fake, LocalProvider() as provider:
        model = GeminiClient(api_key="fake-key", base_url=fake.base_url)
        async with AgentSession(SPEC, provider, model, config=loop_config(SPEC)) as session:
            assert session.sandbox is not None
            await session.sandbox.client.write_file(".agents/hooks.json", json.dumps(hooks))
            with pytest.raises(InputError, match="outbound guard"):
                await session.run([s.UserInputStep(content=[s.TextContent(text="go")])])
        await model.aclose()
    assert not fake.requests
