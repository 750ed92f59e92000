"""``/{v}/environments`` routes (spec §8): environments and their files (listing, downloads).
Uploads are in :mod:`runtime.api.environment_uploads`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from runtime.api.agents import PageSize, PageToken
from runtime.api.body import json_object
from runtime.api.deps import Project, services
from runtime.api.environment_uploads import Files, upload_router
from runtime.api.openapi import request_body
from runtime.errors import InputError, NotFound
from runtime.service import EnvironmentService
from runtime.service.environments import CreateEnvironment

router = APIRouter()
__all__ = ["router", "upload_router"]


def environment_service(request: Request) -> EnvironmentService:
    return services(request).environments


Environments = Annotated[EnvironmentService, Depends(environment_service)]


@router.post("/environments", openapi_extra=request_body(CreateEnvironment))
async def create_environment(request: Request, project: Project, service: Environments) -> JSONResponse:
    environment = await service.create(project, await json_object(request))
    return JSONResponse(environment.model_dump(mode="json", exclude_none=True))


@router.get("/environments")
async def list_environments(
    project: Project, service: Environments, page_size: PageSize = None, page_token: PageToken = None
) -> JSONResponse:
    page = await service.list(project, page_size, page_token)
    items = [e.model_dump(mode="json", exclude_none=True) for e in page.items]
    return JSONResponse({"environments": items, "next_page_token": page.next_page_token})


@router.get("/environments/{environment_id}")
async def get_environment(environment_id: str, project: Project, service: Environments) -> JSONResponse:
    environment = await service.get(project, environment_id)
    return JSONResponse(environment.model_dump(mode="json", exclude_none=True))


@router.delete("/environments/{environment_id}")
async def delete_environment(environment_id: str, project: Project, service: Environments) -> JSONResponse:
    await service.delete(project, environment_id)
    return JSONResponse({})


@router.get("/environments/{environment_id}/files")
@router.get("/environments/{environment_id}/files/{path:path}")
async def get_files(
    environment_id: str,
    project: Project,
    files: Files,
    path: str = "",
    alt: str | None = None,
    recursive: bool = False,
    page_size: PageSize = None,
    page_token: PageToken = None,
) -> Response:
    """A listing (``alt=json``, the default), or the bytes (``alt=media``): a file as it is, a
    directory as a POSIX tar of its tree."""
    if alt == "media":
        download = await files.download(project, environment_id, path)
        return StreamingResponse(download.chunks, media_type=download.media_type)
    if alt not in (None, "json"):
        raise InputError("alt must be 'media' (download) or 'json'")
    page = await files.list(
        project, environment_id, path, recursive=recursive, page_size=page_size, page_token=page_token
    )
    return JSONResponse(page.model_dump(mode="json", exclude_none=True))


@router.get("/files/{name}")
async def legacy_download(name: str, project: Project, files: Files, alt: str | None = None) -> Response:
    """``GET /{v}/files/environment-{id}:download?alt=media``: the older SDKs' download of a
    whole environment, as a POSIX tar of its workspace."""
    environment_id = name.removesuffix(":download").removeprefix("environment-")
    if not name.endswith(":download") or not name.startswith("environment-") or not environment_id:
        raise NotFound(f"no file {name!r}: only environment-{{id}}:download is served here")
    if alt not in (None, "media"):
        raise InputError("alt must be 'media'")
    download = await files.download(project, environment_id, "")
    return StreamingResponse(download.chunks, media_type=download.media_type)
