"""Targets that passed at create must still not reach the host when the server delivers: a
redirect from an allowed receiver to an internal server is not followed, and a name that resolved
public at create and internal at delivery (DNS rebinding) is refused without a connection."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn
from conftest import Target
from recorders import Recorder

from runtime.api import create_app
from runtime.config import Settings
from runtime.llm import ScriptedModel, forever, turn
from runtime.outbound import OutboundGuard


def _deliveries(target: Target, uri: str) -> list[tuple[str, int, str | None]]:
    with contextlib.closing(sqlite3.connect(target.server.data_dir / "hangar.db")) as db:
        rows = db.execute("SELECT status, attempts, last_error FROM webhook_deliveries WHERE uri = ?", (uri,))
        return list(rows)


def _settled(target: Target, uri: str, timeout: float = 30) -> list[tuple[str, int, str | None]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _deliveries(target, uri)
        if rows and all(status != "pending" for status, _, _ in rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"deliveries to {uri} did not settle: {_deliveries(target, uri)}")


def test_a_redirect_to_an_internal_server_is_not_followed(target: Target) -> None:
    headers = {"x-goog-api-key": target.other_key}
    uri = target.redirector.url("/ping-hook")
    created = httpx.post(
        f"{target.url}/v1beta/webhooks",
        json={"uri": uri, "subscribed_events": ["interaction.completed"]},
        headers=headers,
    )
    assert created.status_code == 200, created.text
    hook = created.json()["id"]
    assert httpx.post(f"{target.url}/v1beta/webhooks/{hook}:ping", headers=headers).status_code == 200
    [(status, attempts, error)] = _settled(target, uri)
    assert (status, attempts, error) == ("failed", 2, "HTTP 302")
    assert [s.path for s in target.redirector.seen if s.path == "/ping-hook"] == ["/ping-hook"] * 2
    assert target.internal.seen == []


def test_a_per_request_target_redirecting_inside_is_not_followed(target: Target) -> None:
    uri = target.redirector.url("/per-request")
    body = {"model": "gemini-3-flash-preview", "input": "hi", "webhook_config": {"uris": [uri]}}
    response = httpx.post(
        f"{target.url}/v1beta/interactions",
        json=body,
        headers={"x-goog-api-key": target.other_key},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    [(status, _, error)] = _settled(target, uri)
    assert (status, error) == ("failed", "HTTP 302")
    assert target.internal.seen == []


class Rebinding:
    """A resolver whose answers the test changes: the tenant's name is public at create time."""

    def __init__(self) -> None:
        self.answers = {"hooks.tenant.example": "93.184.216.34"}  # never contacted: only checked
        self.asked: list[str] = []

    async def __call__(self, host: str, _port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"{host}: unknown")
        return [self.answers[host]]


@contextlib.asynccontextmanager
async def _serve(tmp_path: Path, guard: OutboundGuard) -> AsyncIterator[str]:
    settings = Settings(
        data_dir=tmp_path,
        api_key="hk_rebind",
        sandboxes=False,
        poll_seconds=0.1,
        webhook_retry_seconds=0.05,
        webhook_max_attempts=2,
    )
    app = create_app(settings, model_client=ScriptedModel(forever(turn("done"))), outbound=guard)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no start-up event)
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _wait_failed(db: Path, uri: str) -> str:
    async with asyncio.timeout(30):
        while True:
            with contextlib.closing(sqlite3.connect(db)) as conn:
                rows = list(
                    conn.execute("SELECT status, last_error FROM webhook_deliveries WHERE uri = ?", (uri,))
                )
            if rows and rows[0][0] == "failed":
                return str(rows[0][1])
            await asyncio.sleep(0.05)


async def test_a_name_that_rebinds_to_loopback_is_refused_at_delivery(tmp_path: Path) -> None:
    resolver = Rebinding()
    with Recorder() as internal:
        async with _serve(tmp_path, OutboundGuard(resolver=resolver)) as url:
            uri = f"http://hooks.tenant.example:{internal.port}/hook"
            headers = {"x-goog-api-key": "hk_rebind"}
            async with httpx.AsyncClient(base_url=url, headers=headers) as client:
                created = await client.post(
                    "/v1beta/webhooks", json={"uri": uri, "subscribed_events": ["interaction.completed"]}
                )
                assert created.status_code == 200, created.text
                resolver.answers["hooks.tenant.example"] = "127.0.0.1"  # the tenant's DNS flips
                ping = await client.post(f"/v1beta/webhooks/{created.json()['id']}:ping")
                assert ping.status_code == 200
                error = await _wait_failed(tmp_path / "hangar.db", uri)
    assert "refused" in error and "loopback" in error, error
    assert resolver.asked.count("hooks.tenant.example") >= 3  # create + each delivery attempt
    assert internal.seen == []
