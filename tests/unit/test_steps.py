"""Steps: every type of spec §5 round-trips; unknown fields survive; bad input is an InputError."""

from __future__ import annotations

import typing
from typing import Any

import pytest

from runtime import steps as s
from runtime.errors import InputError

TEXT = {"type": "text", "text": "Paris is the capital [1].",
        "annotations": [{"type": "url_citation", "url": "https://fr.wikipedia.org", "title": "Paris",
                         "start_index": 0, "end_index": 24}]}
IMAGE = {"type": "image", "data": "iVBORw0KGgo=", "mime_type": "image/png", "resolution": "high"}

# One wire example per step type, written from the spec's field table (§5).
EXAMPLES: dict[str, dict[str, Any]] = {
    "user_input": {"type": "user_input", "content": [
        {"type": "text", "text": "Summarise this"},
        {"type": "document", "uri": "gs://b/report.pdf", "mime_type": "application/pdf"},
        {"type": "audio", "data": "UklGRg==", "mime_type": "audio/wav", "sample_rate": 16000, "channels": 1},
        {"type": "video", "uri": "https://youtu.be/x", "mime_type": "video/mp4", "name": "clip",
         "processing": {"type": "static", "fps": 1.0, "start_offset": "10.5s"}},
        IMAGE,
    ]},
    "model_output": {"type": "model_output", "content": [TEXT]},
    "thought": {"type": "thought", "signature": "c2ln", "summary": [{"type": "text", "text": "Plan"}, IMAGE]},
    "function_call": {"type": "function_call", "id": "call_1", "name": "get_weather",
                      "arguments": {"city": "Paris", "unit": None}},
    "function_result": {"type": "function_result", "call_id": "call_1", "result": {"temp_c": 21},
                        "name": "get_weather", "is_error": False},
    "code_execution_call": {"type": "code_execution_call", "id": "ce_1",
                            "arguments": {"code": "print(1)", "language": "python"}, "signature": "c2ln"},
    "code_execution_result": {"type": "code_execution_result", "call_id": "ce_1", "result": "1\n",
                              "is_error": False, "signature": "c2ln"},
    "google_search_call": {"type": "google_search_call", "id": "gs_1", "arguments": {"queries": ["hangar"]},
                           "search_type": "web_search", "signature": "c2ln"},
    "google_search_result": {"type": "google_search_result", "call_id": "gs_1",
                             "result": [{"search_suggestions": "<div>…</div>"}], "is_error": False},
    "url_context_call": {"type": "url_context_call", "id": "uc_1", "arguments": {"urls": ["https://a.example"]}},
    "url_context_result": {"type": "url_context_result", "call_id": "uc_1",
                           "result": [{"url": "https://a.example", "status": "paywall"}]},
    "google_maps_call": {"type": "google_maps_call", "id": "gm_1", "arguments": {"queries": ["cafés"]}},
    "google_maps_result": {"type": "google_maps_result", "call_id": "gm_1", "result": [
        {"places": [{"name": "Café", "place_id": "places/1", "url": "https://maps/1",
                     "review_snippets": [{"review_id": "r1", "title": "Good", "url": "https://r/1"}]}],
         "widget_context_token": "tok"}]},
    "file_search_call": {"type": "file_search_call", "id": "fs_1", "signature": "c2ln"},
    "file_search_result": {"type": "file_search_result", "call_id": "fs_1"},
    "retrieval_call": {"type": "retrieval_call", "id": "rt_1", "arguments": {"queries": ["q"]},
                       "retrieval_type": "rag_store"},
    "retrieval_result": {"type": "retrieval_result", "call_id": "rt_1", "is_error": True},
    "mcp_server_tool_call": {"type": "mcp_server_tool_call", "id": "m_1", "name": "search_issues",
                             "server_name": "github", "arguments": {"q": "bug"}},
    "mcp_server_tool_result": {"type": "mcp_server_tool_result", "call_id": "m_1",
                               "result": [{"type": "text", "text": "3 issues"}], "name": "search_issues",
                               "server_name": "github"},
    "tool_search_call": {
        "type": "tool_search_call", "id": "ts_1", "arguments": {"function_names": ["get_weather"]},
        "signature": "c2ln",
    },
    "tool_search_result": {
        "type": "tool_search_result", "call_id": "ts_1",
        "result": [{"type": "function", "name": "get_weather", "description": "Weather by city"}],
    },
    "processing_call": {"type": "processing_call", "id": "p_1"},
    "processing_result": {"type": "processing_result", "call_id": "p_1", "signature": "c2ln"},
}


def _union_tags() -> set[str]:
    union = typing.get_args(s.Step)[0]
    return {typing.get_args(cls.model_fields["type"].annotation)[0] for cls in typing.get_args(union)}


def test_examples_cover_every_step_type() -> None:
    assert set(EXAMPLES) == _union_tags()
    assert len(EXAMPLES) == 23


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_round_trip(kind: str) -> None:
    step = s.parse_step(EXAMPLES[kind])
    assert step.type == kind
    assert s.dump_step(step) == EXAMPLES[kind]
    assert s.parse_step(s.dump_step(step)) == step


def test_parse_steps_keeps_order_and_types() -> None:
    parsed = s.parse_steps(list(EXAMPLES.values()))
    assert [p.type for p in parsed] == list(EXAMPLES)
    assert s.dump_steps(parsed) == list(EXAMPLES.values())


def test_function_result_forms() -> None:
    as_text = s.parse_step({"type": "function_result", "call_id": "c", "result": "done"})
    blocks = [{"type": "text", "text": "x"}]
    as_content = s.parse_step({"type": "function_result", "call_id": "c", "result": blocks})
    as_object = s.parse_step({"type": "function_result", "call_id": "c", "result": {"ok": True}})
    assert isinstance(as_text, s.FunctionResultStep) and as_text.result == "done"
    assert isinstance(as_content, s.FunctionResultStep)
    assert isinstance(as_content.result, list) and isinstance(as_content.result[0], s.TextContent)
    assert isinstance(as_object, s.FunctionResultStep) and as_object.result == {"ok": True}


def test_unknown_fields_are_tolerated_and_kept() -> None:
    wire = {"type": "model_output", "future_field": {"x": 1},
            "content": [{"type": "text", "text": "hi", "new_flag": True,
                         "annotations": [{"type": "url_citation", "url": "u", "extra": 2}]}]}
    step = s.parse_step(wire)
    assert s.dump_step(step) == wire


def test_open_enums_accept_unknown_values() -> None:
    wire = {"type": "google_search_call", "id": "g", "arguments": {}, "search_type": "news_search"}
    step = s.parse_step(wire)
    assert isinstance(step, s.GoogleSearchCallStep) and step.search_type == "news_search"
    image = s.parse_step({"type": "user_input", "content": [{"type": "image", "mime_type": "image/avif"}]})
    assert s.dump_step(image)["content"][0]["mime_type"] == "image/avif"


def test_our_steps_dump_exactly_the_set_fields() -> None:
    call = s.FunctionCallStep(id="c1", name="f", arguments={})
    assert s.dump_step(call) == {"type": "function_call", "id": "c1", "name": "f", "arguments": {}}
    out = s.ModelOutputStep(content=[s.TextContent(text="hi")])
    assert s.dump_step(out) == {"type": "model_output", "content": [{"type": "text", "text": "hi"}]}
    failed = s.ModelOutputStep(error=s.Status(code=13, message="boom"))
    assert s.dump_step(failed) == {"type": "model_output", "error": {"code": 13, "message": "boom"}}


@pytest.mark.parametrize(
    ("wire", "needle"),
    [
        ({"type": "function_call", "id": "c"}, "steps[0].function_call.name: Field required"),
        ({"type": "not_a_step"}, "not_a_step"),
        ({"content": []}, "steps[0]"),
        ({"type": "model_output", "content": [{"type": "hologram"}]}, "hologram"),
    ],
)
def test_invalid_steps_raise_input_error(wire: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError) as info:
        s.parse_steps([wire])
    assert needle in info.value.message
