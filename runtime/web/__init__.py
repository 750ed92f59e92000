"""The web console (``/console``: HTML, plain ES modules and a stylesheet from ``console/``, no build
step), and ``/viewer``, the old single-run page's address, which now redirects to it.

The page talks to the public API only, with the caller's API key; these routes are unauthenticated
because they serve nothing but the page itself. Strict headers keep the page self-contained: no
inline script, no outside origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response

CONSOLE = Path(__file__).parent / "console"
_CONSOLE_ASSETS = {
    path.name: "text/javascript" if path.suffix == ".js" else "text/css"
    for path in sorted(CONSOLE.iterdir()) if path.suffix in (".js", ".css")
}
"""The console's files, listed once at import: a request only ever picks one of these names."""

CONSOLE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
"""Strict headers: the page's own scripts and styles only; images from ``data:`` URLs and from
``blob:`` URLs the console makes itself (workspace images it fetched with the key in a header)."""

router = APIRouter(include_in_schema=False)


@router.get("/viewer")
async def viewer_root() -> Response:
    """The old run viewer's address: redirects to the console. The Location is relative, so a
    deployment path prefix is kept, and carries no fragment, so the browser keeps the link's
    ``#<interaction id>``, which the console opens as that run's page (``#/runs/<id>``)."""
    return RedirectResponse("console/", status_code=307)


@router.get("/viewer/")
async def viewer_page() -> Response:
    """``/viewer/#<id>``, the form the viewer itself linked to: the same redirect, one level up."""
    return RedirectResponse("../console/", status_code=307)


@router.get("/console")
async def console_root() -> Response:
    """Redirects to ``/console/`` (relative, so a path prefix and the ``#/route`` fragment are kept)."""
    return RedirectResponse("console/", status_code=307)


@router.get("/console/")
async def console_page() -> Response:
    return FileResponse(CONSOLE / "index.html", media_type="text/html", headers=CONSOLE_HEADERS)


@router.get("/console/{asset}")
async def console_asset(asset: str) -> Response:
    """One of the console's modules or its stylesheet; anything else is a 404."""
    media_type = _CONSOLE_ASSETS.get(asset)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no console asset {asset!r}")
    return FileResponse(CONSOLE / asset, media_type=media_type, headers=CONSOLE_HEADERS)
