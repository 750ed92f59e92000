"""GeminiClient retries and error mapping, through the real SDK against FakeGemini."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from google.genai import types

from runtime.errors import ModelError, ModelUnavailable
from runtime.llm import GeminiClient, ModelRequest, ModelTurnDelta, RetryPolicy, fail, turn
from runtime.llm.fake_server import FakeGemini

Clients = Callable[..., GeminiClient]


def request() -> ModelRequest:
    content = types.Content(role="user", parts=[types.Part(text="hi")])
    return ModelRequest(model="gemini-test", contents=[content])


async def test_429_with_retry_after_then_success(clients: Clients, sleeps: Any) -> None:
    async with FakeGemini([fail(429, "quota exhausted", retry_after=3), turn("ok")]) as fake:
        result = await clients(fake).generate(request())
    assert result.text == "ok"
    assert len(fake.requests) == 2
    assert sleeps.delays == [3.0]
    fake.assert_done()


async def test_retry_after_zero_really_goes_through_asyncio_sleep(clients: Clients) -> None:
    async with FakeGemini([fail(503, retry_after=0), fail(429, retry_after=0), turn("ok")]) as fake:
        client = GeminiClient(api_key="k", base_url=fake.base_url, retry=RetryPolicy(attempts=3))
        try:
            assert (await client.generate(request())).text == "ok"
        finally:
            await client.aclose()
    assert len(fake.requests) == 3


async def test_retry_after_is_capped_by_max_delay(clients: Clients, sleeps: Any) -> None:
    async with FakeGemini([fail(429, retry_after=120), turn("ok")]) as fake:
        await clients(fake, retry=RetryPolicy(attempts=2, max_delay_s=7)).generate(request())
    assert sleeps.delays == [7.0]


async def test_persistent_500_fails_typed_after_all_attempts(clients: Clients, sleeps: Any) -> None:
    async with FakeGemini([fail(500, "backend exploded")] * 4) as fake:
        with pytest.raises(ModelUnavailable) as info:
            await clients(fake, retry=RetryPolicy(attempts=4, initial_delay_s=0.5, max_delay_s=1)).generate(
                request()
            )
    error = info.value
    assert error.status == 500 and error.retryable
    assert "backend exploded" in error.message and "after 4 attempts" in error.message
    assert isinstance(error.__cause__, Exception)
    assert len(fake.requests) == 4  # the SDK added no retries of its own
    delays = sleeps.delays
    assert len(delays) == 3 and all(0 <= d <= 1 for d in delays)
    fake.assert_done()


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_not_retried(clients: Clients, status: int) -> None:
    async with FakeGemini([fail(status, "bad request body")]) as fake:
        with pytest.raises(ModelError) as info:
            await clients(fake).generate(request())
    assert type(info.value) is ModelError
    assert info.value.status == status and not info.value.retryable
    assert "bad request body" in info.value.message
    assert len(fake.requests) == 1


async def test_408_is_retried(clients: Clients) -> None:
    async with FakeGemini([fail(408), turn("ok")]) as fake:
        assert (await clients(fake).generate(request())).text == "ok"


async def test_streaming_call_retried_before_first_delta(clients: Clients, sleeps: Any) -> None:
    async with FakeGemini([fail(503, retry_after=1), turn("streamed")]) as fake:
        deltas: list[ModelTurnDelta] = []
        result = await clients(fake).generate(request(), on_delta=deltas.append)
    assert result.text == "streamed" and "".join(d.text for d in deltas) == "streamed"
    assert sleeps.delays == [1.0]


async def test_timeout_is_retried(clients: Clients) -> None:
    async with FakeGemini([turn("slow", delay_s=1.0), turn("fast")]) as fake:
        result = await clients(fake, timeout_s=0.2).generate(request())
    assert result.text == "fast"
    assert len(fake.requests) == 2


async def test_connection_refused_maps_to_model_unavailable(sleeps: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = GeminiClient(
        api_key="k", base_url=f"http://127.0.0.1:{port}/", retry=RetryPolicy(attempts=2), sleep=sleeps
    )
    try:
        with pytest.raises(ModelUnavailable) as info:
            await client.generate(request())
    finally:
        await client.aclose()
    assert info.value.status is None and info.value.retryable
    assert "unreachable" in info.value.message
    assert len(sleeps.delays) == 1
