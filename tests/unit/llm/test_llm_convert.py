"""Usage arithmetic, request config and turn assembly from google-genai types."""

from __future__ import annotations

from google.genai import types

from runtime.llm import (
    FunctionCallPart,
    ModelRequest,
    ModelTools,
    ModelTurnDelta,
    OtherPart,
    TextPart,
    ThinkingSettings,
    ThoughtPart,
    Usage,
)
from runtime.llm.convert import StreamAssembler, build_config, turn_from_response


def _response(*parts: dict[str, object], **extra: object) -> types.GenerateContentResponse:
    candidate: dict[str, object] = {"content": {"role": "model", "parts": list(parts)}}
    candidate.update(extra)
    return types.GenerateContentResponse.model_validate({"candidates": [candidate]})


def test_usage_adds_up() -> None:
    a = Usage(input_tokens=1, output_tokens=2, thought_tokens=3, cached_tokens=4, total_tokens=6)
    assert a + a == Usage(input_tokens=2, output_tokens=4, thought_tokens=6, cached_tokens=8, total_tokens=12)
    assert sum([a, a, a], Usage()).total_tokens == 18
    assert Usage.from_metadata(None) == Usage()


def test_config_disables_automatic_function_calling_and_maps_settings() -> None:
    request = ModelRequest(
        model="m", contents=[], system_instruction="sys",
        tools=ModelTools(functions=[types.FunctionDeclaration(name="f")], google_search=True),
        thinking=ThinkingSettings(level="high", include_thoughts=False),
    )
    config = build_config(request)
    assert config.automatic_function_calling == types.AutomaticFunctionCallingConfig(disable=True)
    assert config.system_instruction == "sys"
    expected = types.ThinkingConfig(include_thoughts=False, thinking_level=types.ThinkingLevel.HIGH)
    assert config.thinking_config == expected
    assert config.tools is not None and len(config.tools) == 2
    assert build_config(ModelRequest(model="m", contents=[])).tools is None


def test_turn_keeps_parts_and_content_as_sent() -> None:
    response = _response(
        {"text": "plan", "thought": True},
        {"functionCall": {"id": "a", "name": "f", "args": {"x": 1}}, "thoughtSignature": "c2ln"},
        {"functionCall": {"name": "g"}},
        {"executableCode": {"language": "PYTHON", "code": "1"}},
        finishReason="STOP",
    )
    turn = turn_from_response(response)
    assert turn.parts[:3] == [
        ThoughtPart(text="plan"),
        FunctionCallPart(id="a", name="f", args={"x": 1}, signature=b"sig"),
        FunctionCallPart(id=None, name="g", args={}),
    ]
    assert isinstance(turn.parts[3], OtherPart)
    assert response.candidates and turn.content is response.candidates[0].content
    assert turn.finish_reason == "STOP"


def test_blocked_prompt_gives_an_empty_turn_with_the_reason() -> None:
    response = types.GenerateContentResponse.model_validate(
        {"promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": "no"}}
    )
    turn = turn_from_response(response)
    assert turn.parts == [] and turn.content.role == "model"
    assert (turn.finish_reason, turn.finish_message) == ("SAFETY", "no")


def test_stream_joins_text_until_a_signature_closes_the_part() -> None:
    asm = StreamAssembler()
    deltas: list[ModelTurnDelta] = []
    for chunk in [
        _response({"text": "thin", "thought": True}),
        _response({"text": "king", "thought": True}),
        _response({"text": "Hel"}),
        _response({"text": "lo", "thoughtSignature": "c2ln"}),
        _response({"text": "", "thoughtSignature": "c2lnMg=="}),
        _response({"functionCall": {"name": "f", "id": "1"}}, finishReason="STOP"),
    ]:
        deltas += asm.add(chunk)
    turn = asm.turn()
    assert turn.parts == [
        ThoughtPart(text="thinking"),
        TextPart(text="Hello", signature=b"sig"),
        TextPart(text="", signature=b"sig2"),
        FunctionCallPart(id="1", name="f", args={}),
    ]
    assert [d.text for d in deltas] == ["thin", "king", "Hel", "lo"]
    assert turn.finish_reason == "STOP"
    assert turn.content.parts is not None and len(turn.content.parts) == 4
