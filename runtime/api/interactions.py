"""``/{v}/interactions`` routes. They validate, call the service, and render; nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from runtime.api.body import json_object
from runtime.api.deps import Interactions, Project
from runtime.api.openapi import request_body
from runtime.api.sse import frames, sse_response
from runtime.errors import InputError
from runtime.request_models import CreateInteractionBody
from runtime.service.requests import parse_create
from runtime.service.wire import Interaction

router = APIRouter()


def _json(interaction: Interaction) -> JSONResponse:
    return JSONResponse(interaction.model_dump(mode="json", exclude_none=True))


@router.post("/interactions", openapi_extra=request_body(CreateInteractionBody))
async def create_interaction(
    request: Request,
    project: Project,
    service: Interactions,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    body = parse_create(await json_object(request))
    record = await service.create(project, body, idempotency_key)
    if body.stream:
        events = await service.follow(project, record.id)
        keepalive = request.app.state.settings.keepalive_seconds
        return sse_response(frames(events, keepalive, on_close=lambda: service.discard_later(record)))
    if not body.background:
        await service.wait(project, record.id)
    interaction = await service.get(project, record.id)
    service.discard_later(record)
    return _json(interaction)


@router.get("/interactions")
async def list_interactions(
    project: Project,
    service: Interactions,
    page_size: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    page_token: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    agent: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    """A Hangar extension (Google's API has no list): the project's interactions, newest first,
    paged, optionally filtered by ``status`` and ``agent``; items carry no steps."""
    page = await service.list(project, page_size, page_token, status=status or None, agent=agent or None)
    items = [i.model_dump(mode="json", exclude_none=True, exclude={"steps"}) for i in page.items]
    return JSONResponse({"interactions": items, "next_page_token": page.next_page_token})


@router.get("/interactions/{interaction_id}")
async def get_interaction(
    request: Request,
    interaction_id: str,
    project: Project,
    service: Interactions,
    stream: bool = False,
    include_input: bool = False,
    last_event_id: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    if not stream:
        return _json(await service.get(project, interaction_id, include_input=include_input))
    after = 0
    if last_event_id:
        if not last_event_id.isdigit():
            raise InputError("last_event_id must be an event_id received from this interaction's stream")
        after = int(last_event_id)
    events = await service.follow(project, interaction_id, after)
    return sse_response(frames(events, request.app.state.settings.keepalive_seconds))


@router.post("/interactions/{interaction_id}/cancel")
async def cancel_interaction(interaction_id: str, project: Project, service: Interactions) -> Response:
    return _json(await service.cancel(project, interaction_id))


@router.delete("/interactions/{interaction_id}")
async def delete_interaction(interaction_id: str, project: Project, service: Interactions) -> Response:
    await service.delete(project, interaction_id)
    return JSONResponse({})
