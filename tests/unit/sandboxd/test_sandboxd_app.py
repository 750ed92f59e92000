"""Request validation, authentication and error rendering of the ASGI app."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from runtime.errors import HangarError, InputError
from runtime.sandbox.client import SandboxdClient
from runtime.sandbox.local import LocalSandbox
from runtime.sandboxd import __main__ as sandboxd_main
from runtime.sandboxd import protocol, routes


@pytest.fixture
async def raw(box: LocalSandbox) -> AsyncIterator[httpx.AsyncClient]:
    token = box.client._http.headers["authorization"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=box.app), base_url="http://sandboxd",
        headers={"authorization": token},
    ) as http:
        yield http


async def _error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["code"] == code
    return str(body["message"])


async def test_health_needs_the_token(box: LocalSandbox, raw: httpx.AsyncClient) -> None:
    assert (await raw.get("/health")).json()["status"] == "ok"
    no_token = await raw.get("/health", headers={"authorization": ""})
    await _error(no_token, 401, "unauthorized")
    wrong = await raw.get("/health", headers={"authorization": "Bearer nope"})
    await _error(wrong, 401, "unauthorized")


async def test_wrong_token_through_the_client_is_typed(box: LocalSandbox) -> None:
    client = SandboxdClient(httpx.ASGITransport(app=box.app), "wrong")
    with pytest.raises(InputError) as info:
        await client.health()
    assert info.value.code == "unauthorized"
    await client.aclose()


async def test_malformed_json_and_wrong_types(raw: httpx.AsyncClient) -> None:
    message = await _error(await raw.post("/exec", content=b"{not json"), 400, "invalid_argument")
    assert "json" in message.lower()
    wrong_types = await raw.post("/exec", json={"argv": "ls", "timeout_s": -1})
    message = await _error(wrong_types, 400, "invalid_argument")
    assert "argv" in message and "timeout_s" in message
    await _error(await raw.post("/exec", json={"argv": ["a"], "command": "b"}), 400, "invalid_argument")
    bad_session = await raw.post("/shell/run", json={"command": "x", "session": "../x"})
    await _error(bad_session, 400, "invalid_argument")
    await _error(await raw.post("/browser", json={"action": "fly"}), 400, "invalid_argument")
    assert (await raw.get("/health")).status_code == 200


async def test_unknown_route_and_wrong_method(raw: httpx.AsyncClient) -> None:
    await _error(await raw.post("/nope"), 404, "not_found")
    await _error(await raw.get("/exec"), 400, "invalid_argument")


async def test_unexpected_exception_is_internal_and_app_keeps_serving(
    raw: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*args: object) -> None:
        raise ValueError("kaboom")

    monkeypatch.setattr(routes, "files_stat", boom)
    raw_app = raw._transport.app  # type: ignore[attr-defined]
    raw_app._handlers.clear()
    message = await _error(await raw.post("/files/stat", json={}), 500, "internal")
    assert "kaboom" in message
    assert (await raw.get("/health")).status_code == 200


async def test_client_maps_internal_errors(client: SandboxdClient, monkeypatch: pytest.MonkeyPatch,
                                           box: LocalSandbox) -> None:
    async def boom(*args: object) -> None:
        raise ValueError("kaboom")

    monkeypatch.setattr(routes, "files_stat", boom)
    box.app._handlers.clear()
    with pytest.raises(HangarError, match="kaboom") as info:
        await client.stat(".")
    assert info.value.code == "internal"


def test_socket_name_matches_protocol() -> None:
    assert sandboxd_main.SOCKET_NAME == protocol.SOCKET_NAME


def test_start_up_objects_are_frozen_out_of_the_collector() -> None:
    """Once warm, a full collection no longer walks the daemon's start-up objects (in a process of
    its own: freezing is process-wide)."""
    code = (
        "import gc; from runtime.sandboxd import __main__ as m; "
        "assert gc.get_freeze_count() == 0; m._warm(); "
        "assert gc.get_freeze_count() > 10000, gc.get_freeze_count()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
