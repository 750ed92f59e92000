"""MCP through a real server with real sandboxes: the worker's agent runner connects through the
outbound guard (an operator's agent file naming an internal MCP URL is refused when the run
starts, and the internal server hears nothing), and what an allowed MCP endpoint answers with an
error never reaches the tenant's interaction."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest
from recorders import Recorder, Reply
from server_process import API_KEY, ServerProcess, fake_gemini

from runtime.llm.script import forever, turn
from runtime.sandbox.images import ensure_image

SECRET = "MCP-BODY-SECRET-91b2"


@dataclass
class Stack:
    server: ServerProcess
    internal: Recorder
    endpoint: Recorder


def _agents(folder: Path, internal: Recorder) -> Path:
    folder.mkdir()
    (folder / "plain.yaml").write_text("id: plain\nsystem_instruction: test\nbuiltin_tools: []\n")
    (folder / "operator-mcp.yaml").write_text(
        "id: operator-mcp\nsystem_instruction: test\nbuiltin_tools: []\ntools:\n"
        f"  - {{type: mcp_server, name: inside, url: '{internal.url('/mcp')}'}}\n"
    )
    return folder


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, drop_environment_volumes: Callable[[Path], None]
) -> Iterator[Stack]:
    client = docker.from_env()
    try:
        image = ensure_image(client, log=lambda _line: None)
    finally:
        client.close()
    data_dir = tmp_path_factory.mktemp("security-mcp")
    rpc_error = {"jsonrpc": "2.0", "id": 0, "error": {"code": -32000, "message": f"db password {SECRET}"}}
    error_body = Reply(
        status=400, body=json.dumps(rpc_error).encode(), headers={"content-type": "application/json"}
    )
    with (
        Recorder(Reply(body=SECRET.encode())) as internal,
        Recorder(error_body) as endpoint,
        fake_gemini(forever(turn("done"))) as fake,
    ):
        env = {
            "HANGAR_AGENTS_DIR": str(_agents(tmp_path_factory.mktemp("agents") / "a", internal)),
            "HANGAR_SANDBOX_IMAGE": image,
            "HANGAR_SANDBOX_NAMESPACE": f"test-sec-{secrets.token_hex(3)}",
            "HANGAR_POLL_SECONDS": "0.2",
            "HANGAR_OUTBOUND_ALLOW_HOSTS": f"127.0.0.1:{endpoint.port}",
        }
        server = ServerProcess(data_dir, fake.base_url, env=env)
        server.start()
        try:
            yield Stack(server, internal, endpoint)
        finally:
            server.stop()
            drop_environment_volumes(data_dir)


def _run(stack: Stack, body: dict[str, object]) -> dict[str, object]:
    headers = {"x-goog-api-key": API_KEY}
    response = httpx.post(f"{stack.server.url}/v1beta/interactions", json=body, headers=headers, timeout=180)
    assert response.status_code == 200, response.text
    interaction: dict[str, object] = response.json()
    again = httpx.get(f"{stack.server.url}/v1beta/interactions/{interaction['id']}", headers=headers)
    assert SECRET not in again.text
    return interaction


def test_an_operator_mcp_url_inside_is_refused_when_the_run_starts(stack: Stack) -> None:
    interaction = _run(stack, {"agent": "operator-mcp", "input": "hi"})
    assert interaction["status"] == "failed", interaction
    assert "refused to contact host '127.0.0.1'" in str(interaction), interaction
    assert stack.internal.seen == []


def test_an_mcp_error_body_never_reaches_the_tenant(stack: Stack) -> None:
    tool = {"type": "mcp_server", "name": "remote", "url": stack.endpoint.url("/mcp")}
    interaction = _run(stack, {"agent": "plain", "input": "hi", "tools": [tool]})
    assert interaction["status"] == "failed", interaction
    assert "cannot connect to MCP server 'remote'" in str(interaction)
    assert SECRET not in str(interaction)
    assert stack.endpoint.seen, "the allowed endpoint was contacted"
