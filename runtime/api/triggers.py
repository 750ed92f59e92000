"""``/{v}/triggers`` routes (spec §9): cron-scheduled agent runs and their executions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from runtime.api.body import json_object
from runtime.api.deps import Project, services
from runtime.api.openapi import request_body
from runtime.service.triggers import TriggerCreate, TriggerService, TriggerUpdate

router = APIRouter()


def _service(request: Request) -> TriggerService:
    return services(request).triggers


Triggers = Annotated[TriggerService, Depends(_service)]
PageSize = Annotated[int | None, Query(ge=0, le=100_000)]
PageToken = Annotated[str | None, Query(max_length=100)]


def _json(model: BaseModel) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json", exclude_none=True))


@router.post("/triggers", openapi_extra=request_body(TriggerCreate))
async def create_trigger(request: Request, project: Project, service: Triggers) -> JSONResponse:
    return _json(await service.create(project, await json_object(request)))


@router.get("/triggers")
async def list_triggers(
    project: Project,
    service: Triggers,
    filter_: Annotated[str | None, Query(alias="filter", max_length=200)] = None,
    page_size: PageSize = None,
    page_token: PageToken = None,
) -> JSONResponse:
    return _json(await service.list(project, filter_, page_size, page_token))


@router.get("/triggers/{trigger_id}")
async def get_trigger(trigger_id: str, project: Project, service: Triggers) -> JSONResponse:
    return _json(await service.get(project, trigger_id))


@router.patch("/triggers/{trigger_id}", openapi_extra=request_body(TriggerUpdate))
async def update_trigger(
    request: Request, trigger_id: str, project: Project, service: Triggers
) -> JSONResponse:
    return _json(await service.update(project, trigger_id, await json_object(request)))


@router.delete("/triggers/{trigger_id}")
async def delete_trigger(trigger_id: str, project: Project, service: Triggers) -> JSONResponse:
    await service.delete(project, trigger_id)
    return JSONResponse({})


@router.post("/triggers/{trigger_id}/executions")
async def run_trigger(trigger_id: str, project: Project, service: Triggers) -> JSONResponse:
    return _json(await service.run(project, trigger_id))


@router.get("/triggers/{trigger_id}/executions")
async def list_executions(
    trigger_id: str,
    project: Project,
    service: Triggers,
    page_size: PageSize = None,
    page_token: PageToken = None,
) -> JSONResponse:
    return _json(await service.executions(project, trigger_id, page_size, page_token))
