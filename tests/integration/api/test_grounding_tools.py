"""Gemini's own grounding tools (Google Search, URL context, Google Maps) for models and agents,
through the real google-genai client against a real server (scripted fake Gemini): the tools reach
Gemini as Gemini's tools, and what they did comes back as their documented steps."""

from __future__ import annotations

import time
from typing import Any

import pytest
from api_harness import HangarServer

from runtime.llm import turn
from runtime.llm.script import JsonDict

pytestmark = pytest.mark.docker

MODEL = "gemini-3-flash-preview"
GROUNDING = {
    "webSearchQueries": ["coffee near the station"],
    "groundingChunks": [
        {"maps": {"title": "Café Central", "placeId": "places/abc", "uri": "https://maps.google.com/?cid=1"}},
        {"web": {"title": "Guide", "uri": "https://guide.example/coffee"}},
    ],
    "googleMapsWidgetContextToken": "widget-token",
}
URL_CONTEXT = {"urlMetadata": [
    {"retrievedUrl": "https://guide.example/coffee", "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS"},
]}
TOOLS = [
    {"type": "google_search"},
    {"type": "url_context"},
    {"type": "google_maps", "latitude": 48.2, "longitude": 16.37, "enable_widget": True},
]


def grounded_turn() -> Any:
    return turn("Café Central is close.", grounding=GROUNDING, url_context=URL_CONTEXT)


def gemini_tools(request: JsonDict) -> dict[str, Any]:
    return {key: value for tool in request.get("tools", []) for key, value in tool.items()}


def check_steps(steps: list[Any]) -> None:
    kinds = [s.type for s in steps]
    for kind in ("google_maps_call", "google_maps_result", "google_search_call", "google_search_result",
                 "url_context_call", "url_context_result"):
        assert kind in kinds, kinds
    maps = next(s for s in steps if s.type == "google_maps_result")
    [item] = maps.result
    assert item.widget_context_token == "widget-token"
    assert [(p.name, p.place_id, p.url) for p in item.places] == [
        ("Café Central", "places/abc", "https://maps.google.com/?cid=1"),
    ]
    search = next(s for s in steps if s.type == "google_search_call")
    assert search.arguments.queries == ["coffee near the station"]
    fetched = next(s for s in steps if s.type == "url_context_result")
    assert fetched.result[0].url == "https://guide.example/coffee" and fetched.result[0].status == "success"


def check_request(request: JsonDict) -> None:
    tools = gemini_tools(request)
    assert "googleSearch" in tools and "urlContext" in tools
    assert tools["googleMaps"] == {"enableWidget": True}
    retrieval = request["toolConfig"]["retrievalConfig"]
    lat_lng = retrieval.get("latLng", retrieval.get("lat_lng"))  # the SDK sends the proto field name
    assert lat_lng == {"latitude": 48.2, "longitude": 16.37}


def test_model_interaction_grounds_with_search_url_context_and_maps(hangar: HangarServer) -> None:
    hangar.script.set(grounded_turn())
    client = hangar.client()  # kept: a client left to the garbage collector closes its connection
    done = client.interactions.create(model=MODEL, input="coffee?", tools=TOOLS)
    assert done.status == "completed", done
    check_request(hangar.script.requests[0])
    check_steps(done.steps)
    assert done.steps[-1].type == "model_output"


def test_agent_interaction_grounds_with_maps_too(hangar: HangarServer) -> None:
    hangar.script.set(grounded_turn())
    client = hangar.client()
    created = client.interactions.create(
        agent="deep-research-preview-04-2026", input="coffee?", tools=TOOLS, background=True
    )
    deadline = time.monotonic() + 120
    done = client.interactions.get(created.id)
    while done.status == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.2)
        done = client.interactions.get(created.id)
    assert done.status == "completed", done
    check_request(hangar.script.requests[0])
    check_steps(done.steps)
