"""The web routes on the real app: the console's page and assets, and the old viewer addresses
redirecting to it (relative Locations, so a path prefix and the link's fragment are kept)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runtime.api import create_app
from runtime.config import Settings
from runtime.llm import ScriptedModel, forever, turn


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path, api_key="hk_web", sandboxes=False, path_prefix="/hangar")
    app = create_app(settings, model_client=ScriptedModel(forever(turn("hi"))))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hangar") as c:
            yield c


@pytest.mark.parametrize("prefix", ["", "/hangar"])
@pytest.mark.parametrize(("path", "location"), [("/viewer", "console/"), ("/viewer/", "../console/")])
async def test_viewer_addresses_redirect_to_the_console(
    client: httpx.AsyncClient, prefix: str, path: str, location: str
) -> None:
    response = await client.get(f"{prefix}{path}", params={"x": "1"})
    assert response.status_code == 307
    assert response.headers["location"] == location
    resolved = httpx.URL(f"http://hangar{prefix}{path}").join(location)
    assert resolved.path == f"{prefix}/console/"


@pytest.mark.parametrize("asset", ["viewer.js", "viewer.css", "index.html"])
async def test_the_viewer_files_are_gone(client: httpx.AsyncClient, asset: str) -> None:
    assert (await client.get(f"/viewer/{asset}")).status_code == 404


async def test_the_console_and_its_modules_are_served_with_strict_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/hangar/console/")
    assert page.status_code == 200 and 'src="main.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    module = await client.get("/console/main.js")
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    assert "upgradeViewerLink" in module.text
