"""The run viewer (``/viewer``: HTML, one script, one stylesheet) and the web console (``/console``:
HTML, plain ES modules and a stylesheet from ``console/``, no build step).

The page talks to the public API only, with the caller's API key; these routes are unauthenticated
because they serve nothing but the page itself. Strict headers keep the page self-contained: no
inline script, no outside origin, images only from ``data:`` URLs.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response

STATIC = Path(__file__).parent / "static"
CONSOLE = Path(__file__).parent / "console"
_CONSOLE_ASSETS = {
    path.name: "text/javascript" if path.suffix == ".js" else "text/css"
    for path in sorted(CONSOLE.iterdir()) if path.suffix in (".js", ".css")
}
"""The console's files, listed once at import: a request only ever picks one of these names."""

_ASSETS = {"viewer.js": "text/javascript", "viewer.css": "text/css"}

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}

CONSOLE_HEADERS = {
    **SECURITY_HEADERS,
    "content-security-policy": SECURITY_HEADERS["content-security-policy"].replace(
        "img-src 'self' data:;", "img-src 'self' data: blob:;"
    ),
}
"""The viewer's headers, plus ``blob:`` images: the console previews workspace images it fetched
with the key in a header, from ``blob:`` URLs of its own."""

router = APIRouter(include_in_schema=False)


@router.get("/viewer")
async def viewer_root() -> Response:
    """Redirects to ``/viewer/`` (relative, so a deployment path prefix is kept; browsers keep the
    ``#interaction`` fragment across the redirect) so the page's relative asset URLs resolve."""
    return RedirectResponse("viewer/", status_code=307)


@router.get("/viewer/")
async def viewer_page() -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=SECURITY_HEADERS)


@router.get("/viewer/{asset}")
async def viewer_asset(asset: str) -> Response:
    """One of the page's two assets; anything else is a 404 (no path is built from the request)."""
    media_type = _ASSETS.get(asset)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no viewer asset {asset!r}")
    return FileResponse(STATIC / asset, media_type=media_type, headers=SECURITY_HEADERS)


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
