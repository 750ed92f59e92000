"""Gemini's own tools (Google Search, Google Maps, URL context) as steps.

They run on the model's side during a turn; the turn's grounding and URL context metadata say what
they did. The loop records them before the turn's text, as the calls happened before the answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.genai import types

from runtime import steps as s
from runtime.agents.wire import GoogleMapsTool
from runtime.llm.base import GoogleMapsSettings, ModelTurn

_URL_STATUS = {
    types.UrlRetrievalStatus.URL_RETRIEVAL_STATUS_SUCCESS: "success",
    types.UrlRetrievalStatus.URL_RETRIEVAL_STATUS_ERROR: "error",
    types.UrlRetrievalStatus.URL_RETRIEVAL_STATUS_PAYWALL: "paywall",
    types.UrlRetrievalStatus.URL_RETRIEVAL_STATUS_UNSAFE: "unsafe",
}


def maps_settings(tools: Sequence[object]) -> GoogleMapsSettings | None:
    """The Google Maps grounding a tool list asks for (its ``google_maps`` entry), else ``None``."""
    maps = next((t for t in tools if isinstance(t, GoogleMapsTool)), None)
    if maps is None:
        return None
    return GoogleMapsSettings(
        latitude=maps.latitude, longitude=maps.longitude, enable_widget=maps.enable_widget
    )


def grounding_steps(turn: ModelTurn, index: int) -> list[s.Step]:
    """``google_maps_call``/``_result``, ``google_search_call``/``_result`` and
    ``url_context_call``/``_result`` steps for what Gemini found, searched and fetched during
    ``turn`` (ids made unique by ``index``, the next step's index)."""
    out: list[s.Step] = []
    g = turn.grounding
    out += _maps_steps(g, index)
    if g is not None and g.web_search_queries:
        call_id = f"search_{index}"
        suggestions = g.search_entry_point.rendered_content if g.search_entry_point else None
        out += [
            s.GoogleSearchCallStep(
                id=call_id,
                arguments=s.GoogleSearchArguments(queries=g.web_search_queries),
                search_type="web_search",
            ),
            s.GoogleSearchResultStep(
                call_id=call_id, result=[s.GoogleSearchResultItem(search_suggestions=suggestions)]
            ),
        ]
    fetched = turn.url_context.url_metadata if turn.url_context is not None else None
    if fetched:
        call_id = f"url_context_{index}"
        items = [
            s.UrlContextResultItem(
                url=m.retrieved_url,
                status=_URL_STATUS.get(m.url_retrieval_status) if m.url_retrieval_status else None,
            )
            for m in fetched
        ]
        out += [
            s.UrlContextCallStep(
                id=call_id,
                arguments=s.UrlContextArguments(urls=[m.retrieved_url for m in fetched if m.retrieved_url]),
            ),
            s.UrlContextResultStep(
                call_id=call_id, result=items, is_error=all(i.status != "success" for i in items) or None
            ),
        ]
    return out


def _maps_steps(g: types.GroundingMetadata | None, index: int) -> list[s.Step]:
    """``google_maps_call``/``_result`` for the places Google Maps grounding found (its chunks)."""
    chunks = [c.maps for c in (g.grounding_chunks or []) if c.maps is not None] if g is not None else []
    token = g.google_maps_widget_context_token if g is not None else None
    if not chunks and not token:
        return []
    call_id = f"maps_{index}"
    places = [s.GoogleMapsPlace(name=m.title, place_id=m.place_id, url=m.uri) for m in chunks]
    return [
        s.GoogleMapsCallStep(id=call_id),
        s.GoogleMapsResultStep(
            call_id=call_id,
            result=[s.GoogleMapsResultItem(places=places or None, widget_context_token=token)],
        ),
    ]
