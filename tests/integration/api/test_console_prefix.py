"""The console behind ``HANGAR_PATH_PREFIX``: a real server of its own (uvicorn, loopback, the fake
Gemini) with the prefix set, driven by real Chromium. Every request the page makes keeps the prefix."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
from api_harness import DEV_KEY, Script
from playwright.async_api import Browser, async_playwright, expect

from runtime.api import create_app
from runtime.config import Settings
from runtime.llm import turn
from runtime.llm.fake_server import FakeGemini

pytestmark = [pytest.mark.browser]

PREFIX = "/tools/hangar"
MODEL = "gemini-3-flash-preview"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Script]]:
    """``http://127.0.0.1:PORT`` of a server whose settings carry the path prefix, and its script."""
    script = Script()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("hangar-prefix"), api_key=DEV_KEY, gemini_api_key="fake-gemini-key",
        poll_seconds=0.2, keepalive_seconds=0.5, path_prefix=PREFIX, port=port,
    )
    ready = threading.Event()
    holder: dict[str, uvicorn.Server] = {}

    async def main() -> None:
        async with FakeGemini(script.respond) as fake:
            app = create_app(settings.model_copy(update={"gemini_base_url": fake.base_url}))
            server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning"))
            holder["server"] = server
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no start-up event)
                await asyncio.sleep(0.01)
            ready.set()
            await task

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(20) and holder["server"].started, "Hangar did not start"
    yield f"http://127.0.0.1:{port}", script
    holder["server"].should_exit = True
    thread.join(20)
    sock.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


async def test_the_console_works_under_the_path_prefix(
    prefixed: tuple[str, Script], browser: Browser, tmp_path: Path
) -> None:
    origin, script = prefixed
    script.set(turn("Hello **under a prefix**."))
    async with httpx.AsyncClient(base_url=f"{origin}{PREFIX}", headers={"x-goog-api-key": DEV_KEY}) as client:
        created = await client.post("/v1/interactions", json={"model": MODEL, "input": "hi"})
        assert created.status_code == 200, created.text
        run_id = created.json()["id"]

    context = await browser.new_context()
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{origin}{PREFIX}/console")  # the redirect keeps the prefix
    assert page.url == f"{origin}{PREFIX}/console/"
    await page.get_by_label("Key", exact=True).fill(DEV_KEY)
    await page.get_by_role("button", name="Use key").click()
    await page.get_by_role("link", name=run_id).click()
    await expect(page.locator("#run-status")).to_have_attribute("data-status", "completed")
    await expect(page.locator(".step--model_output strong")).to_have_text("under a prefix")
    await page.screenshot(path=str(tmp_path / "console-prefix.png"), full_page=True)

    api_calls = [url for url in requested if re.search(r"/v1/", url)]
    assert api_calls and all(url.startswith(f"{origin}{PREFIX}/v1/") for url in api_calls), api_calls
    assert all(url.startswith(f"{origin}{PREFIX}/") for url in requested), requested
    assert all(DEV_KEY not in url for url in requested)
    await page.goto(f"{origin}{PREFIX}/viewer#{run_id}")  # an old viewer link: this run on the console
    assert page.url == f"{origin}{PREFIX}/console/#/runs/{run_id}"
    await expect(page.locator("#run-status")).to_have_attribute("data-status", "completed")
    await expect(page.locator(".step--model_output strong")).to_have_text("under a prefix")
    await page.goto(f"{origin}{PREFIX}/viewer/#{run_id}")
    assert page.url == f"{origin}{PREFIX}/console/#/runs/{run_id}"
    await expect(page.locator(".step--model_output strong")).to_have_text("under a prefix")
    await context.close()
