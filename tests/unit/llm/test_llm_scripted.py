"""ScriptedModel (in-process), the script helpers and loader, and credential checks."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from google.genai import types

from runtime.errors import InputError, MissingCredentials, ModelError, ModelUnavailable
from runtime.llm import (
    FunctionCallPart,
    ModelClient,
    ModelRequest,
    ModelTurnDelta,
    ScriptedModel,
    call,
    check_credentials,
    fail,
    forever,
    load_script,
    turn,
)
from runtime.llm.script import echoes_signature, has_function_response


def _request(*contents: types.Content) -> ModelRequest:
    default = types.Content(role="user", parts=[types.Part(text="go")])
    return ModelRequest(model="m", contents=list(contents) or [default])


async def test_scripted_model_replays_turns_and_checks_expectations() -> None:
    model = ScriptedModel([
        turn(calls=[call("shell", command="ls", id="c1")], signature=b"\xfa\xfb"),
        turn("done", expect=has_function_response("c1")),
    ])
    client: ModelClient = model
    first = await client.generate(_request())
    expected = FunctionCallPart(id="c1", name="shell", args={"command": "ls"}, signature=b"\xfa\xfb")
    assert first.function_calls == [expected]
    result = types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
        id="c1", name="shell", response={"output": "a"}))])
    second = await client.generate(_request(first.content, result))
    assert second.text == "done"
    assert echoes_signature(b"\xfa\xfb")(model.requests[1])
    model.assert_done()


async def test_scripted_model_streams_deltas() -> None:
    deltas: list[ModelTurnDelta] = []
    model = ScriptedModel([turn("hello world", thought="hm")])
    result = await model.generate(_request(), on_delta=deltas.append)
    assert "".join(d.text for d in deltas if d.kind == "text") == result.text == "hello world"


async def test_scripted_model_fails_loudly() -> None:
    model = ScriptedModel([fail(429), fail(400, "bad"), turn("x", expect=lambda r: False)])
    with pytest.raises(ModelUnavailable):
        await model.generate(_request())
    with pytest.raises(ModelError) as info:
        await model.generate(_request())
    assert info.value.status == 400 and not info.value.retryable
    with pytest.raises(ModelError, match="expectation failed"):
        await model.generate(_request())
    with pytest.raises(ModelError, match="unexpected call"):
        await model.generate(_request())
    with pytest.raises(AssertionError, match=r"expectation failed.*unexpected call"):
        model.assert_done()


async def test_forever_never_runs_out() -> None:
    model = ScriptedModel(forever(turn("a"), turn("b")))
    assert [(await model.generate(_request())).text for _ in range(5)] == ["a", "b", "a", "b", "a"]
    model.assert_done()


def test_signature_goes_on_first_call_else_last_part() -> None:
    with_calls = turn("t", calls=[call("a"), call("b")], signature="c2ln").wire_parts()
    assert [("thoughtSignature" in p) for p in with_calls] == [False, True, False]
    text_only = turn("t", thought="th", signature="c2ln").wire_parts()
    assert [("thoughtSignature" in p) for p in text_only] == [False, True]


def test_call_helper_accepts_an_args_dict_for_awkward_names() -> None:
    assert call("f", {"id": 3}, id="c").model_dump() == {"name": "f", "args": {"id": 3}, "id": "c"}


def test_load_script_from_json_and_yaml(tmp_path: Path) -> None:
    as_json = tmp_path / "s.json"
    as_json.write_text(json.dumps([{"text": "hi"}, {"status": 429, "retry_after": 1}]))
    turns = load_script(as_json)
    assert turns[0].text == "hi" and turns[1].status == 429
    as_yaml = tmp_path / "s.yaml"
    as_yaml.write_text("- text: hi\n- calls: [{name: shell, args: {command: ls}}]\n")
    assert load_script(as_yaml)[1].calls[0].name == "shell"


def test_load_script_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- text: hi\n- txet: typo\n")
    with pytest.raises(InputError, match=r"bad.yaml: turn 1.txet"):
        load_script(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_script(tmp_path / "missing.yaml")


def test_echoes_signature_compares_bytes_across_base64_alphabets() -> None:
    raw = bytes([0xFA, 0xFB, 0xFF])
    request = {"contents": [{"parts": [{"thoughtSignature": base64.urlsafe_b64encode(raw).decode()}]}]}
    assert echoes_signature(base64.b64encode(raw).decode())(request)
    assert not echoes_signature("b3RoZXI=")(request)


def test_check_credentials_variants() -> None:
    assert check_credentials({"GEMINI_API_KEY": "a"}).api_key == "a"
    assert check_credentials({"GEMINI_API_KEY": "a", "GOOGLE_API_KEY": "b"}).api_key == "b"  # as the SDK
    vertex = check_credentials({"GOOGLE_GENAI_USE_VERTEXAI": "true", "GOOGLE_CLOUD_PROJECT": "p"})
    assert (vertex.kind, vertex.project, vertex.location) == ("vertex", "p", "global")
    express = check_credentials({"GOOGLE_GENAI_USE_VERTEXAI": "1", "GOOGLE_API_KEY": "k"})
    assert (express.kind, express.api_key) == ("vertex", "k")
    with pytest.raises(MissingCredentials, match=r"GEMINI_API_KEY.*GOOGLE_GENAI_USE_VERTEXAI"):
        check_credentials({})
    with pytest.raises(MissingCredentials, match="GOOGLE_CLOUD_PROJECT"):
        check_credentials({"GOOGLE_GENAI_USE_VERTEXAI": "true"})
    assert MissingCredentials("x").code == "missing_credentials" and not MissingCredentials("x").retryable
