"""Create-time validation: what each kind of interaction applies, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.api.openapi import request_body
from runtime.errors import InputError
from runtime.request_models import CreateInteractionBody
from runtime.service.requests import parse_create

MODEL = {"model": "gemini-3-flash-preview", "input": "hi"}
AGENT = {"agent": "antigravity-preview-05-2026", "input": "hi"}


def test_structured_output_and_agent_config_are_accepted() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    parse_create(
        {**MODEL, "response_format": {"type": "text", "mime_type": "application/json", "schema": schema}}
    )
    parse_create({**MODEL, "response_format": [{"type": "text"}], "response_mime_type": "text/plain"})
    parse_create({**AGENT, "agent_config": {"type": "antigravity", "model": "m", "max_total_tokens": "1000"}})
    parse_create({**AGENT, "tools": [{"type": "mcp_server", "name": "m", "url": "https://m.example/mcp"}]})


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({**MODEL, "response_format": {"type": "text", "schema": {"type": "object"}}}, "mime_type"),
        (
            {
                **MODEL,
                "response_format": {"type": "text", "mime_type": "text/plain"},
                "response_mime_type": "application/json",
            },
            "contradicts",
        ),
        ({**MODEL, "response_mime_type": "text/x.enum"}, "response_mime_type"),
        ({**MODEL, "service_tier": "deferred"}, "service_tier"),
        ({**MODEL, "tools": [{"type": "google_search", "search_types": ["image_search"]}]}, "search_types"),
        ({**AGENT, "service_tier": "priority"}, "service_tier"),
        ({**AGENT, "agent_config": {"type": "code-mender"}}, "code-mender"),
        (
            {**AGENT, "agent_config": {"type": "deep-research", "enable_bigquery_tool": True}},
            "enable_bigquery_tool",
        ),
        ({**AGENT, "continuation_token": "t"}, "continuation_token"),
    ],
)
def test_refusals_name_the_field(body: dict[str, Any], named: str) -> None:
    with pytest.raises(InputError, match=named):
        parse_create(body)


def test_openapi_schema_is_self_contained() -> None:
    schema = request_body(CreateInteractionBody)["requestBody"]["content"]["application/json"]["schema"]
    assert "$defs" not in schema and "$ref" not in str(schema)
    assert "schema" in schema["properties"]["response_format"]["anyOf"][0]["oneOf"][0]["properties"]


FN = {"type": "function", "name": "lookup"}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({**AGENT, "tools": [{"type": "function", "name": "shell"}]}, "built-in"),
        ({**MODEL, "tools": [FN, FN]}, "more than once"),
        (
            {
                **MODEL,
                "tools": [FN],
                "generation_config": {"tool_choice": {"allowed_tools": {"tools": ["nope"]}}},
            },
            "nope",
        ),
    ],
)
def test_tools_that_would_fail_the_run_are_refused_at_create(body: dict[str, Any], named: str) -> None:
    with pytest.raises(InputError, match=named):
        parse_create(body)
