"""GeminiClient (real google-genai client) against FakeGemini over loopback: turns, streaming, usage."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from google.genai import types

from runtime.errors import MissingCredentials
from runtime.llm import (
    FunctionCallPart,
    GeminiClient,
    ModelRequest,
    ModelTools,
    ModelTurnDelta,
    TextPart,
    ThinkingSettings,
    ThoughtPart,
    Usage,
    call,
    turn,
)
from runtime.llm.fake_server import FakeGemini
from runtime.llm.script import echoes_signature, has_function_response

Clients = Callable[..., GeminiClient]
# '+' and '/' in the standard alphabet: the SDK echoes URL-safe base64, so only bytes compare equal.
SIG_BYTES = bytes([0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF, 0x01])
SIG = base64.b64encode(SIG_BYTES).decode()


def user(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


def request(*contents: types.Content, **fields: Any) -> ModelRequest:
    return ModelRequest(model="gemini-test", contents=list(contents) or [user("hello")], **fields)


async def test_text_turn(clients: Clients) -> None:
    async with FakeGemini([turn("Hello there.")]) as fake:
        result = await clients(fake).generate(request(user("hi")))
    assert result.text == "Hello there."
    assert result.parts == [TextPart(text="Hello there.")]
    assert result.finish_reason == "STOP"
    assert result.content.role == "model"
    assert fake.paths == ["/v1/models/gemini-test:generateContent"]
    assert fake.requests[0]["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    fake.assert_done()


async def test_parallel_function_calls_are_all_surfaced(clients: Clients) -> None:
    calls = [call("shell", command="ls -la", id="c1"), call("read_file", path="a.txt", id="c2")]
    script = [turn(calls=calls)]
    async with FakeGemini(script) as fake:
        result = await clients(fake).generate(request())
    assert result.function_calls == [
        FunctionCallPart(id="c1", name="shell", args={"command": "ls -la"}),
        FunctionCallPart(id="c2", name="read_file", args={"path": "a.txt"}),
    ]
    fake.assert_done()


async def test_request_carries_tools_config_and_never_automatic_calling(clients: Clients) -> None:
    decl = types.FunctionDeclaration(
        name="shell", description="Run a command",
        parameters_json_schema={"type": "object", "properties": {"command": {"type": "string"}}},
    )
    req = request(
        system_instruction="Be brief.",
        tools=ModelTools(functions=[decl], google_search=True, url_context=True),
        thinking=ThinkingSettings(level="low"),
    )
    async with FakeGemini([turn("ok")]) as fake:
        await clients(fake).generate(req)
    sent = fake.requests[0]
    assert sent["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    declared = [d["name"] for t in sent["tools"] for d in t.get("functionDeclarations", [])]
    assert declared == ["shell"]
    assert {"googleSearch": {}} in sent["tools"] and {"urlContext": {}} in sent["tools"]
    thinking = sent["generationConfig"]["thinkingConfig"]
    assert thinking.get("includeThoughts", thinking.get("include_thoughts")) is True
    assert "automaticFunctionCalling" not in str(sent)


async def test_thought_signature_kept_exactly_and_echoed_back(clients: Clients) -> None:
    script = [
        turn(thought="I should list files.", calls=[call("shell", command="ls", id="c1")], signature=SIG),
        turn("Done.", expect=echoes_signature(SIG)),
    ]
    async with FakeGemini(script) as fake:
        client = clients(fake)
        first = await client.generate(request(user("list files")))
        (fc,) = first.function_calls
        assert fc.signature == SIG_BYTES
        assert first.content.parts is not None and first.content.parts[1].thought_signature == SIG_BYTES
        history = [user("list files"), first.content, _function_result("c1", "shell", "a.txt")]
        second = await client.generate(request(*history))
    assert second.text == "Done."
    fake.assert_done()
    echoed = fake.requests[1]["contents"][1]["parts"][1]
    assert base64.urlsafe_b64decode(echoed["thoughtSignature"]) == SIG_BYTES
    assert has_function_response("c1", "shell")(fake.requests[1])


async def test_thought_summaries_surfaced(clients: Clients) -> None:
    async with FakeGemini([turn("42", thought="Six times seven.")]) as fake:
        result = await clients(fake).generate(request(thinking=ThinkingSettings()))
    assert result.parts == [ThoughtPart(text="Six times seven."), TextPart(text="42")]
    assert result.thoughts == "Six times seven." and result.text == "42"


async def test_streaming_assembles_the_same_turn_and_yields_deltas(clients: Clients) -> None:
    scripted = turn(
        "The answer is forty-two.", thought="Let me think about this.",
        calls=[call("shell", command="echo 42", id="c9")], signature=SIG,
        usage={"prompt": 12, "output": 7, "thoughts": 5},
    )
    async with FakeGemini([scripted, scripted]) as fake:
        client = clients(fake)
        whole = await client.generate(request())
        deltas: list[ModelTurnDelta] = []
        streamed = await client.generate(request(), on_delta=deltas.append)
    assert fake.paths[1] == "/v1/models/gemini-test:streamGenerateContent"
    assert streamed.parts == whole.parts
    assert streamed.content == whole.content
    assert streamed.usage == whole.usage == Usage(input_tokens=12, output_tokens=7, thought_tokens=5,
                                                  total_tokens=24)
    assert streamed.finish_reason == "STOP"
    assert len(deltas) >= 4  # thought and text each arrive in pieces
    assert "".join(d.text for d in deltas if d.kind == "thought") == "Let me think about this."
    assert "".join(d.text for d in deltas if d.kind == "text") == "The answer is forty-two."
    fake.assert_done()


async def test_streamed_text_signature_stays_on_its_part(clients: Clients) -> None:
    async with FakeGemini([turn("a long final answer", signature=SIG)], stream_pieces=3) as fake:
        deltas: list[ModelTurnDelta] = []
        result = await clients(fake).generate(request(), on_delta=deltas.append)
    assert len(deltas) == 3
    assert result.parts == [TextPart(text="a long final answer", signature=SIG_BYTES)]


async def test_usage_counts_thought_and_cached_tokens(clients: Clients) -> None:
    script = [
        turn("one", usage={"prompt": 100, "cached": 60, "output": 10, "thoughts": 30}),
        turn("two", usage={"prompt": 150, "cached": 90, "output": 5, "thoughts": 0, "total": 155}),
    ]
    async with FakeGemini(script) as fake:
        client = clients(fake)
        first = await client.generate(request())
        second = await client.generate(request())
    assert first.usage == Usage(input_tokens=100, output_tokens=10, thought_tokens=30, cached_tokens=60,
                                total_tokens=140)
    assert first.usage + second.usage == Usage(
        input_tokens=250, output_tokens=15, thought_tokens=30, cached_tokens=150, total_tokens=295
    )


async def test_grounding_metadata_surfaced(clients: Clients) -> None:
    grounding = {
        "webSearchQueries": ["hangar"],
        "groundingChunks": [{"web": {"uri": "https://x.test", "title": "X"}}],
    }
    async with FakeGemini([turn("Cited.", grounding=grounding)]) as fake:
        result = await clients(fake).generate(request(tools=ModelTools(google_search=True)))
    assert result.grounding is not None
    assert result.grounding.web_search_queries == ["hangar"]
    assert result.grounding.grounding_chunks is not None
    assert result.grounding.grounding_chunks[0].web is not None
    assert result.grounding.grounding_chunks[0].web.uri == "https://x.test"


async def test_async_delta_callback(clients: Clients) -> None:
    seen: list[str] = []

    async def on_delta(delta: ModelTurnDelta) -> None:
        seen.append(delta.text)

    async with FakeGemini([turn("streamed text")]) as fake:
        result = await clients(fake).generate(request(), on_delta=on_delta)
    assert "".join(seen) == result.text == "streamed text"


async def test_missing_credentials_named_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeGemini([]) as fake:
        client = GeminiClient(base_url=fake.base_url)
        with pytest.raises(MissingCredentials) as info:
            client.check_credentials()
        for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT",
                    "GOOGLE_CLOUD_LOCATION"):
            assert var in str(info.value)
        with pytest.raises(MissingCredentials):
            await client.generate(request())
        await client.aclose()
    assert fake.requests == []
    fake.assert_done()


async def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch, clients: Clients) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "env-key")
    async with FakeGemini([turn("ok")]) as fake:
        client = GeminiClient(base_url=fake.base_url)
        assert client.check_credentials().kind == "api_key"
        assert (await client.generate(request())).text == "ok"
        await client.aclose()


def _function_result(call_id: str, name: str, output: str) -> types.Content:
    response = types.FunctionResponse(id=call_id, name=name, response={"output": output})
    return types.Content(role="user", parts=[types.Part(function_response=response)])
