"""Request dependencies: the services and the calling project."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from runtime.service import InteractionService, Services


def services(request: Request) -> Services:
    value: Services = request.app.state.services
    return value


def interactions(request: Request) -> InteractionService:
    return services(request).interactions


def api_key(request: Request) -> str | None:
    """``x-goog-api-key``, else ``Authorization: Bearer``, else the ``key`` query parameter."""
    key = request.headers.get("x-goog-api-key")
    if key:
        return key.strip()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.query_params.get("key")


async def project(request: Request) -> str:
    """The calling project. Raises ``Unauthenticated`` (401)."""
    return await services(request).keys.authenticate(api_key(request))


Project = Annotated[str, Depends(project)]
Interactions = Annotated[InteractionService, Depends(interactions)]
