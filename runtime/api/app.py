"""The FastAPI app factory. The lifespan opens the services (store, migrations, worker)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from runtime.api import agents, environments, interactions, webhooks
from runtime.api.errors import install_error_handlers
from runtime.config import Settings
from runtime.llm.base import ModelClient
from runtime.service import open_services
from runtime.worker import Runner

API_VERSIONS = ("v1", "v1beta", "v1alpha")


def create_app(
    settings: Settings | None = None,
    *,
    model_client: ModelClient | None = None,
    runners: Mapping[str, Runner] | None = None,
) -> FastAPI:
    """Build the app. Nothing is opened until the lifespan starts.

    ``model_client`` replaces the Gemini client built from the settings; ``runners`` registers
    runners by interaction kind (``{"agent": ...}``)."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, model_client=model_client, runners=runners) as services:
            app.state.services = services
            yield

    app = FastAPI(title="Hangar", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    install_error_handlers(app)
    for version in API_VERSIONS:
        app.include_router(interactions.router, prefix=f"/{version}")
        app.include_router(webhooks.router, prefix=f"/{version}")
        app.include_router(agents.router, prefix=f"/{version}")
        app.include_router(environments.router, prefix=f"/{version}")
        app.include_router(environments.upload_router, prefix=f"/upload/{version}")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app
