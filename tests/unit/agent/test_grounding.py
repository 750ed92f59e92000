"""Gemini's own tools (search, URL context) surface as steps from the turn's grounding metadata."""

from __future__ import annotations

import pytest

from runtime import steps as s
from runtime.agent.events import RunStatus
from runtime.agent.loop import AgentLoop, LoopConfig
from runtime.llm import ScriptedModel, turn
from runtime.sandbox.local import LocalSandbox
from runtime.tools.toolset import Toolset

GROUNDING = {
    "webSearchQueries": ["hangar agents", "gemini interactions api"],
    "searchEntryPoint": {"renderedContent": "<div>chips</div>"},
    "groundingChunks": [{"web": {"uri": "https://x.test", "title": "X"}}],
}
URL_CONTEXT = {
    "urlMetadata": [
        {"retrievedUrl": "https://a.test/", "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS"},
        {"retrievedUrl": "https://b.test/", "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_PAYWALL"},
    ]
}


def config(stream: bool) -> LoopConfig:
    toolset = Toolset.build((), google_search=True, url_context=True)
    return LoopConfig(model="gemini-test", system_instruction="x", toolset=toolset, stream=stream)


@pytest.mark.parametrize("stream", [True, False])
async def test_search_and_url_context_become_steps(box: LocalSandbox, stream: bool) -> None:
    """Before the answer when it is not streamed; after it when it streamed (the metadata comes
    with the last chunk, when the answer's step already has its index)."""
    model = ScriptedModel(
        [
            turn(
                "Cited answer.",
                grounding=GROUNDING,
                url_context=URL_CONTEXT,
                expect=lambda r: {"googleSearch": {}} in r["tools"] and {"urlContext": {}} in r["tools"],
            )
        ]
    )
    steps: list[s.Step] = [s.UserInputStep(content=[s.TextContent(text="search")])]
    result = await AgentLoop(model, box.client, config(stream)).run(steps)
    assert result.status is RunStatus.COMPLETED, result.reason
    model.assert_done()
    if stream:
        output, search_call, search_result, url_call, url_result = steps[1:]
    else:
        search_call, search_result, url_call, url_result, output = steps[1:]
    assert isinstance(search_call, s.GoogleSearchCallStep)
    assert search_call.arguments.queries == GROUNDING["webSearchQueries"]
    assert isinstance(search_result, s.GoogleSearchResultStep)
    assert search_result.call_id == search_call.id
    assert search_result.result[0].search_suggestions == "<div>chips</div>"
    assert isinstance(url_call, s.UrlContextCallStep)
    assert url_call.arguments.urls == ["https://a.test/", "https://b.test/"]
    assert isinstance(url_result, s.UrlContextResultStep)
    assert url_result.call_id == url_call.id
    assert [(i.url, i.status) for i in url_result.result] == [
        ("https://a.test/", "success"),
        ("https://b.test/", "paywall"),
    ]
    assert url_result.is_error is None
    assert isinstance(output, s.ModelOutputStep)
    assert len({st.id for st in (search_call, url_call)}) == 2


async def test_no_grounding_no_steps_and_all_failed_urls_is_an_error(box: LocalSandbox) -> None:
    failed = {
        "urlMetadata": [
            {"retrievedUrl": "https://gone.test/", "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_ERROR"}
        ]
    }
    model = ScriptedModel([turn("plain"), turn("could not read it", url_context=failed)])
    steps: list[s.Step] = [s.UserInputStep(content=[s.TextContent(text="hi")])]
    loop = AgentLoop(model, box.client, config(True))
    await loop.run(steps)
    assert [st.type for st in steps] == ["user_input", "model_output"]
    steps.append(s.UserInputStep(content=[s.TextContent(text="read https://gone.test/")]))
    await loop.run(steps)
    url_result = steps[-1]  # streamed: the answer first, then what Gemini fetched
    assert isinstance(url_result, s.UrlContextResultStep)
    assert url_result.is_error is True
    assert url_result.result[0].status == "error"
    model.assert_done()


def test_maps_places_become_maps_steps() -> None:
    from google.genai import types

    from runtime.agent.grounding import grounding_steps
    from runtime.llm.base import ModelTurn

    grounding = types.GroundingMetadata(
        grounding_chunks=[
            types.GroundingChunk(maps=types.GroundingChunkMaps(title="Café", place_id="places/1", uri="https://m/1")),
            types.GroundingChunk(web=types.GroundingChunkWeb(uri="https://w", title="W")),
        ],
        google_maps_widget_context_token="tok",
    )
    def turn_with(g: types.GroundingMetadata) -> ModelTurn:
        return ModelTurn(parts=[], content=types.Content(role="model", parts=[]), grounding=g)

    steps = grounding_steps(turn_with(grounding), 7)
    assert [st.type for st in steps] == ["google_maps_call", "google_maps_result"]
    call, result = steps
    assert isinstance(call, s.GoogleMapsCallStep) and isinstance(result, s.GoogleMapsResultStep)
    assert result.call_id == call.id == "maps_7"
    [item] = result.result
    assert item.widget_context_token == "tok"
    assert [(p.name, p.place_id, p.url) for p in item.places or []] == [("Café", "places/1", "https://m/1")]
    assert grounding_steps(turn_with(types.GroundingMetadata()), 0) == []
