"""``/{v}/credentials`` routes (spec §11). Bodies are read after the caller is authenticated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from runtime.api.body import json_object
from runtime.api.deps import Project, services
from runtime.api.openapi import request_body
from runtime.service.credentials import CREATE_BODY, UPDATE_BODY, CredentialService

router = APIRouter()


def _service(request: Request) -> CredentialService:
    return services(request).credentials


Credentials = Annotated[CredentialService, Depends(_service)]


def _json(model: BaseModel) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json", exclude_none=True))


@router.post("/credentials", openapi_extra=request_body(CREATE_BODY))
async def create_credential(request: Request, project: Project, service: Credentials) -> JSONResponse:
    return _json(await service.create(project, await json_object(request)))


@router.get("/credentials")
async def list_credentials(
    project: Project,
    service: Credentials,
    page_size: Annotated[int | None, Query(ge=0)] = None,
    page_token: Annotated[str | None, Query(max_length=32)] = None,
) -> JSONResponse:
    return _json(await service.list(project, page_size, page_token))


@router.get("/credentials/{credential_id}")
async def get_credential(credential_id: str, project: Project, service: Credentials) -> JSONResponse:
    return _json(await service.get(project, credential_id))


@router.patch("/credentials/{credential_id}", openapi_extra=request_body(UPDATE_BODY))
async def update_credential(
    request: Request,
    credential_id: str,
    project: Project,
    service: Credentials,
    update_mask: Annotated[str | None, Query(max_length=500)] = None,
) -> JSONResponse:
    body = await json_object(request)
    return _json(await service.update(project, credential_id, body, update_mask))


@router.delete("/credentials/{credential_id}")
async def delete_credential(credential_id: str, project: Project, service: Credentials) -> JSONResponse:
    await service.delete(project, credential_id)
    return JSONResponse({})
