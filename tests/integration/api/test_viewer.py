"""Links to the old run viewer (``/viewer#<id>``, ``/viewer/#<id>``, ``/viewer``) in a real headless
Chromium against a real Hangar server: each lands on the console's page for that run, which follows
the run live (agent runs in real Docker boxes with the scripted fake Gemini)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from api_harness import HangarServer
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from runtime.llm import call, turn

pytestmark = [pytest.mark.browser, pytest.mark.docker]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
WALKTHROUGH = call("update_artifact", artifact="walkthrough", content="# W", id="wt")
RUN_LIMIT_MS = 90_000
WAIT_FOR_GO = "until [ -f go.txt ]; do sleep 0.2; done; echo viewer-says-$((6*7))"
"""Runs until the test uploads ``go.txt``: the run is still going when the page opens it."""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


async def old_link(browser: Browser, hangar: HangarServer, link: str) -> tuple[Page, list[str]]:
    """A fresh page (own session storage) on an old viewer link; returns it and the URLs it requests."""
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("dialog", lambda dialog: pytest.fail(f"the page opened a dialog: {dialog.message}"))
    await page.goto(f"{hangar.url}{link}")
    return page, requested


async def enter_key(page: Page, key: str) -> None:
    await page.get_by_label("Key", exact=True).fill(key)
    await page.get_by_role("button", name="Use key").click()


def api(hangar: HangarServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=hangar.url, headers={"x-goog-api-key": hangar.dev_key})


async def create(hangar: HangarServer, body: dict[str, object]) -> str:
    async with api(hangar) as client:
        response = await client.post("/v1/interactions", json={"background": True, **body})
        response.raise_for_status()
        interaction_id: str = response.json()["id"]
        return interaction_id


async def let_go(hangar: HangarServer, run_id: str) -> None:
    """Uploads ``go.txt`` into the run's environment, which ends its ``WAIT_FOR_GO``."""
    async with api(hangar) as client:
        environment_id = (await client.get(f"/v1/interactions/{run_id}")).json()["environment_id"]
        target = f"/upload/v1/environments/{environment_id}/files/go.txt"
        response = await client.post(target, params={"uploadType": "media"}, content=b"go")
        assert response.status_code == 200, response.text


async def has_status(page: Page, status: str) -> None:
    await expect(page.locator("#run-status")).to_have_attribute("data-status", status, timeout=RUN_LIMIT_MS)


async def test_an_old_link_opens_the_running_run_on_the_console_and_follows_it(
    hangar: HangarServer, browser: Browser
) -> None:
    hangar.script.set(
        turn(thought="Wait, then write.", calls=[call("shell", command=WAIT_FOR_GO, id="s1")]),
        turn(calls=[WALKTHROUGH]),
        turn("## Done\n\nThe shell printed **viewer-says-42**:\n\n- ran `echo`\n- wrote the walkthrough"),
    )
    run_id = await create(hangar, {"agent": "antigravity", "input": "Say 42 from the shell"})
    page, requested = await old_link(browser, hangar, f"/viewer#{run_id}")
    await enter_key(page, hangar.dev_key)
    assert page.url == f"{hangar.url}/console/#/runs/{run_id}"
    await expect(page.locator("#run-title")).to_contain_text(run_id)
    code = page.locator(".step--code_execution_call pre")
    await expect(code).to_have_text(WAIT_FOR_GO, timeout=RUN_LIMIT_MS)
    await expect(page.locator("#run-status")).to_have_attribute("data-status", "in_progress")
    await let_go(hangar, run_id)  # the rest arrives over the stream the page holds open

    await has_status(page, "completed")
    # input, thought, code, output, tool call, tool result, answer
    await expect(page.locator("#steps > li")).to_have_count(7)
    await expect(page.locator(".step--code_execution_result pre")).to_contain_text("viewer-says-42")
    answer = page.locator(".step--model_output")
    await expect(answer.locator("h4")).to_have_text("Done")
    await expect(answer.locator("strong")).to_have_text("viewer-says-42")
    await expect(page.locator("#run-usage")).to_contain_text("Total tokens")
    assert any("stream=true" in url for url in requested), "the run page follows the SSE stream"
    assert all(hangar.dev_key not in url for url in requested), "the key must never be in a URL"
    assert [url for url in requested if not url.startswith(hangar.url)] == []
    assert not any("/viewer/" in url and url.endswith((".js", ".css")) for url in requested)
    await page.context.close()


async def test_an_old_link_resumes_from_the_last_event_after_a_drop(
    hangar: HangarServer, browser: Browser
) -> None:
    hangar.script.set(
        turn(calls=[call("shell", command="sleep 3 && echo resumed-ok", id="s1")]),
        turn(calls=[WALKTHROUGH]),
        turn("All good."),
    )
    streams: list[str] = []
    kept: list[str] = []
    resumed = asyncio.Event()

    async def drop_twice(route: Route) -> None:
        streams.append(route.request.url)
        if len(streams) == 1:  # the server closes after four events...
            response = await route.fetch()
            events = [frame for frame in (await response.text()).split("\n\n") if "data:" in frame]
            kept.extend(events[:4])
            await route.fulfill(response=response, body="\n\n".join(kept) + "\n\n")
        elif len(streams) == 2:  # ...then the network fails outright
            await route.abort("connectionreset")
        else:
            resumed.set()
            await route.continue_()

    run_id = await create(hangar, {"agent": "antigravity", "input": "echo"})
    page, _ = await old_link(browser, hangar, f"/viewer/#{run_id}")
    await page.route(re.compile(r".*/interactions/[^/?]+\?.*stream=true.*"), drop_twice)
    await enter_key(page, hangar.dev_key)
    await asyncio.wait_for(resumed.wait(), RUN_LIMIT_MS / 1000)
    await has_status(page, "completed")
    assert page.url == f"{hangar.url}/console/#/runs/{run_id}"
    await expect(page.locator("#steps > li")).to_have_count(6)
    await expect(page.locator(".step--code_execution_result pre")).to_contain_text("resumed-ok")
    await expect(page.locator(".step--model_output")).to_have_text(re.compile("All good"))
    last_kept = re.search(r"^id: (\d+)$", kept[-1], re.MULTILINE)
    assert last_kept is not None
    assert "last_event_id" not in streams[0]
    assert f"last_event_id={last_kept[1]}" in streams[1]
    assert f"last_event_id={last_kept[1]}" in streams[2]
    await page.context.close()


async def test_an_old_link_with_a_wrong_key_or_an_unknown_id_says_so(
    hangar: HangarServer, browser: Browser
) -> None:
    page, _ = await old_link(browser, hangar, "/viewer#int_no_such_run")
    await enter_key(page, "hk_wrong_key")
    await expect(page.get_by_role("alert")).to_contain_text("API key was not accepted (401)")
    await expect(page.get_by_label("Key", exact=True)).to_be_visible()  # asked again

    await enter_key(page, hangar.dev_key)
    assert page.url == f"{hangar.url}/console/#/runs/int_no_such_run"
    await expect(page.get_by_role("alert")).to_contain_text("Not found (404)")

    await page.goto(f"{hangar.url}/viewer")  # the bare page: the console's runs list, with an id box
    assert page.url == f"{hangar.url}/console/"
    await page.get_by_label("Run id").fill("int_also_missing")
    await page.get_by_role("button", name="Open", exact=True).click()
    await expect(page).to_have_url(f"{hangar.url}/console/#/runs/int_also_missing")
    await expect(page.get_by_role("alert")).to_contain_text("Not found (404)")
    await page.context.close()
