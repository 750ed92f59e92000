"""``/{v}/agents`` routes (spec §7): the shipped agents and the project's own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from runtime.agents import AgentSpec
from runtime.api.body import json_object
from runtime.api.deps import Project, services
from runtime.api.openapi import request_body
from runtime.service import AgentService
from runtime.service.agents import AGENT_BODY_FIELDS

router = APIRouter()


def agent_service(request: Request) -> AgentService:
    return services(request).agents


Agents = Annotated[AgentService, Depends(agent_service)]
PageSize = Annotated[int | None, Query(ge=0, le=100_000)]
PageToken = Annotated[str | None, Query(max_length=100)]


@router.post("/agents", openapi_extra=request_body(AgentSpec, only=AGENT_BODY_FIELDS))
async def create_agent(request: Request, project: Project, service: Agents) -> JSONResponse:
    return JSONResponse(await service.create(project, await json_object(request)))


@router.get("/agents")
async def list_agents(
    project: Project,
    service: Agents,
    page_size: PageSize = None,
    page_token: PageToken = None,
    parent: str | None = None,
) -> JSONResponse:
    page = await service.list(project, page_size, page_token)
    return JSONResponse({"agents": page.items, "next_page_token": page.next_page_token})


@router.get("/agents/{agent_id}")
async def get_agent(agent_id: str, project: Project, service: Agents) -> JSONResponse:
    return JSONResponse(await service.get(project, agent_id))


@router.delete("/agents/{agent_id}")
async def delete_agent(agent_id: str, project: Project, service: Agents) -> JSONResponse:
    await service.delete(project, agent_id)
    return JSONResponse({})
