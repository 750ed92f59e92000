"""``/{v}/environments`` routes (spec §8): environments, their files, and resumable uploads.

Uploads follow Google's resumable protocol (§8.3): ``PUT /upload/{v}/environments/{env}/files/{path}``
with ``X-Goog-Upload-Command: start`` answers with the session URL in ``X-Goog-Upload-URL``; the
bytes are then ``POST``ed to it with ``X-Goog-Upload-Command: upload[, finalize]`` and
``X-Goog-Upload-Offset``. Every reply to a session carries ``X-Goog-Upload-Status`` (``active``,
``final``), errors included, since the SDK retries a reply without it.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from runtime.api.agents import PageSize, PageToken
from runtime.api.body import json_object
from runtime.api.deps import Project, services
from runtime.api.errors import error_response
from runtime.errors import HangarError, InputError
from runtime.service import EnvironmentFiles, EnvironmentService

router = APIRouter()
upload_router = APIRouter()

FINAL = {"x-goog-upload-status": "final"}


def environment_service(request: Request) -> EnvironmentService:
    return services(request).environments


def file_service(request: Request) -> EnvironmentFiles:
    return services(request).files


Environments = Annotated[EnvironmentService, Depends(environment_service)]
Files = Annotated[EnvironmentFiles, Depends(file_service)]


@router.post("/environments")
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
    if alt == "media":
        chunks = await files.download(project, environment_id, path)
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return StreamingResponse(chunks, media_type=mime)
    if alt not in (None, "json"):
        raise InputError("alt must be 'media' (download) or 'json'")
    page = await files.list(
        project, environment_id, path, recursive=recursive, page_size=page_size, page_token=page_token
    )
    return JSONResponse(page.model_dump(mode="json", exclude_none=True))


@upload_router.put("/environments/{environment_id}/files/{path:path}")
async def start_upload(
    request: Request,
    environment_id: str,
    path: str,
    project: Project,
    files: Files,
    overwrite: bool = False,
    extract: bool = False,
    x_goog_upload_command: Annotated[str, Header()] = "start",
    x_goog_upload_header_content_length: Annotated[int | None, Header(ge=0)] = None,
) -> Response:
    if x_goog_upload_command.strip().lower() != "start":
        raise InputError("X-Goog-Upload-Command must be 'start' on the session request")
    session = await files.start_upload(
        project,
        environment_id,
        path,
        overwrite=overwrite,
        extract=extract,
        size=x_goog_upload_header_content_length,
    )
    url = request.url.replace(query=f"upload_id={session}")
    headers = {"x-goog-upload-url": str(url), "x-goog-upload-status": "active"}
    return JSONResponse({}, headers=headers)


@upload_router.post("/environments/{environment_id}/files/{path:path}")
async def upload_bytes(
    request: Request,
    environment_id: str,
    upload_id: str,
    files: Files,
    x_goog_upload_command: Annotated[str, Header()] = "upload, finalize",
    x_goog_upload_offset: Annotated[int, Header(ge=0)] = 0,
) -> Response:
    """The session URL is the credential (as with Google's uploads): no API key is needed here."""
    commands = {c.strip().lower() for c in x_goog_upload_command.split(",")}
    try:
        if not commands <= {"upload", "finalize"}:
            raise InputError(f"unsupported X-Goog-Upload-Command: {x_goog_upload_command}")
        result = await files.upload_chunk(
            upload_id, environment_id, x_goog_upload_offset, request.stream(), finalize="finalize" in commands
        )
    except HangarError as e:
        response = error_response(e.http_status, e.code, e.message)
        response.headers.update(FINAL)
        return response
    if result is None:
        return JSONResponse({}, headers={"x-goog-upload-status": "active"})
    return JSONResponse(result.model_dump(mode="json", exclude_none=True), headers=FINAL)
