"""Crash recovery and concurrency against a real server process: ``kill -9`` mid-run, restart on
the same data dir, and the interaction finishes from its last logged step (a shell call or an MCP
server call in flight is answered as interrupted, never left unanswered); 20 background
interactions at once each log every step exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer
from server_process import ServerProcess, fake_gemini, free_port

from runtime.llm.script import JsonDict, ScriptedTurn, call, forever, request_parts, turn
from runtime.sandbox.engine import namespace_filter
from runtime.store import Store
from runtime.worker.agent_runner import workspace_volume

AGENT = "antigravity"


def answered(request: JsonDict) -> list[str]:
    """Ids of the function calls answered in the request, in order."""
    return [
        str(p["functionResponse"].get("id"))
        for p in request_parts(request)
        if isinstance(p.get("functionResponse"), dict)
    ]


def agent_script(request: JsonDict) -> ScriptedTurn:
    """Order-proof: each turn follows from the last answered call, so a repeated request after a
    restart gets the same answer."""
    done = answered(request)
    last = done[-1] if done else None
    if last is None:
        return turn(calls=[call("shell", command="echo before-crash > kept.txt && sleep 10", id="s1")])
    if last == "s1":
        return turn(calls=[call("shell", command="cat kept.txt", id="s2")])
    if last == "s2":
        return turn(calls=[call("update_artifact", artifact="walkthrough", content="# W", id="wt")])
    return turn("Recovered and finished.")


def wait_for(predicate: object, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def logged_step_starts(data_dir: Path, interaction_id: str) -> Counter[int]:
    store = Store(f"sqlite+aiosqlite:///{data_dir / 'hangar.db'}")
    await store.open()
    try:
        events = await store.interactions.events_after(interaction_id)
    finally:
        await store.close()
    return Counter(e.event["index"] for e in events if e.event.get("event_type") == "step.start")


@pytest.fixture
def short_dir(drop_environment_volumes: Callable[[Path], None]) -> Iterator[Path]:
    """A data dir with a short path: sandbox socket paths must fit a unix socket address."""
    path = Path(tempfile.mkdtemp(prefix="hc-", dir="/tmp"))
    yield path
    drop_environment_volumes(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.docker
@pytest.mark.slow
def test_kill_9_mid_run_then_restart_resumes_the_agent(short_dir: Path, sandbox_image: str) -> None:
    tmp_path = short_dir
    namespace = f"test-crash-{secrets.token_hex(3)}"
    settings = {
        "HANGAR_SANDBOX_NAMESPACE": namespace,
        "HANGAR_SANDBOX_IMAGE": sandbox_image,
        "HANGAR_LEASE_SECONDS": "2",
        "HANGAR_POLL_SECONDS": "0.2",
    }
    with fake_gemini(agent_script) as fake:
        server = ServerProcess(tmp_path, fake.base_url, env=settings)
        server.start()
        volume = None
        try:
            client = server.client()
            created = client.interactions.create(agent=AGENT, input="note, then wait", background=True)
            volume = workspace_volume(created.environment_id or created.id)

            def call_logged() -> bool:
                now = client.interactions.get(created.id)
                assert now.status == "in_progress", (now, server.log_tail())
                return any(s.type == "code_execution_call" for s in now.steps or [])

            def note_written() -> bool:
                """kept.txt is in a live box's workspace (a logged call may not have reached its box yet)."""
                engine = docker.from_env()
                try:
                    boxes = engine.containers.list(filters=namespace_filter(namespace))
                    return any(
                        b.status == "running" and b.exec_run(["cat", "/workspace/kept.txt"]).exit_code == 0
                        for b in boxes
                    )
                finally:
                    engine.close()

            wait_for(call_logged, 90, "the shell call to be logged")
            wait_for(note_written, 90, "the shell call's note in the workspace")
            server.kill()  # the `sleep 10` is still running in the box
            server.start()
            client = server.client()

            def finished() -> bool:
                return client.interactions.get(created.id).status != "in_progress"

            wait_for(finished, 120, "the resumed interaction to finish")
            done = client.interactions.get(created.id)
            assert done.status == "completed", (getattr(done, "errors", None), server.log_tail())
            kinds = [s.type for s in done.steps or []]
            assert kinds == [
                "user_input",
                "code_execution_call",
                "code_execution_result",  # s1: interrupted (or done just before)
                "code_execution_call",
                "code_execution_result",  # s2: cat kept.txt
                "function_call",
                "function_result",  # the walkthrough
                "model_output",
            ], kinds
            steps = done.steps or []
            assert steps[2].is_error and "interrupted" in str(steps[2].result)  # type: ignore[union-attr]
            assert "before-crash" in str(steps[4].result)  # type: ignore[union-attr]  # workspace kept
            starts = asyncio.run(logged_step_starts(tmp_path, created.id))
            assert starts and all(n == 1 for n in starts.values()), starts
            assert not fake.failures
        finally:
            server.stop()
            engine = docker.from_env()
            try:
                # The dead process's box was reaped at the restart; the last one stopped with it.
                left = engine.containers.list(all=True, filters=namespace_filter(namespace))
                for container in left:
                    container.remove(force=True)
                if volume is not None:
                    with contextlib.suppress(docker.errors.NotFound):
                        engine.volumes.get(volume).remove(force=True)
            finally:
                engine.close()
        assert not left, [c.name for c in left]


@contextlib.contextmanager
def slow_mcp_server() -> Iterator[tuple[str, list[str]]]:
    """An MCP server on loopback (in a thread of the test) whose ``wait`` tool takes 60 s; yields
    its URL and the list of calls it received."""
    calls: list[str] = []
    server = MCPServer("slow")

    @server.tool()
    async def wait(label: str) -> str:
        """Wait a minute."""
        calls.append(label)
        await asyncio.sleep(60)
        return f"waited for {label}"

    port = free_port()
    config = uvicorn.Config(server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    wait_for(lambda: uv.started, 20, "the MCP server to start")
    try:
        yield f"http://127.0.0.1:{port}/mcp", calls
    finally:
        uv.should_exit = True
        thread.join(10)


def mcp_script(request: JsonDict) -> ScriptedTurn:
    """Call the MCP tool first; once its call is answered (after the restart), finish."""
    if "m1" in answered(request):
        return turn("The wait was interrupted; stopping here.")
    return turn(calls=[call("slow__wait", label="first", id="m1")])


@pytest.mark.docker
@pytest.mark.slow
def test_kill_9_during_an_mcp_call_then_restart_answers_the_call(short_dir: Path, sandbox_image: str) -> None:
    namespace = f"test-crash-mcp-{secrets.token_hex(3)}"
    settings = {
        "HANGAR_SANDBOX_NAMESPACE": namespace,
        "HANGAR_SANDBOX_IMAGE": sandbox_image,
        "HANGAR_LEASE_SECONDS": "2",
        "HANGAR_POLL_SECONDS": "0.2",
        "HANGAR_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",  # the test's MCP server, on loopback
    }
    with slow_mcp_server() as (url, mcp_calls), fake_gemini(mcp_script) as fake:
        server = ServerProcess(short_dir, fake.base_url, env=settings)
        server.start()
        volume = None
        try:
            client = server.client()
            tools = [{"type": "mcp_server", "name": "slow", "url": url}]
            created = client.interactions.create(agent=AGENT, input="wait", tools=tools, background=True)
            volume = workspace_volume(created.environment_id or created.id)

            def call_running() -> bool:
                now = client.interactions.get(created.id)
                assert now.status == "in_progress", (now, server.log_tail())
                return bool(mcp_calls) and any(s.type == "mcp_server_tool_call" for s in now.steps or [])

            wait_for(call_running, 90, "the MCP call to be logged and running")
            server.kill()
            server.start()
            client = server.client()
            wait_for(lambda: client.interactions.get(created.id).status != "in_progress", 120, "the resume")
            done = client.interactions.get(created.id)
            assert done.status == "completed", (getattr(done, "errors", None), server.log_tail())
            kinds = [s.type for s in done.steps or []]
            assert kinds == ["user_input", "mcp_server_tool_call", "mcp_server_tool_result", "model_output"]
            result = (done.steps or [])[2]
            assert result.call_id == "m1" and "interrupted" in str(result.result)  # type: ignore[union-attr]
            # What Gemini got after the restart: the call, and its answer under the name it called.
            last = fake.requests[-1]
            responses = [p["functionResponse"] for p in request_parts(last) if "functionResponse" in p]
            assert [(r["id"], r["name"]) for r in responses] == [("m1", "slow__wait")]
            assert "error" in responses[0]["response"]
            assert mcp_calls == ["first"]  # not run again: it may have had effects
            assert not fake.failures
        finally:
            server.stop()
            engine = docker.from_env()
            try:
                for container in engine.containers.list(all=True, filters=namespace_filter(namespace)):
                    container.remove(force=True)
                if volume is not None:
                    with contextlib.suppress(docker.errors.NotFound):
                        engine.volumes.get(volume).remove(force=True)
            finally:
                engine.close()


@pytest.mark.slow
def test_twenty_background_interactions_at_once(tmp_path: Path) -> None:
    settings = {"HANGAR_SANDBOXES": "false", "HANGAR_POLL_SECONDS": "0.2"}
    with fake_gemini(forever(turn("alpha beta gamma", thought="thinking it over"))) as fake:
        server = ServerProcess(tmp_path, fake.base_url, env=settings)
        server.start()
        try:
            client = server.client()
            ids = [
                client.interactions.create(model="gemini-3-flash-preview", input=f"n{i}", background=True).id
                for i in range(20)
            ]

            def all_done() -> bool:
                return all(client.interactions.get(i).status != "in_progress" for i in ids)

            wait_for(all_done, 60, "20 interactions to finish")
            for interaction_id in ids:
                done = client.interactions.get(interaction_id)
                assert done.status == "completed", getattr(done, "errors", None)
                kinds = [s.type for s in done.steps or []]
                assert kinds == ["user_input", "thought", "model_output"], kinds
                assert (done.steps or [])[-1].content[0].text == "alpha beta gamma"  # type: ignore[union-attr]
                starts = asyncio.run(logged_step_starts(tmp_path, interaction_id))
                assert sorted(starts) == [1, 2] and set(starts.values()) == {1}, starts
            assert len(fake.requests) == 20
        finally:
            server.stop()
