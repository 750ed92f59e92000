"""``/{v}/webhooks`` routes (spec §10). Custom methods use Google's colon form
(``/webhooks/{id}:ping``); those routes are declared before ``/webhooks/{id}`` so they match first.

Bodies are read by the handlers, after the caller is authenticated: a body parameter would make
FastAPI read and parse the body before any dependency, the key check included."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from runtime.api.body import json_model
from runtime.api.deps import Project, services
from runtime.api.openapi import request_body
from runtime.service.webhooks import (
    RotateSigningSecretRequest,
    WebhookInput,
    WebhookService,
    WebhookUpdate,
)

router = APIRouter()


def _service(request: Request) -> WebhookService:
    return services(request).webhooks


Webhooks = Annotated[WebhookService, Depends(_service)]


def _json(model: BaseModel) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json", exclude_none=True))


@router.post("/webhooks/{webhook_id}:ping")
async def ping_webhook(webhook_id: str, project: Project, service: Webhooks) -> JSONResponse:
    await service.ping(project, webhook_id)
    return JSONResponse({})


@router.post(
    "/webhooks/{webhook_id}:rotateSigningSecret",
    openapi_extra=request_body(RotateSigningSecretRequest, required=False),
)
async def rotate_signing_secret(
    request: Request, webhook_id: str, project: Project, service: Webhooks
) -> JSONResponse:
    body = await json_model(request, RotateSigningSecretRequest, empty_ok=True)
    behavior = body.revocation_behavior
    return JSONResponse({"secret": await service.rotate_signing_secret(project, webhook_id, behavior)})


@router.post("/webhooks", openapi_extra=request_body(WebhookInput))
async def create_webhook(request: Request, project: Project, service: Webhooks) -> JSONResponse:
    return _json(await service.create(project, await json_model(request, WebhookInput)))


@router.get("/webhooks")
async def list_webhooks(
    project: Project,
    service: Webhooks,
    page_size: Annotated[int | None, Query(ge=0)] = None,
    page_token: Annotated[str | None, Query(max_length=32)] = None,
) -> JSONResponse:
    return _json(await service.list(project, page_size, page_token))


@router.get("/webhooks/{webhook_id}")
async def get_webhook(webhook_id: str, project: Project, service: Webhooks) -> JSONResponse:
    return _json(await service.get(project, webhook_id))


@router.patch("/webhooks/{webhook_id}", openapi_extra=request_body(WebhookUpdate))
async def update_webhook(
    request: Request,
    webhook_id: str,
    project: Project,
    service: Webhooks,
    update_mask: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    body = await json_model(request, WebhookUpdate)
    return _json(await service.update(project, webhook_id, body, update_mask))


@router.delete("/webhooks/{webhook_id}")
async def delete_webhook(webhook_id: str, project: Project, service: Webhooks) -> JSONResponse:
    await service.delete(project, webhook_id)
    return JSONResponse({})
