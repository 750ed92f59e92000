"""The FastAPI app factory. The lifespan opens the services (store, migrations, worker)."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Mapping

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from runtime import web
from runtime.api import agents, credentials, environments, interactions, triggers, webhooks
from runtime.api.errors import error_response, install_error_handlers
from runtime.api.middleware import BodyLimit, PathPrefix, RequestMetrics, remember_route
from runtime.config import Settings
from runtime.outbound import OutboundGuard
from runtime.service import ModelClient, Runner, open_services

API_VERSIONS = ("v1", "v1beta", "v1alpha")


def create_app(
    settings: Settings | None = None,
    *,
    model_client: ModelClient | None = None,
    runners: Mapping[str, Runner] | None = None,
    outbound: OutboundGuard | None = None,
) -> FastAPI:
    """Build the app. Nothing is opened until the lifespan starts.

    ``model_client`` replaces the Gemini client built from the settings; ``runners`` registers
    runners by interaction kind (``{"agent": ...}``); ``outbound`` replaces the guard of
    tenant-chosen URLs built from the settings (tests give one a resolver of their own)."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(
            settings, model_client=model_client, runners=runners, outbound=outbound
        ) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="Hangar",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(remember_route)],
    )
    app.state.settings = settings
    install_error_handlers(app)
    for version in API_VERSIONS:
        app.include_router(interactions.router, prefix=f"/{version}")
        app.include_router(webhooks.router, prefix=f"/{version}")
        app.include_router(triggers.router, prefix=f"/{version}")
        app.include_router(agents.router, prefix=f"/{version}")
        app.include_router(environments.router, prefix=f"/{version}")
        app.include_router(environments.upload_router, prefix=f"/upload/{version}")
        app.include_router(credentials.router, prefix=f"/{version}")
    app.include_router(web.router)  # the run viewer at /viewer and the console at /console (public API only)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        """Liveness: the process answers."""
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: the database answers and the worker claims work."""
        services = getattr(request.app.state, "services", None)
        problems = []
        if services is None:
            problems.append("starting")
        else:
            try:
                await services.store.ping()
            except Exception as e:  # any failure means not ready; the reason goes to the caller
                problems.append(f"database: {e}")
            if not services.worker_running():
                problems.append("worker is not running")
        status = 503 if problems else 200
        return JSONResponse({"status": "not ready" if problems else "ok", "problems": problems}, status)

    @app.get("/.well-known/jwks.json", include_in_schema=False)
    async def jwks(request: Request) -> JSONResponse:
        """Public keys verifying the JWTs of per-request webhook deliveries (no key needed)."""
        return JSONResponse(request.app.state.services.signer.jwks())

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        """Prometheus metrics, for the operator only: they count every project's requests."""
        if settings.metrics_token is None:
            return error_response(404, "not_found", "metrics are off (HANGAR_METRICS_TOKEN is unset)")
        if not _bearer_matches(request, settings.metrics_token.get_secret_value()):
            return error_response(401, "unauthenticated", "/metrics needs Authorization: Bearer <token>")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodyLimit, limit=settings.max_request_bytes, upload_limit=settings.max_upload_bytes)
    app.add_middleware(RequestMetrics)
    if settings.path_prefix:
        app.add_middleware(PathPrefix, prefix=settings.path_prefix)
    return app


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
