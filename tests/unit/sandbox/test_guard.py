"""The guarded transport turns transport failures of a dead box into the box's own reason."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from runtime.errors import InputError, SandboxGone
from runtime.sandbox.client import SandboxdClient
from runtime.sandbox.guard import GuardedTransport


class FakeBox:
    def __init__(self, *, dead: bool = False, paused: bool = False) -> None:
        self.dead, self.paused = dead, paused
        self.checked = 0

    def guard(self) -> None:
        if self.paused:
            raise InputError("paused", code="sandbox_paused")

    async def on_transport_error(self, error: httpx.TransportError) -> None:
        self.checked += 1
        if self.dead:
            raise SandboxGone("sandbox x killed: out of memory (limit 256 MB)")


def _client(handler: httpx.MockTransport, box: FakeBox) -> SandboxdClient:
    transport = GuardedTransport(handler)
    transport.bind(box)
    return SandboxdClient(transport, "token")


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


async def test_dead_box_reports_its_reason() -> None:
    box = FakeBox(dead=True)
    with pytest.raises(SandboxGone, match="out of memory"):
        await _client(httpx.MockTransport(_refuse), box).health()
    assert box.checked == 1


async def test_live_box_lets_the_transport_error_through() -> None:
    box = FakeBox()
    with pytest.raises(SandboxGone, match="unreachable"):  # the client's own mapping
        await _client(httpx.MockTransport(_refuse), box).health()
    assert box.checked == 1


async def test_guard_refuses_before_sending() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    with pytest.raises(InputError, match="paused"):
        await _client(httpx.MockTransport(record), FakeBox(paused=True)).health()
    assert sent == []


class _Broken(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"type":"stdout","data":"partial"}\n'
        raise httpx.ReadError("connection reset")


async def test_stream_cut_mid_exec_reports_the_death() -> None:
    box = FakeBox(dead=True)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=_Broken()))
    with pytest.raises(SandboxGone, match="out of memory"):
        await _client(transport, box).exec(["sleep", "60"])
