"""FakeGemini itself: it fails loudly, replays functions and shipped scripts, speaks the SDK's SSE."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from google import genai
from google.genai import types

from runtime.errors import ModelError
from runtime.llm import GeminiClient, ModelRequest, RetryPolicy, ScriptedTurn, load_script, turn
from runtime.llm.fake_server import FakeGemini
from runtime.llm.script import JsonDict, contains_text, request_parts

Clients = Callable[..., GeminiClient]


def request(text: str = "hi") -> ModelRequest:
    content = types.Content(role="user", parts=[types.Part(text=text)])
    return ModelRequest(model="gemini-test", contents=[content])


async def test_leftover_turns_fail_assert_done(clients: Clients) -> None:
    async with FakeGemini([turn("one"), turn("two")]) as fake:
        await clients(fake).generate(request())
    with pytest.raises(AssertionError, match="1 scripted turn"):
        fake.assert_done()


async def test_unexpected_call_gets_500_and_is_recorded(clients: Clients) -> None:
    async with FakeGemini([turn("only")]) as fake:
        client = clients(fake, retry=RetryPolicy(attempts=1))
        await client.generate(request())
        with pytest.raises(ModelError) as info:
            await client.generate(request())
    assert info.value.status == 500
    assert "unexpected call" in info.value.message
    with pytest.raises(AssertionError, match="request 2: unexpected call"):
        fake.assert_done()


async def test_failed_expectation_gets_400_and_is_recorded(clients: Clients) -> None:
    async with FakeGemini([turn("x", expect=contains_text("secret word"))]) as fake:
        with pytest.raises(ModelError) as info:
            await clients(fake).generate(request("no such thing"))
    assert info.value.status == 400 and not info.value.retryable
    assert len(fake.requests) == 1
    with pytest.raises(AssertionError, match="expectation failed: request contains text 'secret word'"):
        fake.assert_done()


async def test_assertion_style_expectation(clients: Clients) -> None:
    def expect(req: JsonDict) -> None:
        assert req["contents"][-1]["parts"][0]["text"] == "ping", "wanted ping"

    async with FakeGemini([turn("pong", expect=expect)]) as fake:
        with pytest.raises(ModelError):
            await clients(fake).generate(request("pang"))
    with pytest.raises(AssertionError, match="wanted ping"):
        fake.assert_done()


async def test_function_mode_computes_each_turn(clients: Clients) -> None:
    def echo(req: JsonDict) -> ScriptedTurn:
        last = request_parts(req)[-1]["text"]
        return turn(f"echo: {last}", usage={"prompt": len(last), "output": 2})

    async with FakeGemini(echo) as fake:
        client = clients(fake)
        results = [await client.generate(request(f"m{i}")) for i in range(3)]
    assert [r.text for r in results] == ["echo: m0", "echo: m1", "echo: m2"]
    fake.assert_done()  # nothing can be left over in function mode


async def test_function_mode_exception_is_recorded(clients: Clients) -> None:
    def broken(req: JsonDict) -> ScriptedTurn:
        raise KeyError("nope")

    async with FakeGemini(broken) as fake:
        with pytest.raises(ModelError):
            await clients(fake, retry=RetryPolicy(attempts=1)).generate(request())
    with pytest.raises(AssertionError, match="response function raised KeyError"):
        fake.assert_done()


async def test_loaded_script_replays_through_the_sdk(clients: Clients, tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(
        "turns:\n"
        "  - thought: Plan first.\n"
        "    calls: [{name: shell, args: {command: ls}, id: c1}]\n"
        "    signature: c2lnMQ==\n"
        "  - text: All done.\n"
        "    usage: {prompt: 5, output: 2}\n"
    )
    async with FakeGemini(load_script(path)) as fake:
        client = clients(fake)
        first = await client.generate(request())
        second = await client.generate(request())
    assert first.function_calls[0].signature == b"sig1"
    assert second.text == "All done." and second.usage.total_tokens == 7
    fake.assert_done()


async def test_plain_sdk_streaming_against_the_fake() -> None:
    async with FakeGemini([turn("chunked answer here", thought="hmm")], stream_pieces=3) as fake:
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=fake.base_url))
        chunks = [
            c async for c in await client.aio.models.generate_content_stream(model="m", contents="hi")
        ]
        await client.aio.aclose()
    assert len(chunks) == 6
    assert "".join(c.text or "" for c in chunks) == "chunked answer here"
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
