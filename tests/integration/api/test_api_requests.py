"""Accepted means applied: what a create request asks for reaches Gemini (as the fake model
records it), and what Hangar does not apply is a 400 naming the field, at create time."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from api_harness import HangarServer
from google.genai import _interactions as errors

from runtime.llm.script import ScriptedUsage, turn

MODEL = "gemini-3-flash-preview"
AGENT = "antigravity-preview-05-2026"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
}


def test_structured_output_reaches_gemini_and_output_text_is_json(hangar: HangarServer) -> None:
    hangar.script.set(turn('{"city": "Oslo", "population": 709000}'))
    client = hangar.client()
    interaction = client.interactions.create(
        model=MODEL,
        input="Largest city of Norway?",
        response_format={"type": "text", "mime_type": "application/json", "schema": SCHEMA},
    )
    assert interaction.status == "completed"
    answer = json.loads(interaction.output_text)
    assert set(answer) == set(SCHEMA["required"])
    assert isinstance(answer["city"], str) and isinstance(answer["population"], int)
    config = hangar.script.requests[0]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == SCHEMA


def test_generation_config_safety_and_builtin_tools_reach_gemini(hangar: HangarServer) -> None:
    hangar.script.set(turn("ok"))
    client = hangar.client()
    client.interactions.create(
        model=MODEL,
        input="hi",
        tools=[{"type": "code_execution"}, {"type": "google_search"}, {"type": "url_context"}],
        generation_config={
            "temperature": 0.3,
            "top_p": 0.9,
            "max_output_tokens": 100,
            "seed": 7,
            "stop_sequences": ["END"],
            "thinking_level": "low",
            "thinking_summaries": "auto",
        },
        safety_settings=[{"type": "hate_speech", "threshold": "block_only_high"}],
        service_tier="flex",
    )
    sent = hangar.script.requests[0]
    config = sent["generationConfig"]
    assert (config["temperature"], config["topP"], config["maxOutputTokens"], config["seed"]) == (
        0.3,
        0.9,
        100,
        7,
    )
    assert config["stopSequences"] == ["END"]
    thinking = {k.replace("_", "").lower(): v for k, v in config["thinkingConfig"].items()}
    assert thinking == {"includethoughts": True, "thinkinglevel": "LOW"}
    assert sent["safetySettings"] == [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}
    ]
    assert sent["tools"] == [{"googleSearch": {}}, {"urlContext": {}}, {"codeExecution": {}}]
    assert sent.get("serviceTier") == "flex" or config.get("serviceTier") == "flex"


def test_tool_choice_reaches_gemini(hangar: HangarServer) -> None:
    hangar.script.set(turn("ok"))
    weather = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    client = hangar.client()
    client.interactions.create(
        model=MODEL,
        input="hi",
        tools=[weather],
        generation_config={"tool_choice": {"allowed_tools": {"mode": "any", "tools": ["get_weather"]}}},
    )
    calling = hangar.script.requests[0]["toolConfig"]["functionCallingConfig"]
    assert calling == {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}


def test_usage_by_modality_where_gemini_returns_it(hangar: HangarServer) -> None:
    details = {
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 8},
            {"modality": "IMAGE", "tokenCount": 258},
        ],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 4}],
    }
    hangar.script.set(turn("a cat", usage=ScriptedUsage(prompt=266, output=4, extra=details)))
    client = hangar.client()
    usage = client.interactions.create(model=MODEL, input="what is this?").usage
    assert usage.total_input_tokens == 266
    by_input = {m.modality: m.tokens for m in usage.input_tokens_by_modality}
    assert by_input == {"text": 8, "image": 258}
    assert [(m.modality, m.tokens) for m in usage.output_tokens_by_modality] == [("text", 4)]


# The SDK itself refuses some of these before sending (generation_config with an agent, a string
# temperature, ...): those go as raw HTTP, as another client would send them.


def _refused(hangar: HangarServer, **kwargs: Any) -> str:
    hangar.script.set()  # any model call would fail the test: nothing may run
    client = hangar.client()
    try:
        with pytest.raises(errors.BadRequestError) as info:
            client.interactions.create(input="hi", **kwargs)
        message = str(info.value)
    except (ValueError, TypeError):  # refused by the SDK, not the server: send it anyway
        response = httpx.post(
            f"{hangar.url}/v1beta/interactions",
            headers={"x-goog-api-key": hangar.dev_key},
            json={"input": "hi", **kwargs},
        )
        assert response.status_code == 400, response.text
        message = response.json()["error"]["message"]
    assert not hangar.script.requests
    return message


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("generation_config", {"generation_config": {"temperature": 0.2}}),
        ("response_format", {"response_format": {"type": "text", "mime_type": "application/json"}}),
        ("response_mime_type", {"response_mime_type": "application/json"}),
        ("safety_settings", {"safety_settings": [{"type": "harassment", "threshold": "off"}]}),
        ("file_search", {"tools": [{"type": "file_search", "file_search_store_names": ["s"]}]}),
        ("computer_use", {"tools": [{"type": "computer_use"}]}),
        (
            "enable_bigquery_tool",
            {"agent_config": {"type": "deep-research", "enable_bigquery_tool": True}},
        ),
    ],
)
def test_agents_refuse_what_google_refuses(hangar: HangarServer, field: str, kwargs: dict[str, Any]) -> None:
    message = _refused(hangar, agent=AGENT, **kwargs)
    assert field in message
    if field in ("file_search", "enable_bigquery_tool"):
        assert "Google's hosted" in message, message


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("mcp_server", {"tools": [{"type": "mcp_server", "name": "m", "url": "https://m.example/mcp"}]}),
        ("file_search", {"tools": [{"type": "file_search"}]}),
        ("agent_config", {"agent_config": {"type": "antigravity"}}),
        ("speech_config", {"generation_config": {"speech_config": [{"voice": "Kore"}]}}),
        ("response_format", {"response_format": {"type": "audio", "mime_type": "audio/wav"}}),
        ("response_modalities", {"response_modalities": ["image"]}),
        ("cached_content", {"cached_content": "cachedContents/abc"}),
    ],
)
def test_models_refuse_what_hangar_does_not_apply(
    hangar: HangarServer, field: str, kwargs: dict[str, Any]
) -> None:
    assert field in _refused(hangar, model=MODEL, **kwargs)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("temperature", {"model": MODEL, "generation_config": {"temperature": "hot"}}),
        ("thinking_level", {"model": MODEL, "generation_config": {"thinking_level": "max"}}),
        ("tools[0]", {"model": MODEL, "tools": [{"type": "telepathy"}]}),
        ("tools[0].function.name", {"model": MODEL, "tools": [{"type": "function"}]}),
        (
            "max_total_tokens",
            {"agent": AGENT, "agent_config": {"type": "antigravity", "max_total_tokens": -3}},
        ),
        ("agent_config", {"agent": AGENT, "agent_config": {"type": "antigravity", "modle": "x"}}),
        ("labels", {"model": MODEL, "labels": {"Team": "x"}}),
        (
            "safety_settings[0].threshold",
            {"model": MODEL, "safety_settings": [{"type": "harassment", "threshold": "some"}]},
        ),
    ],
)
def test_bad_values_are_400_at_create(hangar: HangarServer, field: str, kwargs: dict[str, Any]) -> None:
    assert field in _refused(hangar, **kwargs)


def test_unknown_top_level_field_is_400(hangar: HangarServer) -> None:
    response = httpx.post(
        f"{hangar.url}/v1beta/interactions",
        headers={"x-goog-api-key": hangar.dev_key},
        json={"model": MODEL, "input": "hi", "temprature": 0.1},
    )
    assert response.status_code == 400
    assert "temprature" in response.json()["error"]["message"]


def test_openapi_documents_the_create_body_it_validates(hangar: HangarServer) -> None:
    spec = httpx.get(f"{hangar.url}/openapi.json").json()
    for version in ("v1beta", "v1alpha"):
        body = spec["paths"][f"/{version}/interactions"]["post"]["requestBody"]
        schema = body["content"]["application/json"]["schema"]
        assert schema["additionalProperties"] is False
        props = schema["properties"]
        assert {"model", "agent", "tools", "generation_config", "agent_config", "response_format"} <= set(
            props
        )
        assert "$ref" not in json.dumps(schema)  # stands alone in the document
        temperature = props["generation_config"]["anyOf"][0]["properties"]["temperature"]
        assert temperature["anyOf"][0]["maximum"] == 2


def test_openapi_documents_the_agent_create_body(hangar: HangarServer) -> None:
    spec = httpx.get(f"{hangar.url}/openapi.json").json()
    schema = spec["paths"]["/v1beta/agents"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "id", "description", "system_instruction", "base_agent", "tools", "agent_config",
        "base_environment", "builtin_tools", "limits", "outputs",
    }  # fmt: skip
    assert schema["required"] == ["id"]
    assert "$ref" not in json.dumps(schema)


def test_agent_create_refuses_unknown_fields(hangar: HangarServer) -> None:
    response = httpx.post(
        f"{hangar.url}/v1beta/agents",
        headers={"x-goog-api-key": hangar.dev_key},
        json={"id": "typo-agent", "system_instructions": "be nice"},
    )
    assert response.status_code == 400
    assert "system_instructions" in response.json()["error"]["message"]
