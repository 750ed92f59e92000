"""``/upload/{v}/environments/{env}/files/{path}``: file uploads, in the three ways Google's clients
send them.

- The SDK's resumable protocol (§8.3): ``PUT`` with ``X-Goog-Upload-Command: start`` answers with the
  session URL in ``X-Goog-Upload-URL``; the bytes are then ``POST``ed to it with
  ``X-Goog-Upload-Command: upload[, finalize]`` and ``X-Goog-Upload-Offset``. Every reply to a
  session carries ``X-Goog-Upload-Status`` (errors included: the SDK retries a reply without it).
- One shot: ``POST ...?uploadType=media`` with the file as the body.
- Google's REST resumable protocol: ``POST ...?uploadType=resumable`` answers with the session URL in
  ``Location``; the bytes are ``PUT`` there with ``Content-Range: bytes FIRST-LAST/TOTAL`` (``*`` for a
  total not known yet, ``bytes */TOTAL`` to ask how far it got); ``308`` with ``Range`` until the last
  byte, then ``200`` with the file's metadata.

Session URLs are built on the configured public URL (``HANGAR_PUBLIC_URL``), never on the caller's
``Host`` header. The session URL is the credential of the later requests (as with Google's
uploads): they need no API key.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from runtime.api.deps import project, services
from runtime.api.errors import error_response
from runtime.api.openapi import raw_body
from runtime.config import Settings
from runtime.errors import HangarError, InputError
from runtime.service import EnvironmentFiles, FilesPage

upload_router = APIRouter()

FINAL = {"x-goog-upload-status": "final"}
_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")


def file_service(request: Request) -> EnvironmentFiles:
    return services(request).files


Files = Annotated[EnvironmentFiles, Depends(file_service)]


def session_url(request: Request, session: str, **extra: str) -> str:
    """The request's own path on the server's public URL, with the session in the query."""
    settings: Settings = request.app.state.settings
    path, root = request.url.path, request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    query = "&".join(f"{k}={v}" for k, v in {"upload_id": session, **extra}.items())
    return f"{settings.resolved_public_url}{path}?{query}"


def _page(page: FilesPage, **headers: str) -> JSONResponse:
    return JSONResponse(page.model_dump(mode="json", exclude_none=True), headers=headers)


_PUT_BODY = raw_body("A Content-Range session's chunk (none on the SDK's session start).")
_POST_BODY = raw_body(
    "The file (uploadType=media), or a chunk of an SDK session (upload_id); none to start a "
    "Content-Range session (uploadType=resumable)."
)
UploadType = Annotated[
    Literal["media", "resumable"] | None,
    Query(alias="uploadType", description="media: the body is the file; resumable: start a session"),
]


@upload_router.put("/environments/{environment_id}/files/{path:path}", openapi_extra=_PUT_BODY)
async def put_upload(
    request: Request,
    environment_id: str,
    path: str,
    files: Files,
    upload_id: str | None = None,
    overwrite: bool = False,
    extract: bool = False,
    x_goog_upload_command: Annotated[str, Header()] = "start",
    x_goog_upload_header_content_length: Annotated[int | None, Header(ge=0)] = None,
    content_range: Annotated[str | None, Header()] = None,
) -> Response:
    """The SDK's session start, or (with ``upload_id``) a ``Content-Range`` chunk."""
    if upload_id is not None:
        return await _range_chunk(request, environment_id, upload_id, files, content_range)
    if x_goog_upload_command.strip().lower() != "start":
        raise InputError("X-Goog-Upload-Command must be 'start' on the session request")
    project_id = await project(request)
    session = await files.start_upload(
        project_id, environment_id, path, overwrite=overwrite, extract=extract,
        size=x_goog_upload_header_content_length,
    )
    headers = {"x-goog-upload-url": session_url(request, session), "x-goog-upload-status": "active"}
    return JSONResponse({}, headers=headers)


@upload_router.post("/environments/{environment_id}/files/{path:path}", openapi_extra=_POST_BODY)
async def post_upload(
    request: Request,
    environment_id: str,
    path: str,
    files: Files,
    upload_id: str | None = None,
    overwrite: bool = False,
    extract: bool = False,
    x_goog_upload_command: Annotated[str, Header()] = "upload, finalize",
    x_goog_upload_offset: Annotated[int, Header(ge=0)] = 0,
    x_upload_content_length: Annotated[int | None, Header(ge=0)] = None,
    content_length: Annotated[int | None, Header(ge=0)] = None,
    upload_type: UploadType = None,
) -> Response:
    """A chunk of an SDK session (with ``upload_id``), a one-shot upload (``uploadType=media``) or
    the start of a ``Content-Range`` session (``uploadType=resumable``)."""
    if upload_id is not None:
        return await _goog_chunk(request, environment_id, upload_id, files, x_goog_upload_command,
                                 x_goog_upload_offset)
    kind = upload_type
    if kind is None:
        raise InputError("uploadType must be 'media' (one shot) or 'resumable' (then PUT to the Location)")
    project_id = await project(request)
    size = x_upload_content_length if kind == "resumable" else content_length
    session = await files.start_upload(
        project_id, environment_id, path, overwrite=overwrite, extract=extract, size=size
    )
    if kind == "resumable":
        return JSONResponse({}, headers={"location": session_url(request, session, uploadType="resumable")})
    page = await files.upload_chunk(session, environment_id, 0, request.stream(), finalize=True)
    assert page is not None
    return _page(page)


async def _goog_chunk(
    request: Request, environment_id: str, session: str, files: EnvironmentFiles, command: str, offset: int
) -> Response:
    commands = {c.strip().lower() for c in command.split(",")}
    try:
        if not commands <= {"upload", "finalize"}:
            raise InputError(f"unsupported X-Goog-Upload-Command: {command}")
        result = await files.upload_chunk(
            session, environment_id, offset, request.stream(), finalize="finalize" in commands
        )
    except HangarError as e:
        response = error_response(e.http_status, e.code, e.message)
        response.headers.update(FINAL)
        return response
    if result is None:
        return JSONResponse({}, headers={"x-goog-upload-status": "active"})
    return _page(result, **FINAL)


async def _range_chunk(
    request: Request, environment_id: str, session: str, files: EnvironmentFiles, content_range: str | None
) -> Response:
    match = _RANGE.match((content_range or "").strip())
    if match is None:
        raise InputError(
            "Content-Range must be 'bytes FIRST-LAST/TOTAL' (TOTAL may be '*') or 'bytes */TOTAL'"
        )
    first, last, total = match.groups()
    received = await files.received(session, environment_id)
    if first is None:  # a status query
        return _incomplete(received)
    if int(first) != received:
        raise InputError(f"Content-Range starts at {first}, expected {received}")
    if int(last) < int(first):
        raise InputError("Content-Range ends before it starts")
    finalize = total != "*" and int(last) + 1 == int(total)
    page = await files.upload_chunk(
        session, environment_id, int(first), request.stream(), finalize=finalize, expect_end=int(last) + 1
    )
    if page is None:
        return _incomplete(await files.received(session, environment_id))
    return _page(page)


def _incomplete(received: int) -> Response:
    headers = {"range": f"bytes=0-{received - 1}"} if received else {}
    return Response(status_code=308, headers=headers)
