"""Wire details the SDK does not show directly: auth headers, error bodies, SSE framing, versions."""

from __future__ import annotations

import uuid

import httpx
import pytest
from api_harness import HangarServer
from google.genai import _interactions as errors

from runtime.llm.script import turn

MODEL = "gemini-3-flash-preview"


def _post(hangar: HangarServer, body: object, *, headers: dict[str, str] | None = None) -> httpx.Response:
    headers = {"x-goog-api-key": hangar.dev_key, **(headers or {})}
    return httpx.post(f"{hangar.url}/v1/interactions", json=body, headers=headers, timeout=10)


def _assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert "Traceback" not in message
    assert "pydantic" not in message
    return message


def test_healthz(hangar: HangarServer) -> None:
    assert httpx.get(f"{hangar.url}/healthz").json() == {"status": "ok"}


def test_no_key_is_401_with_error_body(hangar: HangarServer) -> None:
    response = httpx.post(f"{hangar.url}/v1/interactions", json={"model": MODEL, "input": "hi"})
    assert "missing API key" in _assert_error(response, 401, "unauthenticated")
    response = httpx.get(f"{hangar.url}/v1beta/interactions/int_x")
    _assert_error(response, 401, "unauthenticated")


def test_bearer_token_authenticates(hangar: HangarServer) -> None:
    response = httpx.get(
        f"{hangar.url}/v1/interactions/int_missing", headers={"authorization": f"Bearer {hangar.dev_key}"}
    )
    _assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": MODEL}, "`input` is required"),
        ({"input": "hi"}, "one of `model` or `agent`"),
        ({"model": MODEL, "agent": "a", "input": "hi"}, "not both"),
        ({"model": MODEL, "input": 5}, "input"),
        ({"model": MODEL, "input": "hi", "background": {"x": 1}}, "background"),
        ({"model": MODEL, "input": "hi", "tools": "nope"}, "tools"),
        ({"model": MODEL, "input": [{"type": "image", "data": 3}]}, "input"),
        ({"model": MODEL, "input": [{"type": "user_input", "content": "x"}]}, "steps"),
        ({"model": MODEL, "input": "hi", "background": True, "store": False}, "store"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_bad_bodies_are_clean_400s(hangar: HangarServer, body: object, needle: str) -> None:
    assert needle in _assert_error(_post(hangar, body), 400, "invalid_argument")


def test_malformed_json_is_400_and_huge_input_413(hangar: HangarServer) -> None:
    headers = {"x-goog-api-key": hangar.dev_key, "content-type": "application/json"}
    response = httpx.post(f"{hangar.url}/v1/interactions", content=b"{not json", headers=headers)
    assert "not valid JSON" in _assert_error(response, 400, "invalid_argument")
    huge = _post(hangar, {"model": MODEL, "input": "x" * 200_000})
    assert "larger than" in _assert_error(huge, 413, "request_too_large")


def test_sdk_sees_bad_request_error(hangar: HangarServer) -> None:
    client = hangar.client()
    with pytest.raises(errors.BadRequestError) as caught:
        client.interactions.create(model=MODEL, input="hi", extra_body={"background": [1]})
    assert caught.value.body["error"]["code"] == "invalid_argument"


def test_unknown_fields_are_refused_and_config_echoed(hangar: HangarServer) -> None:
    refused = _post(hangar, {"model": MODEL, "input": "hi", "future_field": {"a": 1}})
    assert refused.status_code == 400 and "future_field" in refused.text  # accepted means applied
    hangar.script.set(turn("ok"))
    response = _post(
        hangar,
        {
            "model": MODEL,
            "input": "hi",
            "system_instruction": "be brief",
            "generation_config": {"temperature": 0.5, "max_output_tokens": "100"},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed"
    assert body["system_instruction"] == "be brief"
    assert "future_field" not in body
    request = hangar.script.requests[0]
    assert request["systemInstruction"]["parts"] == [{"text": "be brief"}]
    assert request["generationConfig"]["temperature"] == 0.5
    assert request["generationConfig"]["maxOutputTokens"] == 100


def test_idempotency_key_returns_the_same_interaction(hangar: HangarServer) -> None:
    hangar.script.set(turn("only once"))
    client = hangar.client()
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = client.interactions.create(model=MODEL, input="hi", extra_headers=key)
    second = client.interactions.create(model=MODEL, input="hi", extra_headers=key)
    assert first.id == second.id
    assert second.output_text == "only once"
    assert len(hangar.script.requests) == 1


@pytest.mark.parametrize("version", ["v1", "v1beta", "v1alpha"])
def test_every_api_version_is_served(hangar: HangarServer, version: str) -> None:
    hangar.script.set(turn(f"hello {version}"))
    client = hangar.client(api_version=version)
    interaction = client.interactions.create(model=MODEL, input="hi")
    assert interaction.output_text == f"hello {version}"
    assert client.interactions.get(interaction.id).status == "completed"


def test_stream_frames_carry_ids_and_keepalives(hangar: HangarServer) -> None:
    hangar.script.set(turn("slow answer", delay_s=1.2))
    headers = {"x-goog-api-key": hangar.dev_key}
    body = {"model": MODEL, "input": "hi", "stream": True}
    with httpx.stream("POST", f"{hangar.url}/v1/interactions", json=body, headers=headers, timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    assert ": keep-alive" in text
    frames = [f for f in text.split("\n\n") if f.startswith("event:")]
    assert frames[0].startswith("event: interaction.created\nid: 1\ndata: {")
    assert '"event_id": "1"' in frames[0]
    assert frames[-1].startswith("event: interaction.completed")


def test_unknown_route_is_json_404(hangar: HangarServer) -> None:
    response = httpx.get(f"{hangar.url}/v2/interactions/x", headers={"x-goog-api-key": hangar.dev_key})
    _assert_error(response, 404, "not_found")
